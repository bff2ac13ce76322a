"""Printing a benchmark's figures and keeping them as JSON under benchmarks/results/ (ignored by git) so
runs can be compared.

Every figure is measured in at least RUNS interleaved runs (the project's samples and its anchor's
taken in turn within each run, so a neighbour's load falls on both alike) and printed as the median
of the runs' figures with their range — one run's figure on a shared 2-core host can be off by tens
of percent — next to the anchor it is against, by name, and the host's load average during them.
"""
from __future__ import annotations

import json
import os
import platform
import statistics
import threading
import time
from pathlib import Path
from typing import Callable, Sequence

RESULTS = Path(__file__).resolve().parent / "results"
RUNS = max(3, int(os.environ.get("BENCH_RUNS", "3")))


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def interleaved(rounds: int, subjects: dict[str, Callable[[], object]]) -> dict[str, list[float]]:
    """One run: `rounds` rounds, each timing every subject once (a subject returning a float gives its
    own duration in seconds — the part of what it does that is measured —, otherwise the whole call is
    timed). The order rotates each round, so no subject always follows the same one (a connection, a
    cache or a collection it leaves behind)."""
    names = list(subjects)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            started = time.perf_counter()
            own = subjects[name]()
            samples[name].append(own if isinstance(own, float) else time.perf_counter() - started)
    return samples


def spread(values: Sequence[float], digits: int = 1) -> str:
    """"median (min–max)" of the runs' figures."""
    return (f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}–{max(values):.{digits}f})")


def runs_figures(values: Sequence[float]) -> dict[str, float | list[float]]:
    return {"median": round(statistics.median(values), 3), "min": round(min(values), 3),
            "max": round(max(values), 3), "runs": [round(v, 3) for v in values]}


def ratio_line(label: str, project: Sequence[float], anchor: Sequence[float], anchor_name: str,
               unit: str = "ms") -> str:
    """One figure over the runs: the project's, the anchor's (named) and their ratio run by run."""
    ratios = [p / a for p, a in zip(project, anchor)]
    return (f"  {label}: proyecto {spread(project)} {unit} · ancla «{anchor_name}» {spread(anchor)} {unit} · "
            f"razón {spread(ratios, 2)}×")


def ratio_figures(project: Sequence[float], anchor: Sequence[float]) -> dict:
    return {"project": runs_figures(project), "anchor": runs_figures(anchor),
            "ratio": runs_figures([p / a for p, a in zip(project, anchor)])}


class LoadWatch:
    """The host's 1-minute load average, sampled every second while a benchmark measures: printed with
    its figures (on a shared host the neighbours' load moves every absolute figure)."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="loadwatch", daemon=True)

    def _sample(self) -> None:
        while True:
            self.samples.append(os.getloadavg()[0])
            if self._stop.wait(1.0):
                return

    def __enter__(self) -> "LoadWatch":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def line(self) -> str:
        return (f"  carga media del host (1 min) durante la medición: {min(self.samples):.1f}–{max(self.samples):.1f} "
                f"({os.cpu_count()} núcleos)")

    def figures(self) -> dict:
        return {"loadavg_1min_min": round(min(self.samples), 2), "loadavg_1min_max": round(max(self.samples), 2)}


def report(name: str, figures: dict, lines: list[str], load: LoadWatch | None = None) -> None:
    """Prints the lines (and the load during the measurement) and writes `figures` (plus the host's
    load) to results/<name>-<time>.json."""
    if load is not None:
        lines = [*lines, load.line()]
        figures = {**figures, **load.figures()}
    print("\n" + "\n".join(lines))
    RESULTS.mkdir(exist_ok=True)
    record = {"benchmark": name, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "host": platform.node(), "cpus": os.cpu_count(), "loadavg": os.getloadavg(), **figures}
    path = RESULTS / f"{name}-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}.json"
    path.write_text(json.dumps(record, indent=2, ensure_ascii=False))
    print(f"  → {path.relative_to(RESULTS.parent.parent)}")
