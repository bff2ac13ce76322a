"""Upload of a 10 MiB file versus putting the same bytes straight into the same S3 server, and the
workers' memory growth (`make bench`; prints with -s).

Two anchors, printed side by side for every figure: a boto3 `put_object` (botocore's defaults: it
hashes the payload for its signature) and a raw presigned PUT of the same bytes with `requests`
(nothing hashed, as the page's script sends it: ≈ 0.7 of the put's time on the development host). Each figure is measured in RUNS
interleaved runs (results_io: the service and both anchors in turn, the order rotating) and printed
as the median with the range, with the host's load.

Two paths of the service:

- as the activation page's script sends it (`test_bench_upload_10_mib_direct_to_s3_vs_boto3`): a
  presigned PUT from the service, the bytes straight to S3, the confirmation; the service checks the
  file as it reads it back and answers the confirmation with the outcome once the record points to it
  (documents/direct_uploads.py; a check past DIRECT_UPLOAD_WAIT_SECONDS is answered 202 and polled).
  Printed: the answer, and the time until the record points to the document (the same when answered 200);
- through the served `registro` as a form upload (the path without JavaScript), below.

The service path includes everything an applicant's upload costs: link verification, the read of
the application (registro's PostgreSQL; no Keycloak call), streaming the multipart body to a spool
with SHA-256, the PDF parse, the S3 put, and the record's update under its row lock (plus deleting
the replaced object from the second run on).

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
from registro.kernel.records import RecordedIdentity
from registro.platform.db import Database
from tests.support import files
from tests.support.applications import create_application, delete_application, path_of
from tests.support import stack as test_stack
from benchmarks.results_io import RUNS, LoadWatch, interleaved, ratio_figures, ratio_line, report, spread
from benchmarks.served import keycloak_requests

MiB = 1024 * 1024
ROUNDS = 7  # uploads of each kind per run
WARMUP = 40
PUT = "put de boto3"
PRESIGNED = "PUT prefirmado crudo"
ANCHORS = f"anclas: {PUT} y {PRESIGNED} de los mismos bytes al mismo S3"


def _service_identity() -> RecordedIdentity:
    """Applications as the service reads them: the record in its database, the account in Keycloak."""
    return RecordedIdentity(KeycloakGateway.for_service(KeycloakSettings.from_env()),
                            Database.shared(Settings.from_env().database_url))


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


class Anchors:
    """The two ways of putting the same bytes straight into the same S3 server, each timed alone (the
    presigned URL is made, and the object deleted, outside the clock)."""

    def __init__(self, s3, bucket: str, prefix: str) -> None:
        self.s3, self.bucket, self.prefix = s3, bucket, prefix
        self.http = requests.Session()  # kept alive, as a browser keeps its connection to S3
        self._n = 0

    def _key(self) -> str:
        self._n += 1
        return f"{self.prefix}-{self._n}"

    def put(self, data: bytes) -> float:
        key = self._key()
        started = time.perf_counter()
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType="application/pdf")
        elapsed = time.perf_counter() - started
        self.s3.delete_object(Bucket=self.bucket, Key=key)
        return elapsed

    def presigned(self, data: bytes) -> float:
        key = self._key()
        url = self.s3.generate_presigned_url("put_object", ExpiresIn=600, Params={
            "Bucket": self.bucket, "Key": key, "ContentLength": len(data), "ContentType": "application/pdf"})
        started = time.perf_counter()
        self.http.put(url, data=data, headers={"Content-Type": "application/pdf"}, timeout=120).raise_for_status()
        elapsed = time.perf_counter() - started
        self.s3.delete_object(Bucket=self.bucket, Key=key)
        return elapsed


def _against_both(label: str, project: list[float], put: list[float], presigned: list[float]) -> list[str]:
    return [ratio_line(f"{label} frente al {PUT}", project, put, PUT),
            ratio_line(f"{label} frente al {PRESIGNED}", project, presigned, PRESIGNED)]


def _runs(rounds: int, subjects: dict) -> dict[str, list[float]]:
    """RUNS interleaved runs: per subject, its median (ms) in each run."""
    runs = [interleaved(rounds, subjects) for _ in range(RUNS)]
    return {name: [1000 * statistics.median(run[name]) for run in runs] for name in subjects}


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
    gateway = _service_identity()
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
    anchors = Anchors(_anchor_client(settings), settings.s3.bucket, "bench/subida")
    anchors.put(data), anchors.presigned(data)  # connections opened, S3's first writes done

    before = {p: _rss(p) for p in workers}
    asked = keycloak_requests(base)
    _post(base, link, data)
    after_first = {p: _rss(p) for p in workers}
    with LoadWatch() as load:
        ms = _runs(ROUNDS, {"service": lambda: _post(base, link, data), "put": lambda: anchors.put(data),
                            "presigned": lambda: anchors.presigned(data)})
    after_all = {p: _rss(p) for p in workers}
    per_upload = (keycloak_requests(base) - asked) / (1 + RUNS * ROUNDS)

    uploads = 1 + RUNS * ROUNDS
    first = max(after_first[p]["VmRSS"] - before[p]["VmRSS"] for p in workers) / MiB
    flat = max(after_all[p]["VmRSS"] - after_first[p]["VmRSS"] for p in workers) / MiB
    hwm = max(after_all[p]["VmHWM"] - before[p]["VmHWM"] for p in workers) / MiB
    lines = [f"subida de 10 MiB por el formulario del servicio servido (gunicorn, HTTP; la vía sin JavaScript); "
             f"{ANCHORS}; medianas de {RUNS} corridas intercaladas de {ROUNDS}:",
             *_against_both("servicio", ms["service"], ms["put"], ms["presigned"]),
             f"  las anclas entre sí: {PRESIGNED} / {PUT} {spread([a / b for a, b in zip(ms['presigned'], ms['put'])], 2)}×",
             f"  memoria de los workers: VmRSS +{first:.2f} MiB tras la primera subida, {flat:+.2f} MiB de la "
             f"primera a la {uploads}.ª; pico VmHWM +{hwm:.2f} MiB",
             f"  peticiones de registro a Keycloak por subida (su /metrics): {per_upload:.2f} (meta 0)"]
    report("subida", {"anchors": [PUT, PRESIGNED], "runs": RUNS, "rounds": ROUNDS,
                      "keycloak_requests_per_upload": round(per_upload, 3),
                      "vs_put_ms": ratio_figures(ms["service"], ms["put"]),
                      "vs_presigned_ms": ratio_figures(ms["service"], ms["presigned"]),
                      "rss_first_mib": round(first, 2), "rss_first_to_last_mib": round(flat, 2),
                      "hwm_mib": round(hwm, 2)}, lines, load)


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
    if confirmed.status_code == 200:  # the check ended while the confirmation waited: its outcome is the answer
        assert confirmed.json()["resultado"] == "cargado", confirmed.text[:300]
        return answered, answered
    assert confirmed.status_code == 202, confirmed.text[:300]
    state = base + confirmed.json()["estado"]
    while (outcome := http.get(state, timeout=30).json()["estado"]) == "revisando":  # as the script polls it
        time.sleep(0.005)
    assert outcome == "cargado", outcome
    return answered, time.perf_counter() - started


def test_bench_upload_10_mib_direct_to_s3_vs_boto3(setup):
    """The upload as the page's script does it (browser → S3, checked after the answer) against both
    anchors, interleaved; plus the time until the check has recorded the document."""
    stack, settings, storage, link, stack_dir = setup
    base = stack.registro_url
    data = files.pdf_of_size(10 * MiB)
    anchors = Anchors(_anchor_client(settings), settings.s3.bucket, "bench/directa")
    http = requests.Session()
    small = files.pdf_bytes(padding=100 * 1024)
    gateway = _service_identity()
    # Presigned uploads are limited per application (DIRECT_UPLOAD_LIMITS, 30 per hour): the warm-up
    # (connections opened, Keycloak's read past its JIT warm-up, S3's first writes) and each run have
    # applications of their own.
    applications = []

    def application() -> tuple[str, dict[str, str]]:
        account_id, app_link = create_application(gateway, storage, settings, status="pendiente_documentos")
        applications.append(account_id)
        return app_link, _page_fields(base, app_link, http)

    try:
        for _ in range(2):
            warm_link, warm_fields = application()
            for _ in range(WARMUP // 2):
                _direct(base, warm_link, small, http, warm_fields)
        anchors.put(data), anchors.presigned(data)

        workers = _workers(stack_dir)
        before = {p: _rss(p) for p in workers}
        runs = []
        asked = keycloak_requests(base)  # the page's reads and the uploads of the timed runs
        with LoadWatch() as load:
            for _ in range(RUNS):
                run_link, run_fields = application()
                recorded: list[float] = []

                def direct() -> float:
                    answered, until_recorded = _direct(base, run_link, data, http, run_fields)
                    recorded.append(until_recorded)
                    return answered

                run = interleaved(ROUNDS, {"direct": direct, "put": lambda: anchors.put(data),
                                           "presigned": lambda: anchors.presigned(data)})
                runs.append({k: 1000 * statistics.median(v) for k, v in run.items()}
                            | {"recorded": 1000 * statistics.median(recorded)})
                if len(runs) == 1:
                    after_first = {p: _rss(p) for p in workers}
        after_all = {p: _rss(p) for p in workers}
        per_upload = (keycloak_requests(base) - asked) / (RUNS * ROUNDS)
    finally:
        for account_id in applications:
            delete_application(gateway, storage, account_id)
    ms = {k: [r[k] for r in runs] for k in runs[0]}
    flat = max(after_all[p]["VmRSS"] - after_first[p]["VmRSS"] for p in workers) / MiB
    hwm = max(after_all[p]["VmHWM"] - before[p]["VmHWM"] for p in workers) / MiB
    lines = [f"subida de 10 MiB del navegador directo a S3 (como subida.js); {ANCHORS}; medianas de {RUNS} corridas "
             f"intercaladas de {ROUNDS}:",
             *_against_both("respuesta (URL prefirmada + PUT a S3 + confirmación)", ms["direct"], ms["put"],
                            ms["presigned"]),
             *_against_both("hasta que el registro apunta al documento (revisión incluida)", ms["recorded"], ms["put"],
                            ms["presigned"]),
             f"  memoria de los workers (la revisión lee el objeto de S3): VmRSS {flat:+.2f} MiB de la primera corrida "
             f"a la última; pico VmHWM +{hwm:.2f} MiB",
             f"  peticiones de registro a Keycloak por subida, con la página que la pide (su /metrics): "
             f"{per_upload:.2f} (meta 0)"]
    report("subida-directa-servicio", {"anchors": [PUT, PRESIGNED], "runs": RUNS, "rounds": ROUNDS,
                                       "keycloak_requests_per_upload": round(per_upload, 3),
                                       "answered_vs_put_ms": ratio_figures(ms["direct"], ms["put"]),
                                       "answered_vs_presigned_ms": ratio_figures(ms["direct"], ms["presigned"]),
                                       "recorded_vs_put_ms": ratio_figures(ms["recorded"], ms["put"]),
                                       "recorded_vs_presigned_ms": ratio_figures(ms["recorded"], ms["presigned"]),
                                       "rss_first_to_last_mib": round(flat, 2), "hwm_mib": round(hwm, 2)}, lines, load)


def test_bench_upload_browser_to_s3_options(setup):
    """The other design the issue named, measured on the same S3 server against both anchors: the
    browser sending the file straight to S3 with a presigned POST (an HTML form). (The presigned PUT,
    with the exact size signed so S3 refuses any other, is the second anchor and the direct path's.)"""
    _, settings, _, _, _ = setup
    data = files.pdf_of_size(10 * MiB)
    s3 = _anchor_client(settings)
    anchors = Anchors(s3, settings.s3.bucket, "bench/navegador")
    bucket, key = settings.s3.bucket, "bench/navegador-post"
    post = s3.generate_presigned_post(bucket, key, Conditions=[["content-length-range", 1, 10 * MiB]], ExpiresIn=600)
    http = requests.Session()

    def form_post() -> None:
        http.post(post["url"], data=post["fields"], files={"file": ("grande.pdf", data, "application/pdf")},
                  timeout=120).raise_for_status()

    subjects = {"post": form_post, "put": lambda: anchors.put(data), "presigned": lambda: anchors.presigned(data)}
    interleaved(1, subjects)  # connections opened, S3's first writes done
    with LoadWatch() as load:
        ms = _runs(ROUNDS, subjects)
    s3.delete_object(Bucket=bucket, Key=key)
    lines = [f"el navegador directo a S3 (sin el servicio) con un POST prefirmado (formulario HTML); {ANCHORS}; "
             f"medianas de {RUNS} corridas intercaladas de {ROUNDS}:",
             *_against_both("POST prefirmado", ms["post"], ms["put"], ms["presigned"]),
             f"  las anclas entre sí: {PRESIGNED} / {PUT} {spread([a / b for a, b in zip(ms['presigned'], ms['put'])], 2)}×"]
    report("subida-directa", {"anchors": [PUT, PRESIGNED], "runs": RUNS, "rounds": ROUNDS,
                              "presigned_post_vs_put_ms": ratio_figures(ms["post"], ms["put"]),
                              "presigned_post_vs_presigned_put_ms": ratio_figures(ms["post"], ms["presigned"])},
           lines, load)


STEP_UPLOADS = 4  # per run
# (label, module or object path, attribute): the steps of one upload, in the order they begin.
STEPS = (
    ("leer la solicitud (PostgreSQL, en paralelo)", "registro.documents.views", "open_application"),
    ("recibir el cuerpo + SHA-256 al disco", "registro.documents.views", "read_upload_form"),
    ("tipo por los primeros bytes", "registro.domain.filetypes", "detect"),
    ("revisión de contenido (proceso aislado)", "registro.filecheck", "check_upload"),
    ("put a S3", "storage", "put"),
    ("bloquear y leer la solicitud, esperar put y revisión, escribir (PostgreSQL)", "registro.documents.service",
     "update_record"),
    ("borrar el objeto reemplazado", "registro.documents.service", "delete_quietly"),
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

    def upload() -> dict:
        page = client.get(path_of(link)).get_data(as_text=True)
        r = client.post(f"{path_of(link)}/documentos/{docs.RESPONSIVA}", content_type="multipart/form-data",
                        data={"csrf_token": csrf_token(page), "archivo": (io.BytesIO(data), "grande.pdf")})
        assert r.status_code == 303, r.get_data(as_text=True)[:500]
        return {"total": current["total"], **current["steps"]}

    upload()  # warms the fork server and the connections up
    with LoadWatch() as load:
        runs = [[upload() for _ in range(STEP_UPLOADS)] for _ in range(RUNS)]
    lines = [f"subida de 10 MiB dentro del proceso, por paso (sin ancla: dónde va el tiempo; mediana y rango de {RUNS} "
             f"corridas de {STEP_UPLOADS}; duración · termina a los):"]
    figures = {}
    for label, _, _ in STEPS:
        per_run = [[row[label] for row in rows if label in row] for rows in runs]
        if not all(per_run):
            continue
        durations = [statistics.median(d for d, _ in found) for found in per_run]
        ends = [statistics.median(e for _, e in found) for found in per_run]
        lines.append(f"  {label:44s} {spread(durations):>18s} ms · {spread(ends):>18s} ms")
        figures[label] = {"ms": [round(d, 2) for d in durations], "ends_ms": [round(e, 2) for e in ends]}
    totals = [statistics.median(row["total"] for row in rows) for rows in runs]
    lines.append(f"  {'total de la petición (sin HTTP)':44s} {spread(totals):>18s} ms")
    report("subida-pasos", {"runs": RUNS, "uploads_per_run": STEP_UPLOADS, "steps": figures,
                            "total_ms": [round(t, 2) for t in totals]}, lines, load)
