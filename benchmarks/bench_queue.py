"""Queue page of the review console with 2,000 pending applications (issue 5).

Creates the applications through the gateway (not the UI), then times GET /revision/ in-process
against the real Keycloak and S3 of the test stack: cold (no cache: every page reads the whole
`en_revision` set from Keycloak) and warm (the few-seconds cache of workflow/review.py), plus a
filtered page. Run with `make bench`, or directly:
  PYTHONPATH=.:services .venv/bin/python benchmarks/bench_queue.py  (test stack env exported)
"""
from __future__ import annotations

import os
import statistics
import secrets
import time
from concurrent.futures import ThreadPoolExecutor

from keycloak_ext import KeycloakGateway
from registro import create_app
from registro.config import Settings
from registro.workflow.review import load_pending

PENDING = int(os.environ.get("BENCH_QUEUE_PENDING", "2000"))


def _create(gateway: KeycloakGateway, tag: str, n: int) -> str:
    return gateway.create_account(
        username=f"bench-cola-{tag}-{n}", email=f"bench-cola-{tag}-{n}@example.com", first_name="Ana",
        last_name="Pérez López", enabled=False, email_verified=True,
        attributes={"estatus": "en_revision", "folio": f"AU-2026-B{tag.upper()}{n:05d}",
                    "fecha_envio": f"2001-01-01T00:{n // 60 % 60:02d}:{n % 60:02d}+00:00",
                    "fecha_registro": "2001-01-01T00:00:00+00:00", "tipo_usuario": ("agente_aduanal", "transportista",
                                                                                   "mandatario")[n % 3],
                    "es_extranjero": "true" if n % 5 == 0 else "false"})


def _timed(client, path: str, runs: int = 5) -> list[float]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        r = client.get(path)
        times.append(time.perf_counter() - t0)
        assert r.status_code == 200, r.status_code
    return times


def _console(settings: Settings, cache_s: float):
    app = create_app({"SETTINGS": settings.with_changes(review_queue_cache_s=cache_s), "TESTING": True})
    client = app.test_client()
    with client.session_transaction() as s:  # the bench measures the queue, not the login
        s["revisor"] = {"id": "bench", "usuario": "bench", "nombre": "Bench", "desde": time.time()}
    return client


def bench_queue_page_with_2000_pending() -> None:
    settings = Settings.from_env()
    gateway = KeycloakGateway.for_service(settings.keycloak)
    tag = secrets.token_hex(3)
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = list(pool.map(lambda n: _create(gateway, tag, n), range(PENDING)))
    created_s = time.perf_counter() - t0
    try:
        t0 = time.perf_counter()
        pending = load_pending(gateway)
        load_s = time.perf_counter() - t0
        assert len(pending) >= PENDING
        cold = _console(settings, 0)
        warm = _console(settings, 30)
        revalidating = _console(settings, 0.001)  # every page finds the list expired: stale + background reload
        cold_first = _timed(cold, "/revision/")
        cold_filtered = _timed(cold, "/revision/?tipo=transportista&extranjero=si&pagina=3")
        warm_first = _timed(warm, "/revision/", runs=10)[1:]  # the first fills the cache
        stale = _timed(revalidating, "/revision/", runs=10)[1:]
        print(f"\n[bench_queue] {len(pending)} solicitudes en revisión (creadas en {created_s:.1f} s)")
        print(f"[bench_queue] lectura de la cola desde Keycloak (q=estatus:en_revision, páginas de 500): {load_s * 1000:.0f} ms")
        print(f"[bench_queue] GET /revision/ sin caché: mediana {statistics.median(cold_first) * 1000:.0f} ms, "
              f"máx {max(cold_first) * 1000:.0f} ms")
        print(f"[bench_queue] GET /revision/ filtrada, página 3, sin caché: mediana "
              f"{statistics.median(cold_filtered) * 1000:.0f} ms")
        print(f"[bench_queue] GET /revision/ con caché vigente: mediana {statistics.median(warm_first) * 1000:.1f} ms")
        print(f"[bench_queue] GET /revision/ con caché vencida (se sirve la lista anterior y se recarga en segundo "
              f"plano): mediana {statistics.median(stale) * 1000:.1f} ms, máx {max(stale) * 1000:.1f} ms")
    finally:
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(gateway.delete_account, ids))


if __name__ == "__main__":
    bench_queue_page_with_2000_pending()
