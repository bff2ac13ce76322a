"""Printing a benchmark pair (project, anchor, ratio) and keeping it as JSON under benchmarks/results/
(ignored by git) so runs can be compared."""
from __future__ import annotations

import json
import os
import platform
import statistics
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def stats_ms(samples_s: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in samples_s]
    return {"n": len(ms), "p50_ms": round(statistics.median(ms), 2), "p95_ms": round(percentile(ms, 0.95), 2),
            "max_ms": round(max(ms), 2)}


def report(name: str, figures: dict, lines: list[str]) -> None:
    """Prints the lines and writes `figures` (plus the host's load) to results/<name>-<time>.json."""
    print("\n" + "\n".join(lines))
    RESULTS.mkdir(exist_ok=True)
    record = {"benchmark": name, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "host": platform.node(), "cpus": os.cpu_count(), "loadavg": os.getloadavg(), **figures}
    path = RESULTS / f"{name}-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}.json"
    path.write_text(json.dumps(record, indent=2, ensure_ascii=False))
    print(f"  → {path.relative_to(RESULTS.parent.parent)}")


def pair_line(label: str, project: float, anchor: float, unit: str = "ms") -> str:
    return f"  {label}: proyecto {project:.1f} {unit} · ancla {anchor:.1f} {unit} · razón {project / anchor:.2f}×"
