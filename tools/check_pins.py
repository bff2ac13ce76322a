"""Fails when a pinned parser of untrusted input is behind the latest patch release of its minor version.

Uploaded PDFs and images reach pypdf and Pillow; their patch releases are where parser
security fixes land (pypdf 7.1.1 fixed four). This compares the exact pins of
requirements.lock with what the configured package index serves, through pip itself (so
pip's own index settings and proxies apply).

    python -m tools.check_pins          # exit 0: up to date, 1: behind, 2: index unreachable

It needs the network, so it is `make audit`, not part of `make test`: an offline test run
must not fail, and an audit that cannot reach the index must not pass silently (exit 2).
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

# The libraries that parse what applicants upload (see services/registro/filecheck/).
PARSERS = ("pypdf", "pillow")
LOCK = Path(__file__).resolve().parent.parent / "requirements.lock"


def _release(version: str) -> tuple[int, ...] | None:
    """(major, minor, patch) of a final release; None for pre-releases and odd schemes."""
    if not re.fullmatch(r"\d+(\.\d+){0,2}", version):
        return None
    parts = [int(p) for p in version.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


def latest_patch(pinned: str, available: list[str]) -> str | None:
    """The newest final release with the same major.minor as `pinned`, or None if none is known."""
    base = _release(pinned)
    if base is None:
        return None
    same_minor = [(r, v) for v in available if (r := _release(v)) and r[:2] == base[:2]]
    return max(same_minor)[1] if same_minor else None


def behind(pinned: str, available: list[str]) -> str | None:
    """The patch release to move to, or None when `pinned` is the latest of its minor version."""
    newest = latest_patch(pinned, available)
    if newest is None or _release(newest) <= _release(pinned):
        return None
    return newest


def pins(lock_text: str) -> dict[str, str]:
    found = {}
    for line in lock_text.splitlines():
        m = re.match(r"^([A-Za-z0-9_.-]+)==([^\s;#]+)", line.strip())
        if m:
            found[m.group(1).lower().replace("_", "-")] = m.group(2)
    return found


def available_versions(package: str) -> list[str]:
    """Versions the configured index serves, asked through pip (raises RuntimeError offline)."""
    proc = subprocess.run([sys.executable, "-m", "pip", "index", "versions", package, "--disable-pip-version-check"],
                          capture_output=True, text=True, timeout=60)
    m = re.search(r"Available versions:\s*(.+)", proc.stdout)
    if proc.returncode != 0 or not m:
        raise RuntimeError(f"no se pudo consultar el índice de paquetes para {package}")
    return [v.strip() for v in m.group(1).split(",") if v.strip()]


def main() -> int:
    pinned = pins(LOCK.read_text(encoding="utf-8"))
    status = 0
    for package in PARSERS:
        version = pinned.get(package)
        if version is None:
            print(f"{package}: sin versión exacta en requirements.lock")
            status = max(status, 1)
            continue
        try:
            newer = behind(version, available_versions(package))
        except (RuntimeError, subprocess.TimeoutExpired, OSError) as exc:
            print(f"{package}=={version}: {exc}")
            status = 2
            continue
        if newer:
            print(f"{package}=={version}: hay una versión de corrección {newer}; actualice requirements.lock")
            status = max(status, 1) if status != 2 else status
        else:
            print(f"{package}=={version}: al día en su versión menor")
    return status


if __name__ == "__main__":
    sys.exit(main())
