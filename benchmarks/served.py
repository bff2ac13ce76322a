"""A served `registro` for the benchmarks that compare it with Keycloak over HTTP: both sides then pay
their server (gunicorn, HTTP parsing, sessions, cookies), as an applicant's browser makes them.

It is a gunicorn of its own on a spare port (BENCH_REGISTRO_PORT, or one the OS picks) with the
stack's environment and its gunicorn settings (`registro.gunicorn_conf`: REGISTRO_WORKERS ×
REGISTRO_THREADS), plus the caller's changes (the per-address limits raised for the run): the stack's
own `registro` keeps its limits for the tests.

It delivers its email as every served registro does (`served_env`): from the outbox, by the worker thread of
each gunicorn worker. `make bench` runs the benchmarks through the test runner, whose environment says
OUTBOX_BACKGROUND=false (apps built inside pytest deliver in the caller's thread); inherited, it made the
benchmarked registro send each confirmation inside the registration's request, over a fresh SMTP
connection: a path no deployment takes.
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

from tests.support import metrics
from tests.support.ports import unused_port
from tools.stack.runner import probe
from tools.stack.services import REGISTRO_PROCESS_ENV

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Served:
    url: str
    pid: int  # gunicorn's master (its workers are its children)
    workers: str
    threads: str


def keycloak_requests(url: str) -> float:
    """The requests a served registro (every worker: multiprocess metrics) has made to Keycloak so far,
    whatever made them (pages, the token endpoint, background work), as its /metrics counts them."""
    answer = requests.get(f"{url}/metrics", timeout=30)
    answer.raise_for_status()
    return sum(metrics.keycloak_requests(answer.text).values())


def served_env(base: dict[str, str], port: int, **env_changes: str) -> dict[str, str]:
    """The environment of a served registro: the stack's, as tools.stack serves it (REGISTRO_PROCESS_ENV,
    the outbox delivered in the background, the config's default), with the caller's changes."""
    env = {**base, **REGISTRO_PROCESS_ENV, "OUTBOX_BACKGROUND": "true", **env_changes, "REGISTRO_PORT": str(port),
           "PYTHONPATH": f"{ROOT}:{ROOT / 'services'}"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # its own folder: the stack's registro keeps its own
    return env


def wait_until_served(proc: subprocess.Popen, url: str, timeout_s: float, what: str) -> None:
    """Polls `url` until it answers below 500 (tools.stack's probe) — the process we just started serves —
    or fails: the process ended, or `timeout_s` passed."""
    deadline = time.monotonic() + timeout_s
    while not probe(url):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{what} no arrancó (código {proc.poll()})")
        time.sleep(0.2)  # readiness poll of the process we just started


@contextmanager
def served_registro(**env_changes: str) -> Iterator[Served]:
    port = int(os.environ["BENCH_REGISTRO_PORT"]) if os.environ.get("BENCH_REGISTRO_PORT") else unused_port()
    env = served_env(dict(os.environ), port, **env_changes)
    proc = subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "-c", "python:registro.gunicorn_conf",
                             "--bind", f"127.0.0.1:{port}", "registro.wsgi:app"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_served(proc, f"{url}/salud", 60, "el registro de la medición")
        yield Served(url, proc.pid, os.environ.get("REGISTRO_WORKERS", "2"), os.environ.get("REGISTRO_THREADS", "8"))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
