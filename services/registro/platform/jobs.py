"""Periodic work in a daemon thread of each process (the reconciler; the outbox has its own).

Started lazily per process id: gunicorn forks workers after the app is built, and a thread does not
survive a fork, so each worker starts its own the first time it is asked to.
"""
from __future__ import annotations

import logging
import os
import threading
from typing import Callable

log = logging.getLogger(__name__)


class Periodic:
    def __init__(self, name: str, every_s: float, run: Callable[[], object]) -> None:
        self.name = name
        self.every_s = every_s
        self.run = run
        self._pid: int | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def ensure_started(self) -> None:
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid != os.getpid():
                self._pid = os.getpid()
                self._stop = threading.Event()
                threading.Thread(target=self._loop, name=self.name, daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        stop = self._stop
        while not stop.is_set():  # at start, then every `every_s`
            try:
                self.run()
            except Exception as exc:  # noqa: BLE001 — the next round tries again
                log.warning("tarea %s: %s", self.name, type(exc).__name__)
            stop.wait(self.every_s)
