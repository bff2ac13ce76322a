"""Page images of an uploaded document, rendered apart from the service (see page_render_worker.py).

Bounded four ways: a fresh worker process per document with its own address-space and CPU
limits, a wall-clock deadline after which it is killed, at most `max_pages` pages rendered and a
cap on pixels per page, and at most `concurrency` workers at once per service process (the
machine's cores are shared with the requests).
"""
from __future__ import annotations

import json
import logging
import os
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

from registro.adapters.page_render_worker import IMAGE_MIME, UNRENDERABLE

log = logging.getLogger(__name__)

_WORKER = str(Path(__file__).resolve().with_name("page_render_worker.py"))


class RenderUnavailable(Exception):
    """The renderer itself failed (could not start, was killed by the deadline or a limit).
    Nothing is known about the document; a later attempt may succeed."""


@dataclass(frozen=True)
class Rendering:
    """What the worker produced. `error` set (and no pages) means the document cannot be shown."""

    total_pages: int = 0
    pages: list[bytes] = field(default_factory=list)
    codes: list[str] = field(default_factory=list)
    error: str | None = None
    image_type: str = IMAGE_MIME
    seconds: float = 0.0


@dataclass(frozen=True)
class RenderLimits:
    max_pages: int = 30
    max_width: int = 1600  # pixels; what a reviewer's screen shows at 100 %
    dpi: int = 150
    memory_mib: int = 1024
    cpu_seconds: int = 20
    timeout_s: float = 30.0
    concurrency: int = 2


@runtime_checkable
class PageRenderer(Protocol):
    def render(self, data: bytes, content_type: str, *, codes: bool = False) -> Rendering:
        """Raises RenderUnavailable when the renderer failed (not the document)."""
        ...


class SubprocessPageRenderer:
    def __init__(self, limits: RenderLimits | None = None) -> None:
        self.limits = limits or RenderLimits()
        self._slots = threading.BoundedSemaphore(self.limits.concurrency)

    def _command(self, content_type: str, codes: bool) -> list[str]:
        lim = self.limits
        # Run as a script in isolated mode (-I): only the standard library and the three imaging
        # packages load, not this service (nor its configuration and secrets).
        cmd = [sys.executable, "-I", _WORKER, "--type", content_type,
               "--max-pages", str(lim.max_pages), "--max-width", str(lim.max_width), "--dpi", str(lim.dpi),
               "--memory-mib", str(lim.memory_mib), "--cpu-seconds", str(lim.cpu_seconds)]
        return cmd + (["--codes"] if codes else [])

    def render(self, data: bytes, content_type: str, *, codes: bool = False) -> Rendering:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8"}  # no secrets inherited
        with self._slots:
            started = time.perf_counter()
            try:
                done = subprocess.run(
                    self._command(content_type, codes),
                    input=data, capture_output=True, timeout=self.limits.timeout_s, env=env,
                    start_new_session=True, check=False)
            except subprocess.TimeoutExpired as exc:  # run() has killed the worker
                raise RenderUnavailable(f"el renderizado excedió {self.limits.timeout_s:.0f} s") from exc
            except OSError as exc:
                raise RenderUnavailable(f"no se pudo iniciar el renderizador: {type(exc).__name__}") from exc
            seconds = time.perf_counter() - started
        frames = _frames(done.stdout)
        header = _header(frames)
        if done.returncode == UNRENDERABLE and header and "error" in header:
            return Rendering(error=str(header["error"]), seconds=seconds)
        if done.returncode != 0 or header is None or "error" in header:
            # Killed by a limit (SIGXCPU, SIGKILL, MemoryError outside our handler) or a bug: the
            # document may well be hostile, but this attempt says nothing certain about it.
            why = f"código {done.returncode}"
            if done.returncode in (-9, -24, 137, 152) or b"MemoryError" in done.stderr[-2000:]:
                return Rendering(error=f"excedió los límites del renderizador ({why})", seconds=seconds)
            raise RenderUnavailable(f"el renderizador falló ({why})")
        pages = frames[1:]
        if len(pages) != int(header.get("mostradas", -1)):
            raise RenderUnavailable("respuesta incompleta del renderizador")
        return Rendering(total_pages=int(header["paginas"]), pages=pages, codes=list(header.get("codigos") or []),
                         seconds=seconds)


def _frames(raw: bytes) -> list[bytes]:
    frames, offset = [], 0
    while offset + 4 <= len(raw):
        (size,) = struct.unpack_from(">I", raw, offset)
        offset += 4
        if offset + size > len(raw):
            break
        frames.append(raw[offset:offset + size])
        offset += size
    return frames


def _header(frames: list[bytes]) -> dict | None:
    if not frames:
        return None
    try:
        header = json.loads(frames[0])
    except ValueError:
        return None
    return header if isinstance(header, dict) else None
