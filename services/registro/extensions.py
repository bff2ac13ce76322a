"""Flask extensions shared by the blueprints (created unbound, bound in `create_app`)."""
from __future__ import annotations

import time

from flask import request
from flask_limiter import Limiter
from flask_wtf import CSRFProtect


def client_address() -> str:
    # ProxyFix (enabled by TRUSTED_PROXIES) has already put the real client in remote_addr.
    return request.remote_addr or "desconocido"


csrf = CSRFProtect()
# Rate limits are state that may be lost (issue 20): with the shared storage (Redis) unreachable,
# Flask-Limiter keeps counting the same limits in this process's memory, logs one warning
# ("Rate limit storage unreachable - falling back to in-memory storage", logger `flask-limiter`:
# no key, address or username in it) and goes back to the shared storage when it answers again
# (probed with backoff, at most about a minute apart). `swallow_errors` covers the request that was
# already talking to Redis when another thread switched to memory: it passes unlimited rather than
# failing with a 500. The timeouts keep a Redis that no longer answers (rather than refusing) from
# holding a request for the operating system's TCP timeout; the in-memory storage ignores them.
# The X-RateLimit headers are off: they cost a read of the window from Redis on every limited answer
# (≈ 1.5 % of a registration's CPU in registro, plus Redis's own) for headers no page or script reads.
# A 429 still says when to come back (`retry_after_seconds`, added by web/errors.error_page).
limiter = Limiter(key_func=client_address, headers_enabled=False, strategy="moving-window",
                  in_memory_fallback_enabled=True, swallow_errors=True,
                  storage_options={"socket_timeout": 1.0, "socket_connect_timeout": 1.0})


def retry_after_seconds() -> int | None:
    """Seconds until the limit this request broke lets the caller in again (its window read once, on the
    refusal only); None when no limit was evaluated or its storage cannot say."""
    breached = limiter.current_limit
    if breached is None:
        return None
    try:
        return max(1, int(breached.reset_at - time.time()))
    except Exception:  # noqa: BLE001 - storage gone between the check and this read: the page says "espere"
        return None
