"""What observability costs (`make bench`; prints with -s), each next to its anchor and the ratio.

1. one JSON log line with redaction vs the same record through stdlib's plain Formatter;
2. a request through the app's request id + metrics layers (`/health/live`, in-process) vs the
   same view on a bare Flask app;
3. a `/metrics` scrape of the served `registro` (gunicorn over HTTP, queue gauges included) vs
   `/health/live` of the same server.
"""
from __future__ import annotations

import logging
import statistics
import time

import requests
from flask import Flask, jsonify

from registro import create_app
from registro.config import Settings
from registro.observability import logs
from tests.integration.conftest import stack  # noqa: F401  (the real-stack fixture, requested by name)

LOG_RUNS = 20000
REQUEST_RUNS = 2000
HTTP_RUNS = 200


def _median_us(fn, runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1e6


def _line(label: str, value_us: float, anchor_label: str, anchor_us: float) -> str:
    return (f"{label}: mediana={value_us:.1f} µs | ancla {anchor_label}: {anchor_us:.1f} µs | "
            f"razón={value_us / anchor_us:.2f}")


def test_bench_json_log_line():
    record = logging.LogRecord("registro.workflow", logging.INFO, __file__, 1,
                               "documento cargado: solicitud=%s tipo=%s bytes=%d", ("4855023c-6176", "curp", 431), None)
    json_formatter, plain = logs.JsonFormatter(), logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    record.request_id = "abc"
    value = _median_us(lambda: json_formatter.format(record), LOG_RUNS)
    anchor = _median_us(lambda: plain.format(record), LOG_RUNS)
    print("\n" + _line("línea JSON con redacción", value, "logging.Formatter de texto", anchor))


def test_bench_request_layers():
    app = create_app({"SETTINGS": Settings.from_env(), "TESTING": True}).test_client()
    bare_app = Flask("bare")
    bare_app.get("/health/live")(lambda: jsonify(estado="ok"))
    bare = bare_app.test_client()
    value = _median_us(lambda: app.get("/health/live"), REQUEST_RUNS)
    anchor = _median_us(lambda: bare.get("/health/live"), REQUEST_RUNS)
    print("\n" + _line("GET /health/live con id de solicitud, métricas y cabeceras", value,
                       "Flask sin nada", anchor))


def test_bench_metrics_scrape(stack):  # noqa: F811
    http = requests.Session()
    value = _median_us(lambda: http.get(stack.registro_url + "/metrics", timeout=30).raise_for_status(), HTTP_RUNS)
    anchor = _median_us(lambda: http.get(stack.registro_url + "/health/live", timeout=30).raise_for_status(), HTTP_RUNS)
    print("\n" + _line("GET /metrics (gunicorn, multiproceso, cola incluida)", value, "GET /health/live", anchor))
