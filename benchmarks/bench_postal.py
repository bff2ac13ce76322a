"""Postal-code lookup (issue 14 §1): p95 ≤ 5 ms in-process. Anchor: 5 ms (the issue's budget).

Times PostalCatalog.lookup over the bundled SEPOMEX catalog (145,468 settlements) for a random
sample of its 32,236 codes plus unknown ones, then GET /registro/cp/<cp> through the Flask test
client (lookup + JSON), and the catalog's one-time load. No services needed:
  PYTHONPATH=.:services .venv/bin/python benchmarks/bench_postal.py
"""
from __future__ import annotations

import random
import statistics
import time

from registro.domain.postal import PostalCatalog, bundled_path

ANCHOR_MS = 5.0
SAMPLES = 5000


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[94]


def bench_postal_lookup() -> None:
    t0 = time.perf_counter()
    catalog = PostalCatalog.load(bundled_path())
    load_s = time.perf_counter() - t0
    rng = random.Random(14)
    codes = catalog.codes()
    sample = [rng.choice(codes) for _ in range(SAMPLES)] + [f"{rng.randrange(100000):05d}" for _ in range(SAMPLES // 10)]
    times = []
    for code in sample:
        t = time.perf_counter()
        catalog.lookup(code)
        times.append((time.perf_counter() - t) * 1000)
    p95 = _p95(times)
    print(f"\n[bench_postal] carga del catálogo ({catalog.size} asentamientos, {len(codes)} CP): {load_s * 1000:.0f} ms "
          "(una vez por proceso)")
    print(f"[bench_postal] búsqueda en proceso: mediana {statistics.median(times):.3f} ms, p95 {p95:.3f} ms, "
          f"máx {max(times):.2f} ms; ancla {ANCHOR_MS:.0f} ms; razón p95/ancla {p95 / ANCHOR_MS:.3f}")

    from registro import create_app
    from tests.unit.conftest import unit_settings
    from tests.fakes import FakeIdentity, FakeMailer, FakeStore
    from registro.container import Adapters
    app = create_app({"SETTINGS": unit_settings(), "TESTING": True,
                      "ADAPTERS": Adapters(identity=FakeIdentity(), storage=FakeStore(), mailer=FakeMailer(),
                                           postal=catalog)})
    client = app.test_client()
    http = []
    for code in sample[:1000]:
        t = time.perf_counter()
        client.get(f"/registro/cp/{code}")
        http.append((time.perf_counter() - t) * 1000)
    p95_http = _p95(http)
    print(f"[bench_postal] GET /registro/cp/<cp> (cliente de pruebas de Flask): mediana {statistics.median(http):.2f} ms, "
          f"p95 {p95_http:.2f} ms; razón p95/ancla {p95_http / ANCHOR_MS:.2f}")


if __name__ == "__main__":
    bench_postal_lookup()
