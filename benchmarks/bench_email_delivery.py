"""No confirmation email lost under concurrent load (issue 24, item 2): BENCH_DELIVERY_N registrations
(default 2,000; the issue's goal is stated for 10,000) by BENCH_DELIVERY_CLIENTS clients (default 8)
against a served registro (benchmarks/served.py), each counted at the inbox — the mail catcher — not at
the outbox. Before the outbox moved to PostgreSQL, 8 of 7,240 registrations with 4–8 clients never got
their email (StorageUnavailable writing the S3 outbox). Prints registrations made, emails lost, the
rate, the run's duration and the load average.

Run alone: `make test PYTEST_ARGS="benchmarks/bench_email_delivery.py -o python_files='bench_*.py'
-o python_functions='bench_*' -p no:cacheprovider -s -q"` (`make bench` runs it with the others).
"""
from __future__ import annotations

import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from benchmarks.bench_registration import Inbox, _project_register
from benchmarks.served import served_registro
from tests.support.mailbox import Mailbox
from tests.support.stack import TestStack

N = int(os.environ.get("BENCH_DELIVERY_N", "2000"))
CLIENTS = int(os.environ.get("BENCH_DELIVERY_CLIENTS", "8"))
BATCH = 500  # counted and cleared from the inbox per batch, so each poll lists a short inbox


@pytest.fixture(scope="module")
def registro_server():
    with served_registro(REGISTRATION_LIMITS="1000000 per hour") as served:
        yield served


@pytest.mark.timeout(7200)  # 10,000 registrations take minutes; the suite's 300 s is for tests
def bench_no_confirmation_email_is_lost(registro_server):
    inbox = Inbox(Mailbox(TestStack.from_env().mail_api))
    run = uuid.uuid4().hex[:8]
    made = lost = refused = 0
    started = time.perf_counter()
    load_before = os.getloadavg()[0]

    def one(i: int) -> str | None:
        address = f"entrega-{run}-{i}@example.com"
        try:
            _project_register(registro_server.url, address)
        except AssertionError:
            return None  # refused (a random CURP/RFC drawn twice): not a registration, not counted
        return address

    with ThreadPoolExecutor(CLIENTS) as pool:
        for first in range(0, N, BATCH):
            addresses = [a for a in pool.map(one, range(first, min(N, first + BATCH))) if a]
            refused += min(N, first + BATCH) - first - len(addresses)
            made += len(addresses)
            lost += inbox.wait_for(addresses)[1]
            inbox.forget(addresses)
    elapsed = time.perf_counter() - started
    print(f"\ncorreos de confirmación con {CLIENTS} clientes, contados en la bandeja (maildump): "
          f"{made} registros, {lost} correos perdidos, {refused} rechazados (CURP/RFC repetidos al azar); "
          f"{made / elapsed:.1f} registros/s en {elapsed:.0f} s; carga media {load_before:.1f} → "
          f"{os.getloadavg()[0]:.1f}")
    assert made > 0
