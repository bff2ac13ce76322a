"""Figures of the MRZ reader (issue 23) on the synthetic corpus (tests/support/id_corpus.py).

    PYTHONPATH=.:services .venv/bin/python -m benchmarks.bench_reading [--count 25] [--engines rapidocr,tesseract]

`--count` documents (INE backs and passports alternating), each clean, scanned, phone-like and bad.
Per engine and condition: the share whose every check digit passed with the true values ("read"),
values reported as read that are not the document's ("wrong": must be 0), names matched, and CPU
per image (this process and its children, e.g. tesseract; decode + locate + OCR + parse) as
median and 95th percentile. Then the quality check: the share of "bad" images flagged and of
clean ones flagged. Small counts while developing: the machine's two cores are shared.
"""
from __future__ import annotations

import argparse
import resource
import statistics
import time

from registro.documents.reading import engines, names, quality, reader
from tests.support import id_corpus

_FIELDS = ("document_number", "birth_date", "sex", "expiry_date", "nationality")


def _cpu() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def measure_engine(engine, samples) -> dict[str, dict[str, float]]:
    rows: dict[str, dict[str, list]] = {}
    for sample in samples:
        started = _cpu()
        found = reader.read_mrz(sample.image, engine)
        spent = _cpu() - started
        row = rows.setdefault(sample.condition, {"n": [], "read": [], "wrong": [], "names": [], "cpu": []})
        truth = sample.truth
        wrong = found is not None and any(getattr(found, f) != getattr(truth, f) for f in _FIELDS)
        mrz_names = truth.mrz.splitlines()[-1 if truth.kind == "ine" else 0]
        name_wrong = (found is not None and found.names_reliable
                      and (found.lines[-1 if truth.kind == "ine" else 0] != mrz_names))
        matched = (found is not None and found.names_reliable and not wrong
                   and names.compare(truth.nombre, truth.apellidos, found.surname, found.given_names,
                                     truncated=found.names_truncated).matches)
        row["n"].append(1)
        row["read"].append(found is not None and not wrong)
        row["wrong"].append(wrong or name_wrong)
        row["names"].append(matched)
        row["cpu"].append(spent)
    return {condition: {"n": len(r["n"]), "read": sum(r["read"]) / len(r["n"]), "wrong": sum(r["wrong"]),
                        "names": sum(r["names"]) / len(r["n"]), "median": statistics.median(r["cpu"]),
                        "p95": _percentile(r["cpu"], 0.95)} for condition, r in rows.items()}


def measure_quality(samples) -> dict[str, float]:
    flagged: dict[str, list[bool]] = {}
    for sample in samples:
        flagged.setdefault(sample.condition, []).append(bool(quality.assess(sample.image).problems))
    return {condition: sum(v) / len(v) for condition, v in flagged.items()}


def report(count: int, engine_names: list[str], seed: int = 23) -> None:
    started = time.perf_counter()
    samples = id_corpus.generate(count, seed=seed)
    print(f"corpus: {len(samples)} images ({count} documents x {len(id_corpus.CONDITIONS)} conditions) "
          f"in {time.perf_counter() - started:.1f} s")
    for name in engine_names:
        load = _cpu()
        engine = engines.ENGINES[name]()
        print(f"\n{name}: engine loaded in {_cpu() - load:.2f} s CPU")
        print(f"{'condition':<9} {'n':>3} {'read':>6} {'wrong':>5} {'names':>6} {'median s':>9} {'p95 s':>6}")
        for condition, row in measure_engine(engine, samples).items():
            print(f"{condition:<9} {row['n']:>3} {row['read']:>6.0%} {row['wrong']:>5} {row['names']:>6.0%} "
                  f"{row['median']:>9.2f} {row['p95']:>6.2f}")
    print("\nquality check: share flagged per condition")
    for condition, share in measure_quality(samples).items():
        print(f"{condition:<9} {share:>6.0%}")
    print(f"\npeak memory of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


def bench_reading_figures():  # `make bench` (prints with -s); the corpus stays small there
    report(count=10, engine_names=["rapidocr"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=25, help="documents (each in 4 conditions)")
    parser.add_argument("--engines", default="rapidocr,tesseract")
    parser.add_argument("--seed", type=int, default=23)
    args = parser.parse_args()
    report(args.count, [e for e in args.engines.split(",") if e], args.seed)


if __name__ == "__main__":
    main()
