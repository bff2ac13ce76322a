"""The responsiva's render time next to WeasyPrint's floor, and the memory of 1,000 renders (`make bench`).

Anchor ("floor"): a one-page document with the same font family rendered by WeasyPrint the plain way
(`HTML(string=…).write_pdf()`) with one FontConfiguration kept for every call, as the project's
renderer keeps one (a new configuration per call costs the floor ≈ 5 ms of font setup the project
never pays, which would flatter the ratio). Interleaved with the responsiva in the same process.
Measured: the usual path (values drawn into the form laid out once, registration/responsiva.py) and the
fallback (a name in another script: the whole template laid out by WeasyPrint), each against the
floor, in RUNS runs (results_io); the PDF's size both ways; this process's RSS after 100 renders and
after 1,000 (goal: within 16 MiB).
"""
from __future__ import annotations

import functools
import re
import statistics
import time
from pathlib import Path

from registro import create_app
from registro.config import Settings
from registro.registration import responsiva
from registro.registration.responsiva_context import responsiva_context
from registro.registration.responsiva_qr import mac_key
from benchmarks.results_io import RUNS, LoadWatch, interleaved, percentile, ratio_figures, ratio_line, report
from tests.support.registration import random_person

ROUNDS = 30  # pairs per run (the fallback: a third of them)
MEMORY_RENDERS = 1000
MiB = 1024 * 1024
FLOOR = "piso de WeasyPrint: documento de una página, misma familia, FontConfiguration compartida"

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


def _ms(samples: list[float], q: float | None = None) -> float:
    return 1000 * (statistics.median(samples) if q is None else percentile(samples, q))


def test_bench_responsiva_vs_weasyprint_floor():
    from weasyprint import HTML
    from weasyprint.text.fonts import FontConfiguration

    settings = Settings.from_env()
    app = create_app({"SETTINGS": settings, "TESTING": True})
    renderer = app.extensions["registro.adapters"].pdf
    render_responsiva = functools.partial(responsiva.render_responsiva, mac_key=mac_key(settings))
    context = _context()
    fallback = _context(first_name="Ἀλέξανδρος")  # Greek: outside the form's prepared glyphs
    fonts = FontConfiguration()

    def floor() -> None:
        HTML(string=FLOOR_HTML).write_pdf(font_config=fonts)

    with app.test_request_context():
        t0 = time.perf_counter()
        fast_pdf = render_responsiva(context, renderer)  # the first one lays the form out
        first = time.perf_counter() - t0
        full_pdf = render_responsiva(fallback, renderer)
        for _ in range(5):  # Pango, the fonts and both paths' caches warm before anything is timed
            floor(), render_responsiva(context, renderer), render_responsiva(fallback, renderer)
        runs = []
        with LoadWatch() as load:
            for _ in range(RUNS):
                fill = interleaved(ROUNDS, {"fill": lambda: render_responsiva(context, renderer), "floor": floor})
                full = interleaved(ROUNDS // 3, {"full": lambda: render_responsiva(fallback, renderer),
                                                 "floor": floor})
                runs.append({"fill_p50": _ms(fill["fill"]), "fill_p95": _ms(fill["fill"], 0.95),
                             "floor_p50": _ms(fill["floor"]), "floor_p95": _ms(fill["floor"], 0.95),
                             "full_p50": _ms(full["full"]), "full_floor_p50": _ms(full["floor"])})
        column = {k: [r[k] for r in runs] for k in runs[0]}
        lines = [f"responsiva frente al {FLOOR} (mismo proceso, intercalado; mediana y rango de {RUNS} corridas de "
                 f"{ROUNDS} pares):",
                 ratio_line("valores en el formulario precompuesto, p50", column["fill_p50"], column["floor_p50"], "piso"),
                 ratio_line("valores en el formulario precompuesto, p95", column["fill_p95"], column["floor_p95"], "piso"),
                 ratio_line(f"vía completa (nombre en otra escritura; {ROUNDS // 3} pares por corrida), p50",
                            column["full_p50"], column["full_floor_p50"], "piso"),
                 f"  primera responsiva del proceso (compone el formulario): {first * 1000:.0f} ms",
                 f"  tamaño del PDF: formulario {len(fast_pdf):,} bytes, vía completa {len(full_pdf):,} bytes"]

        for _ in range(100):
            render_responsiva(context, renderer)
        after_100 = _rss()
        for _ in range(MEMORY_RENDERS - 100):
            render_responsiva(context, renderer)
        after_1000 = _rss()
    growth = (after_1000 - after_100) / MiB
    lines.append(f"  memoria: RSS tras 100 renders más que los medidos {after_100 / MiB:.1f} MiB, tras {MEMORY_RENDERS} "
                 f"{after_1000 / MiB:.1f} MiB, crecimiento {growth:.1f} MiB (meta ≤ 16 MiB)")
    report("responsiva", {"anchor": FLOOR, "runs": RUNS, "rounds": ROUNDS,
                          "fill_p50_ms": ratio_figures(column["fill_p50"], column["floor_p50"]),
                          "fill_p95_ms": ratio_figures(column["fill_p95"], column["floor_p95"]),
                          "fallback_p50_ms": ratio_figures(column["full_p50"], column["full_floor_p50"]),
                          "first_render_ms": round(first * 1000, 1), "pdf_bytes_form": len(fast_pdf),
                          "pdf_bytes_full": len(full_pdf), "rss_after_100_mib": round(after_100 / MiB, 1),
                          "rss_after_1000_mib": round(after_1000 / MiB, 1), "rss_growth_mib": round(growth, 1)},
           lines, load)
