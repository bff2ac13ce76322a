"""A served `registro` for the benchmarks that compare it with Keycloak over HTTP: both sides then pay
their server (gunicorn, HTTP parsing, sessions, cookies), as an applicant's browser makes them.

It is a gunicorn of its own on a spare port (BENCH_REGISTRO_PORT, or one the OS picks) with the
stack's environment and its gunicorn settings (`registro.gunicorn_conf`: REGISTRO_WORKERS ×
REGISTRO_THREADS), plus the caller's changes (the per-address limits raised for the run): the stack's
own `registro` keeps its limits for the tests.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import requests

from tests.support.ports import unused_port
from tools.stack.services import REGISTRO_PROCESS_ENV

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Served:
    url: str
    pid: int  # gunicorn's master (its workers are its children)
    workers: str
    threads: str


@contextmanager
def served_registro(**env_changes: str) -> Iterator[Served]:
    port = int(os.environ["BENCH_REGISTRO_PORT"]) if os.environ.get("BENCH_REGISTRO_PORT") else unused_port()
    env = {**os.environ, **REGISTRO_PROCESS_ENV, **env_changes, "REGISTRO_PORT": str(port),
           "PYTHONPATH": f"{ROOT}:{ROOT / 'services'}"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # its own folder: the stack's registro keeps its own
    proc = subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "-c", "python:registro.gunicorn_conf",
                             "--bind", f"127.0.0.1:{port}", "registro.wsgi:app"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{url}/salud", timeout=10).status_code < 500:
                    break
            except requests.RequestException:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"el registro de la medición no arrancó (código {proc.poll()})")
            time.sleep(0.2)  # readiness poll of the process we just started
        yield Served(url, proc.pid, os.environ.get("REGISTRO_WORKERS", "2"), os.environ.get("REGISTRO_THREADS", "8"))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
