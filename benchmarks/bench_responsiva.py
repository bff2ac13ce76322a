"""The responsiva's render time next to WeasyPrint's floor, and the memory of 1,000 renders (`make bench`).

Anchor ("floor"): a one-page document with the same font family rendered by WeasyPrint the plain way
(`HTML(string=…).write_pdf()`), interleaved with the responsiva in the same process and run.
Measured: the usual path (values drawn into the form laid out once, workflow/responsiva.py) and the
fallback (a name in another script: the whole template laid out by WeasyPrint), each against the
floor; the PDF's size both ways; this process's RSS after 100 renders and after 1,000 (goal: within
16 MiB).
"""
from __future__ import annotations

import re
import time
from pathlib import Path

from registro import create_app
from registro.config import Settings
from registro.workflow.responsiva import render_responsiva, responsiva_context
from benchmarks.results_io import pair_line, report, stats_ms
from tests.support.registration import random_person

RUNS = 60
MEMORY_RENDERS = 1000
MiB = 1024 * 1024

FLOOR_HTML = """<!doctype html><html lang="es-MX"><head><meta charset="utf-8"><style>
@page { size: letter; margin: 2cm; } body { font-family: "DejaVu Sans", sans-serif; font-size: 10pt; }
</style></head><body><h1>Documento mínimo</h1><p>Una página con la misma familia tipográfica que la responsiva:
el piso de lo que cuesta un PDF con WeasyPrint en esta máquina.</p></body></html>"""


def _rss() -> int:
    return int(re.search(r"^VmRSS:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.M).group(1)) * 1024


def _context(first_name: str = "Ana María") -> dict:
    curp, rfc = random_person()
    return responsiva_context(first_name=first_name, last_name="Peña Núñez", email="ana@example.com", attributes={
        "folio": "AU-2026-7K3M9QX2", "fecha_registro": "2026-01-15T18:00:00+00:00", "curp": curp, "rfc": rfc,
        "tipo_usuario": "agente_aduanal", "es_extranjero": "false", "pais": "MX", "estado": "Jalisco",
        "localidad": "Guadalajara", "colonia": "Centro", "codigo_postal": "44100", "numero_exterior": "12",
        "calle": "Av. Juárez"})


def test_bench_responsiva_vs_weasyprint_floor():
    from weasyprint import HTML

    app = create_app({"SETTINGS": Settings.from_env(), "TESTING": True})
    renderer = app.extensions["registro.adapters"].pdf
    context = _context()
    fallback = _context(first_name="Ἀλέξανδρος")  # Greek: outside the form's prepared glyphs
    with app.test_request_context():
        t0 = time.perf_counter()
        fast_pdf = render_responsiva(context, renderer)  # the first one lays the form out
        first = time.perf_counter() - t0
        full_pdf = render_responsiva(fallback, renderer)
        HTML(string=FLOOR_HTML).write_pdf()  # warm-up: Pango and fonts load once per process
        ours, floor, full, floor_full = [], [], [], []
        def pair(subject: dict, samples: list[float], anchors: list[float]) -> None:
            """One render of `subject` and one of the floor, each timed: interleaved, so a busy
            neighbour slows both alike."""
            for render, into in ((lambda: render_responsiva(subject, renderer), samples),
                                 (lambda: HTML(string=FLOOR_HTML).write_pdf(), anchors)):
                t0 = time.perf_counter()
                render()
                into.append(time.perf_counter() - t0)

        for i in range(RUNS):
            pair(context, ours, floor)
            if i < RUNS // 3:
                pair(fallback, full, floor_full)
        o, f = stats_ms(ours), stats_ms(floor)
        b, fb = stats_ms(full), stats_ms(floor_full)
        lines = ["responsiva (valores en el formulario precompuesto) frente al piso de WeasyPrint "
                 "(mismo proceso, intercalado):",
                 pair_line("p50", o["p50_ms"], f["p50_ms"]), pair_line("p95", o["p95_ms"], f["p95_ms"]),
                 "responsiva por la vía completa (nombre en otra escritura) frente al piso:",
                 pair_line("p50", b["p50_ms"], fb["p50_ms"]), pair_line("p95", b["p95_ms"], fb["p95_ms"]),
                 f"  primera responsiva del proceso (compone el formulario): {first * 1000:.0f} ms",
                 f"  tamaño del PDF: formulario {len(fast_pdf):,} bytes, vía completa {len(full_pdf):,} bytes"]

        for _ in range(100 - RUNS - 1):
            render_responsiva(context, renderer)
        after_100 = _rss()
        for _ in range(MEMORY_RENDERS - 100):
            render_responsiva(context, renderer)
        after_1000 = _rss()
    growth = (after_1000 - after_100) / MiB
    lines.append(f"  memoria: RSS tras 100 renders {after_100 / MiB:.1f} MiB, tras {MEMORY_RENDERS} "
                 f"{after_1000 / MiB:.1f} MiB, crecimiento {growth:.1f} MiB (meta ≤ 16 MiB)")
    report("responsiva", {"responsiva": o, "floor": f, "ratio_p50": round(o["p50_ms"] / f["p50_ms"], 3),
                          "fallback": b, "floor_fallback": fb, "fallback_ratio_p50": round(b["p50_ms"] / fb["p50_ms"], 3),
                          "first_render_ms": round(first * 1000, 1), "pdf_bytes_form": len(fast_pdf),
                          "pdf_bytes_full": len(full_pdf),
                          "rss_after_100_mib": round(after_100 / MiB, 1),
                          "rss_after_1000_mib": round(after_1000 / MiB, 1), "rss_growth_mib": round(growth, 1)},
           lines)
