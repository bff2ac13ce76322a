"""pyHanko's signing and validation are coroutines; the service calls them from plain threads.

`asyncio.run` refuses to start when the calling thread already runs an event loop (a Playwright
session in the same process, an async server): then the coroutine runs to completion in a short-lived
thread of its own instead. Either way the caller gets the result or the exception."""
from __future__ import annotations

import asyncio
import threading
from typing import Any, Coroutine, TypeVar

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = asyncio.run(coroutine)
        except BaseException as exc:  # noqa: BLE001 — re-raised in the caller's thread
            outcome["error"] = exc

    worker = threading.Thread(target=target, name="efirma-async")
    worker.start()
    worker.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
