"""A 10 MiB upload over HTTP to the stack's real gunicorn `registro` grows its workers' memory by far less
than 10 MiB: the body is streamed to a spool on disk and from there to S3, never held whole in RAM."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import requests

from registro.domain import documents as docs
from tests.support import files
from tests.support.applications import path_of

pytestmark = pytest.mark.integration

MiB = 1024 * 1024
GROWTH_BOUND = 5 * MiB


def stack_dir() -> Path:
    return Path(os.environ["STACK_DIR"])


def gunicorn_workers() -> list[int]:
    master = int((stack_dir() / "pids" / "registro.pid").read_text().strip())
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    assert children, "gunicorn registro sin workers"
    return [int(pid) for pid in children]


def memory_of(pid: int) -> dict[str, int]:
    """VmRSS (resident now) and VmHWM (resident peak) of a process, in bytes."""
    status = Path(f"/proc/{pid}/status").read_text()
    return {key: int(re.search(rf"^{key}:\s+(\d+) kB", status, re.M).group(1)) * 1024 for key in ("VmRSS", "VmHWM")}


def post_document(base: str, link: str, kind: str, data: bytes, name: str) -> requests.Response:
    """One upload over a fresh connection, as a browser would send the page's form."""
    with requests.Session() as http:
        page = http.get(base + path_of(link), timeout=30)
        assert page.status_code == 200, page.text[:500]
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        return http.post(f"{base}{path_of(link)}/documentos/{kind}", data={"csrf_token": token},
                         files={"archivo": (name, data, "application/pdf")}, allow_redirects=False, timeout=120)


def test_a_10_mib_upload_keeps_the_service_memory_bounded(stack, gateway, applications):
    base = stack.registro_url
    workers = gunicorn_workers()
    account_id, link = applications(status="pendiente_documentos")
    # Warm every worker up (imports, pypdf, boto3 connection pools) with small uploads.
    for _ in range(4 * len(workers)):
        assert post_document(base, link, docs.CURP, files.pdf_bytes(padding=200 * 1024), "calentar.pdf").status_code == 303
    before = {pid: memory_of(pid) for pid in workers}

    big = files.pdf_of_size(10 * MiB)
    r = post_document(base, link, docs.RESPONSIVA, big, "grande.pdf")
    assert r.status_code == 303, r.text[:1000]
    after = {pid: memory_of(pid) for pid in workers}

    rss_growth = max(after[p]["VmRSS"] - before[p]["VmRSS"] for p in workers)
    peak_growth = max(after[p]["VmHWM"] - before[p]["VmHWM"] for p in workers)
    print(f"\ncrecimiento de memoria por una subida de 10 MiB: VmRSS {rss_growth / MiB:.2f} MiB, "
          f"pico VmHWM {peak_growth / MiB:.2f} MiB (workers {workers})")
    assert rss_growth < GROWTH_BOUND
    assert peak_growth < GROWTH_BOUND
    stored = gateway.get_account(account_id)
    assert '"size":10485760' in stored.attr("documentos")
