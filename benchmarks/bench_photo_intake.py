"""What a photo costs at upload and after it (issue 23), through registro.filecheck's bounded child, as
the service runs it: wall-clock per call (fork, imports in the child, decode, work), median and p95.

    PYTHONPATH=.:services .venv/bin/python -m benchmarks.bench_photo_intake [--runs 5]

- quality check of a 12-megapixel JPEG (4032 x 3024, a phone's photo): beside the content check, in
  parallel with the S3 put, on the upload's path (documents/photo_intake.py);
- HEIC → JPEG of the same photo: before anything is stored, on the upload's path;
- "Lectura automática" of an INE photo (MRZ located, OCR, check digits): off the request path
  (documents/readings.py), its own child limits.
Small counts: the machine's two cores are shared.
"""
from __future__ import annotations

import argparse
import io
import statistics
import time

import pillow_heif
from PIL import Image

from registro.filecheck import parsers, sandbox
from registro.documents.photo_intake import PHOTO_CHECK, PHOTO_LIMITS
from registro.documents.reading.service import READ_IDENTITY, READ_LIMITS
from tests.support import id_corpus


def _photo() -> tuple[bytes, bytes]:
    """(a 12-Mpx JPEG of an INE back as a phone takes it, the same as HEIC)."""
    sample = id_corpus.generate(1, seed=11, conditions=("phone",))[0]
    image = Image.open(io.BytesIO(sample.image)).convert("RGB").resize((4032, 3024), Image.LANCZOS)
    jpeg, heic = io.BytesIO(), io.BytesIO()
    image.save(jpeg, "JPEG", quality=90)
    pillow_heif.from_pillow(image).save(heic, quality=80)
    return jpeg.getvalue(), heic.getvalue()


def _timed(runs: int, func, *args, limits) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        sandbox.run(func, *args, limits=limits)
        times.append(time.perf_counter() - started)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]


def report(runs: int) -> None:
    sandbox.warm_up()
    jpeg, heic = _photo()
    ine = id_corpus.generate(1, seed=11, conditions=("phone",))[0].image
    print(f"photo: 4032 x 3024, JPEG {len(jpeg) / 1e6:.1f} MB, HEIC {len(heic) / 1e6:.1f} MB; INE photo "
          f"{len(ine) / 1e3:.0f} KB; {runs} runs each")
    print(f"{'call':<44} {'median s':>9} {'p95 s':>6}")
    for label, func, args, limits in (
            ("quality check, 12-Mpx JPEG (upload path)", PHOTO_CHECK, (jpeg, "ine"), PHOTO_LIMITS),
            ("HEIC -> JPEG + quality, 12 Mpx (upload path)", PHOTO_CHECK, (heic, "ine"), PHOTO_LIMITS),
            ("content check alone, 12-Mpx JPEG (before)", parsers.check_image, (jpeg, "image/jpeg"), sandbox.Limits()),
            ("MRZ reading of an INE photo (off the path)", READ_IDENTITY, (ine,), READ_LIMITS)):
        median, p95 = _timed(runs, func, *args, limits=limits)
        print(f"{label:<44} {median:>9.2f} {p95:>6.2f}")


def bench_photo_intake_figures():  # `make bench` (prints with -s)
    report(runs=3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    report(parser.parse_args().runs)


if __name__ == "__main__":
    main()
