"""What the bounded file check costs per upload (`make bench`; prints with -s).

Anchor: the same parse run in-process (what the service did before: no isolation, no limits).
Measured: `filecheck.check_upload`, i.e. a fork of the preloaded fork server, the rlimits, the
bytes through a pipe, the parse, the verdict back. The difference is the price of the isolation.
Each isolated figure twice: back to back (a burst: every check forks its own child) and spaced by
SPACED_S (each finds the worker's spare child, forked and warmed while nobody waited). Also printed: the
review page's folio-text read, a 48-megapixel phone photo and a 6300 x 6300 scan.
"""
from __future__ import annotations

import io
import statistics
import time

from registro import filecheck
from registro.filecheck import parsers, sandbox
from tests.support import files
from tests.support import hostile_files as hostile
from tests.support.review_data import text_pdf

RUNS = 15
SPACED_S = 0.3


def _median(func, runs: int = RUNS, gap_s: float = 0.0) -> float:
    times = []
    for _ in range(runs):
        time.sleep(gap_s)  # outside the clock
        started = time.perf_counter()
        func()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _row(label: str, anchor: float, measured: float, spaced: float) -> None:
    print(f"{label:<38} en proceso {anchor * 1000:8.1f} ms   aislado {measured * 1000:8.1f} ms   "
          f"razón {measured / anchor:5.2f}   costo extra {1000 * (measured - anchor):6.1f} ms   "
          f"con el hijo de reserva listo {spaced * 1000:8.1f} ms ({spaced / anchor:5.2f}×)")


def bench_filecheck_cost_per_upload():
    sandbox.warm_up()  # the fork server starts once per worker (about 1 s); not part of an upload
    cases = [
        ("PDF de una página con texto", text_pdf("Responsiva folio AU-2026-1"), "application/pdf"),
        ("PDF de 10 MiB", files.pdf_of_size(10 * 1024 * 1024), "application/pdf"),
        ("JPEG 640x400", files.jpeg_bytes(), "image/jpeg"),
        ("JPEG de teléfono, 48 Mpx", hostile.phone_photo(48), "image/jpeg"),
        ("PNG 6300x6300 (39.7 Mpx)", hostile.big_scan_png(), "image/png"),
    ]
    print()
    for label, data, content_type in cases:
        if content_type == "application/pdf":
            anchor = _median(lambda: parsers.check_pdf(data))
        else:
            anchor = _median(lambda: parsers.check_image(data, content_type))
        # Back to back (a burst: each check forks its own child) and spaced (uploads seconds apart: each
        # finds the worker's spare child forked and warmed, sandbox.SPARE_DELAY_S after the previous one).
        measured = _median(lambda: filecheck.check_upload(io.BytesIO(data), content_type))
        spaced = _median(lambda: filecheck.check_upload(io.BytesIO(data), content_type), gap_s=SPACED_S)
        _row(label, anchor, measured, spaced)
    echo = _median(lambda: sandbox.run(parsers.echo, b""))
    print(f"{'sandbox vacío (fork + tubería)':<38} {echo * 1000:8.1f} ms")
    review = _median(lambda: filecheck.pdf_text(text_pdf("Responsiva folio AU-2026-1")))
    print(f"{'texto del folio en la revisión':<38} {review * 1000:8.1f} ms")
