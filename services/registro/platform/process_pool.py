"""A thread pool per process: gunicorn forks its workers after import, and a parent's threads are
gone in the child, so the pool is made again the first time a new process asks for it."""
from __future__ import annotations

import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor


class ProcessPool:
    def __init__(self, max_workers: int, name: str) -> None:
        self.max_workers = max_workers
        self.name = name
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._pool: ThreadPoolExecutor | None = None

    def get(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None or self._pid != os.getpid():
                self._pid = os.getpid()
                self._pool = ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix=self.name)
            return self._pool


def settle(job: Future | None) -> None:
    """Waits for a job whose outcome no longer matters (a render or a put of a request that failed or
    was refused) to end: its thread must be done with what it uses before the caller goes on."""
    if job is not None:
        try:
            job.result()
        except BaseException:  # noqa: BLE001 - the failure that counts is the caller's
            pass
