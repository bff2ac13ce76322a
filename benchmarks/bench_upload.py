"""Upload of a 10 MiB file through the served `registro` (gunicorn over HTTP) versus a direct boto3 put
of the same bytes to the same S3 server, and the workers' memory growth (`make bench`; prints with -s).

The service path includes everything an applicant's upload costs: link verification (Keycloak),
streaming the multipart body to a spool with SHA-256, the PDF parse, the S3 put, and the
Keycloak record update (plus deleting the replaced object from the second run on).
"""
from __future__ import annotations

import re
import statistics
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
    for _ in range(2 * len(workers)):  # warm every worker up with small uploads
        _post(base, link, files.pdf_bytes(padding=100 * 1024))
    s3 = boto3.client("s3", endpoint_url=settings.s3.endpoint_url, region_name=settings.s3.region,
                      aws_access_key_id=settings.s3.access_key, aws_secret_access_key=settings.s3.secret_key,
                      config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"))

    def direct(i: int) -> float:
        started = time.perf_counter()
        s3.put_object(Bucket=settings.s3.bucket, Key=f"bench/subida-{i}", Body=data, ContentType="application/pdf")
        elapsed = time.perf_counter() - started
        s3.delete_object(Bucket=settings.s3.bucket, Key=f"bench/subida-{i}")
        return elapsed

    before = {p: _rss(p) for p in workers}
    service, anchor = [], []
    for i in range(UPLOADS):  # interleaved: a busy neighbour slows both alike
        service.append(_post(base, link, data))
        anchor.append(direct(i))
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
