"""Which code a stack's Python services started from, so that tests run by hand against a stack started
earlier say so: the integration tests drive the stack's own `registro`, and after a change to the service
a stack left running serves the code it started with (`make test` always starts a stack of its own)."""
from __future__ import annotations

import hashlib
from pathlib import Path

from .profiles import ROOT

# What the stack's registro and example module import from this tree.
SOURCES = ("services", "keycloak_ext")


def digest(root: Path = ROOT) -> str:
    """SHA-256 over the Python sources and templates the services load (paths and contents)."""
    h = hashlib.sha256()
    for top in SOURCES:
        for path in sorted((root / top).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix in (".py", ".html", ".txt"):
                h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def record_path(pids: Path, name: str) -> Path:
    return pids / f"{name}.code"


def stale_services(pids: Path, root: Path = ROOT) -> list[str]:
    """The running services (their pid file present) that started from other code than the tree's now."""
    now = None
    stale = []
    for recorded in sorted(pids.glob("*.code")):
        name = recorded.name.removesuffix(".code")
        if not (pids / f"{name}.pid").exists():
            continue
        now = now or digest(root)
        if recorded.read_text().strip() != now:
            stale.append(name)
    return stale
