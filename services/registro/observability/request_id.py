"""The request id: taken from `X-Request-ID` (set by the load balancer) or generated, kept for the
logs of the request and echoed in the response so a person can quote it."""
from __future__ import annotations

import contextvars
import re
import time
import uuid

HEADER = "X-Request-ID"
ENVIRON_KEY = "registro.request_id"
STARTED_KEY = "registro.started"  # perf_counter() at the start of the request (metrics' latency)
# Anything else (too long, spaces, quotes, newlines) is replaced: it goes into every log line.
_ACCEPTED = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_current: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


def current() -> str:
    """The id of the request being handled by this thread, "-" outside a request."""
    return _current.get()


def accept(header_value: str | None) -> str:
    value = (header_value or "").strip()
    return value if _ACCEPTED.fullmatch(value) else uuid.uuid4().hex


class RequestIdMiddleware:
    def __init__(self, app) -> None:
        self.app = app

    def __call__(self, environ, start_response):
        rid = accept(environ.get("HTTP_X_REQUEST_ID"))
        environ[ENVIRON_KEY] = rid  # gunicorn's access log reads it from the same environ
        environ[STARTED_KEY] = time.perf_counter()  # the latency histogram starts here

        def start(status, headers, exc_info=None):
            headers = [(k, v) for k, v in headers if k.lower() != HEADER.lower()]
            headers.append((HEADER, rid))
            return start_response(status, headers, exc_info)

        token = _current.set(rid)
        try:
            return self.app(environ, start)
        finally:
            _current.reset(token)
