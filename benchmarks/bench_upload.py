"""Upload of a 10 MiB file versus a direct boto3 put of the same bytes to the same S3 server, and the
workers' memory growth (`make bench`; prints with -s). Two paths of the service:

- as the activation page's script sends it (`test_bench_upload_10_mib_direct_to_s3_vs_boto3`): a
  presigned PUT from the service, the bytes straight to S3, the confirmation; the service checks and
  records the file after answering (workflow/direct_uploads.py). Printed: the answer, and the time
  until the record points to the document;
- through the served `registro` as a form upload (the path without JavaScript), below.

The service path includes everything an applicant's upload costs: link verification (Keycloak),
streaming the multipart body to a spool with SHA-256, the PDF parse, the S3 put, and the
Keycloak record update (plus deleting the replaced object from the second run on).

A second, in-process run (`test_bench_upload_steps`: the same app and adapters, no HTTP) prints
where the time goes: each step's duration and when it ended after the request began. Steps
overlap (the read of the application with the body's reception; the S3 put, the content check
and the locked read of the record with each other), so durations do not add up to the total.
"""
from __future__ import annotations

import functools
import io
import re
import statistics
import threading
import time
from pathlib import Path

import boto3
import pytest
import requests
from botocore.config import Config

from keycloak_ext import KeycloakGateway, KeycloakSettings
from registro.adapters.storage import S3Store
from registro.config import Settings
from registro.domain import documents as docs
from tests.support import files
from tests.support.applications import create_application, delete_application, path_of
from tests.support import stack as test_stack
from benchmarks.results_io import pair_line, report, stats_ms

MiB = 1024 * 1024
UPLOADS = 20
WARMUP = 40


def _workers(stack_dir: Path) -> list[int]:
    master = int((stack_dir / "pids" / "registro.pid").read_text().strip())
    return [int(p) for p in Path(f"/proc/{master}/task/{master}/children").read_text().split()]


def _rss(pid: int) -> dict[str, int]:
    text = Path(f"/proc/{pid}/status").read_text()
    return {k: int(re.search(rf"^{k}:\s+(\d+) kB", text, re.M).group(1)) * 1024 for k in ("VmRSS", "VmHWM")}


def _post(base: str, link: str, data: bytes) -> float:
    with requests.Session() as http:
        page = http.get(base + path_of(link), timeout=30)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        started = time.perf_counter()
        r = http.post(f"{base}{path_of(link)}/documentos/{docs.RESPONSIVA}", data={"csrf_token": token},
                      files={"archivo": ("grande.pdf", data, "application/pdf")}, allow_redirects=False, timeout=120)
        elapsed = time.perf_counter() - started
    assert r.status_code == 303, r.text[:500]
    return elapsed


def _timed_anchor_put(s3, bucket: str, key: str, data: bytes) -> float:
    """The anchor: one boto3 put of `data` (timed), then its object deleted (not timed)."""
    started = time.perf_counter()
    s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType="application/pdf")
    elapsed = time.perf_counter() - started
    s3.delete_object(Bucket=bucket, Key=key)
    return elapsed


def _anchor_client(settings: Settings):
    """The anchor's boto3 client: botocore's defaults, as anyone would put a file."""
    return boto3.client("s3", endpoint_url=settings.s3.endpoint_url, region_name=settings.s3.region,
                        aws_access_key_id=settings.s3.access_key, aws_secret_access_key=settings.s3.secret_key,
                        config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"))


@pytest.fixture(scope="module")
def setup():
    import os

    stack = test_stack.TestStack.from_env()
    settings = Settings.from_env()
    gateway = KeycloakGateway.for_service(KeycloakSettings.from_env())
    storage = S3Store(settings.s3)
    account_id, link = create_application(gateway, storage, settings, status="pendiente_documentos")
    yield stack, settings, storage, link, Path(os.environ["STACK_DIR"])
    delete_application(gateway, storage, account_id)


def test_bench_upload_10_mib_service_vs_direct(setup):
    stack, settings, storage, link, stack_dir = setup
    base = stack.registro_url
    data = files.pdf_of_size(10 * MiB)
    workers = _workers(stack_dir)
    # Warm-up with small uploads: every worker reached, and Keycloak's read and write of the record past
    # its JIT warm-up (right after a stack starts, its first calls take 15–25 ms instead of ≈ 5).
    for _ in range(max(2 * len(workers), WARMUP)):
        _post(base, link, files.pdf_bytes(padding=100 * 1024))
    s3 = _anchor_client(settings)

    before = {p: _rss(p) for p in workers}
    service, anchor = [], []
    for i in range(UPLOADS):  # interleaved: a busy neighbour slows both alike
        service.append(_post(base, link, data))
        anchor.append(_timed_anchor_put(s3, settings.s3.bucket, f"bench/subida-{i}", data))
        if i == 0:
            after_first = {p: _rss(p) for p in workers}
    after_all = {p: _rss(p) for p in workers}

    svc, dr = statistics.median(service), statistics.median(anchor)
    first = max(after_first[p]["VmRSS"] - before[p]["VmRSS"] for p in workers) / MiB
    flat = max(after_all[p]["VmRSS"] - after_first[p]["VmRSS"] for p in workers) / MiB
    hwm = max(after_all[p]["VmHWM"] - before[p]["VmHWM"] for p in workers) / MiB
    lines = [f"subida de 10 MiB, n={UPLOADS} (mediana), intercalada:",
             pair_line("servicio (gunicorn, HTTP) frente a boto3 directo al mismo S3", svc * 1000, dr * 1000),
             f"  memoria de los workers: VmRSS +{first:.2f} MiB tras la primera subida, {flat:+.2f} MiB de la "
             f"primera a la {UPLOADS}.ª; pico VmHWM +{hwm:.2f} MiB"]
    report("subida", {"service": stats_ms(service), "direct": stats_ms(anchor), "ratio_p50": round(svc / dr, 3),
                      "rss_first_mib": round(first, 2), "rss_first_to_last_mib": round(flat, 2),
                      "hwm_mib": round(hwm, 2)}, lines)


def _page_fields(base: str, link: str, http: requests.Session) -> dict[str, str]:
    """The CSRF token and the responsiva form's grant, as the page's script sends them."""
    html = http.get(base + path_of(link), timeout=30).text
    return {"csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', html).group(1),
            "permiso": re.search(rf'id="permiso-{docs.RESPONSIVA}" value="([^"]+)"', html).group(1)}


def _direct(base: str, link: str, data: bytes, http: requests.Session, fields: dict[str, str]) -> tuple[float, float]:
    """The page's script (static/js/subida.js) sending a document straight to S3: the presigned PUT asked
    for, the bytes sent to S3, the confirmation answered (the first figure); then the check polled
    until the record points to the file (the second: what the applicant waits for before the page)."""
    page = f"{base}{path_of(link)}"
    started = time.perf_counter()
    issued = http.post(f"{page}/documentos/{docs.RESPONSIVA}/directa", timeout=30,
                       data={**fields, "tamano": str(len(data)), "nombre": "grande.pdf"})
    assert issued.status_code == 200, issued.text[:300]
    grant = issued.json()
    http.put(grant["url"], data=data, headers=grant["encabezados"], timeout=120).raise_for_status()
    confirmed = http.post(base + grant["confirmar"], data={"csrf_token": fields["csrf_token"], "recibo": grant["recibo"]},
                          timeout=30)
    answered = time.perf_counter() - started
    assert confirmed.status_code == 202, confirmed.text[:300]
    state = base + confirmed.json()["estado"]
    while (outcome := http.get(state, timeout=30).json()["estado"]) == "revisando":  # as the script polls it
        time.sleep(0.005)
    assert outcome == "cargado", outcome
    return answered, time.perf_counter() - started


def test_bench_upload_10_mib_direct_to_s3_vs_boto3(setup):
    """The upload as the page's script does it (browser → S3, checked after the answer) against a direct
    boto3 put of the same bytes to the same S3 server, interleaved; plus the time until the check has
    recorded the document, and the same bytes through the service's form upload (the path without
    JavaScript) for comparison."""
    stack, settings, storage, link, stack_dir = setup
    base = stack.registro_url
    data = files.pdf_of_size(10 * MiB)
    s3 = _anchor_client(settings)
    http = requests.Session()
    fields = _page_fields(base, link, http)
    small = files.pdf_bytes(padding=100 * 1024)
    # Connections opened, Keycloak's read past its JIT warm-up, S3's first writes: on applications of their
    # own, since presigned uploads are limited per application (DIRECT_UPLOAD_LIMITS, 30 per hour).
    gateway = KeycloakGateway.for_service(KeycloakSettings.from_env())
    for _ in range(2):
        account_id, warm_link = create_application(gateway, storage, settings, status="pendiente_documentos")
        warm_fields = _page_fields(base, warm_link, http)
        for _ in range(WARMUP // 2):
            _direct(base, warm_link, small, http, warm_fields)
        delete_application(gateway, storage, account_id)

    workers = _workers(stack_dir)
    before = {p: _rss(p) for p in workers}
    answered, recorded, anchor = [], [], []
    for i in range(UPLOADS):
        a, r = _direct(base, link, data, http, fields)
        answered.append(a)
        recorded.append(r)
        anchor.append(_timed_anchor_put(s3, settings.s3.bucket, f"bench/directa-{i}", data))
        if i == 0:
            after_first = {p: _rss(p) for p in workers}
    after_all = {p: _rss(p) for p in workers}
    ans, rec, dr = statistics.median(answered), statistics.median(recorded), statistics.median(anchor)
    flat = max(after_all[p]["VmRSS"] - after_first[p]["VmRSS"] for p in workers) / MiB
    hwm = max(after_all[p]["VmHWM"] - before[p]["VmHWM"] for p in workers) / MiB
    lines = [f"subida de 10 MiB del navegador directo a S3 (como subida.js), n={UPLOADS} (mediana), intercalada:",
             pair_line("respuesta (URL prefirmada + PUT a S3 + confirmación) frente a boto3 directo", ans * 1000,
                       dr * 1000),
             pair_line("hasta que el registro apunta al documento (revisión incluida)", rec * 1000, dr * 1000),
             f"  memoria de los workers (la revisión lee el objeto de S3): VmRSS {flat:+.2f} MiB de la primera a la "
             f"{UPLOADS}.ª; pico VmHWM +{hwm:.2f} MiB"]
    report("subida-directa-servicio", {"answered": stats_ms(answered), "recorded": stats_ms(recorded),
                                       "direct": stats_ms(anchor), "ratio_p50": round(ans / dr, 3),
                                       "recorded_ratio_p50": round(rec / dr, 3), "rss_first_to_last_mib": round(flat, 2),
                                       "hwm_mib": round(hwm, 2)}, lines)


def test_bench_upload_browser_to_s3_options(setup):
    """The other designs the issue names, measured on the same S3 server against the same boto3 put: the
    browser sending the file straight to S3 with a presigned POST (an HTML form) or a presigned PUT (fetch,
    with the exact size signed so S3 refuses any other). Either would leave the service a confirmation call
    (lock, record) and the content check, which would then read the object back: only with the check
    answered after the response could such a design approach the put's own time."""
    _, settings, _, _, _ = setup
    data = files.pdf_of_size(10 * MiB)
    s3 = _anchor_client(settings)
    bucket, key = settings.s3.bucket, "bench/navegador"
    post = s3.generate_presigned_post(bucket, key, Conditions=[["content-length-range", 1, 10 * MiB]], ExpiresIn=600)
    put_url = s3.generate_presigned_url("put_object", ExpiresIn=600, Params={
        "Bucket": bucket, "Key": key, "ContentLength": len(data), "ContentType": "application/pdf"})
    http = requests.Session()

    def timed(call) -> float:
        started = time.perf_counter()
        call()
        return time.perf_counter() - started

    def form_post() -> None:
        http.post(post["url"], data=post["fields"], files={"file": ("grande.pdf", data, "application/pdf")},
                  timeout=120).raise_for_status()

    def presigned_put() -> None:
        http.put(put_url, data=data, headers={"Content-Type": "application/pdf"}, timeout=120).raise_for_status()

    def direct() -> None:
        s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType="application/pdf")

    for call in (form_post, presigned_put, direct):  # connections opened, S3's first writes done
        call()
    posts, puts, anchor = [], [], []
    for _ in range(UPLOADS):
        posts.append(timed(form_post))
        puts.append(timed(presigned_put))
        anchor.append(timed(direct))
    s3.delete_object(Bucket=bucket, Key=key)
    a = statistics.median(anchor)
    lines = [f"el navegador directo a S3 (sin el servicio), n={UPLOADS} (mediana), intercalado:",
             pair_line("POST prefirmado (formulario)", statistics.median(posts) * 1000, a * 1000),
             pair_line("PUT prefirmado (tamaño firmado)", statistics.median(puts) * 1000, a * 1000)]
    report("subida-directa", {"presigned_post": stats_ms(posts), "presigned_put": stats_ms(puts),
                              "direct": stats_ms(anchor)}, lines)


STEP_UPLOADS = 8
# (label, module or object path, attribute): the steps of one upload, in the order they begin.
STEPS = (
    ("leer la solicitud (Keycloak, en paralelo)", "registro.web.activation", "open_application"),
    ("recibir el cuerpo + SHA-256 al disco", "registro.web.activation", "read_upload_form"),
    ("tipo por los primeros bytes", "registro.domain.filetypes", "detect"),
    ("revisión de contenido (proceso aislado)", "registro.domain.filetypes", "verify"),
    ("put a S3", "storage", "put"),
    ("tomar el bloqueo de edición", "registro.workflow.record_lock", "_acquire"),
    ("leer la cuenta bajo el bloqueo", "identity", "get_account"),
    ("escribir el registro (Keycloak)", "identity", "update_account"),
    ("soltar el bloqueo", "registro.workflow.record_lock", "_release"),
    ("borrar el objeto reemplazado", "registro.workflow.documents", "delete_quietly"),
)


def test_bench_upload_steps(setup, monkeypatch):
    """Per-step breakdown of the same upload in-process: duration and end (ms after the request began)."""
    import importlib

    from registro import create_app
    from tests.support.applications import csrf_token

    stack, settings, storage, link, stack_dir = setup
    app = create_app({"SETTINGS": settings})
    adapters = app.extensions["registro.adapters"]
    current: dict = {}
    lock = threading.Lock()

    def timed(label, func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                ended = time.perf_counter()
                with lock:  # the last call counts (the account is read twice: on opening, then under the lock)
                    if "t0" in current:
                        current["steps"][label] = ((ended - started) * 1000, (ended - current["t0"]) * 1000)
        return wrapper

    for label, where, name in STEPS:
        target = getattr(adapters, where) if where in ("storage", "identity") else importlib.import_module(where)
        monkeypatch.setattr(target, name, timed(label, getattr(target, name)))
    inner = app.wsgi_app

    def measured(environ, start_response):
        if environ["REQUEST_METHOD"] != "POST":
            return inner(environ, start_response)
        with lock:
            current.update(t0=time.perf_counter(), steps={})
        try:
            return list(inner(environ, start_response))
        finally:
            current["total"] = (time.perf_counter() - current["t0"]) * 1000

    app.wsgi_app = measured
    data = files.pdf_of_size(10 * MiB)
    client = app.test_client()
    rows: list[dict] = []
    for i in range(STEP_UPLOADS + 1):
        page = client.get(path_of(link)).get_data(as_text=True)
        r = client.post(f"{path_of(link)}/documentos/{docs.RESPONSIVA}", content_type="multipart/form-data",
                        data={"csrf_token": csrf_token(page), "archivo": (io.BytesIO(data), "grande.pdf")})
        assert r.status_code == 303, r.get_data(as_text=True)[:500]
        if i:  # the first one warms the fork server and the connections up
            rows.append({"total": current["total"], **current["steps"]})
    lines = [f"subida de 10 MiB dentro del proceso, por paso (n={STEP_UPLOADS}, mediana; duración · termina a los):"]
    figures = {}
    for label, _, _ in STEPS:
        found = [row[label] for row in rows if label in row]
        if not found:
            continue
        duration = statistics.median(d for d, _ in found)
        end = statistics.median(e for _, e in found)
        lines.append(f"  {label:44s} {duration:6.1f} ms · {end:6.1f} ms")
        figures[label] = {"ms": round(duration, 2), "ends_ms": round(end, 2)}
    total = statistics.median(row["total"] for row in rows)
    lines.append(f"  {'total de la petición (sin HTTP)':44s} {total:6.1f} ms")
    report("subida-pasos", {"steps": figures, "total_ms": round(total, 2)}, lines)
