"""Logs as one JSON object per line, with the request id, and without personal data.

Every record goes through `JsonFormatter`, whose output is passed through `redact()` last: even
a message that quotes a Keycloak answer or an exception carrying an address loses any email,
CURP, RFC (also as a lower-case username) or signed token before it is written. Passwords have no
shape to recognise: the code never logs them.
"""
from __future__ import annotations

import logging
import re
import sys

from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

from registro.observability import request_id

_PATTERNS = (
    (re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+"), "[correo]"),
    (re.compile(r"\b[A-Za-z][AEIOUXaeioux][A-Za-z]{2}\d{6}[HMXhmx][A-Za-z]{5}[A-Za-z0-9]\d\b"), "[curp]"),
    (re.compile(r"(?<![A-Za-z0-9])[A-Za-zÑñ&\-]{3,4}\d{6}[A-Za-z0-9]{3}(?![A-Za-z0-9])"), "[rfc]"),
    # signed tokens: JWTs and itsdangerous' JSON payloads both start with base64 of '{"'
    (re.compile(r"eyJ[A-Za-z0-9_\-]+(?:\.[A-Za-z0-9_\-]+)*"), "[token]"),
    # the personal link's token, and the phone link's (documents/phone_views.py: /movil/<token>, not its fixed pages)
    (re.compile(r"(/activacion/|/movil/(?!documentos\b|codigo\b))[^/\s?\"]+"), r"\1…"),
)
_LINK_TOKEN, _LINK_MASK = _PATTERNS[-1]


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def mask_link_token(text: str) -> str:
    """Only the token of a personal link (`/activacion/<token>/…` → `/activacion/…/…`)."""
    return _LINK_TOKEN.sub(_LINK_MASK, text)


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = request_id.current()
        return True


class JsonFormatter(_JsonFormatter):
    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("rename_fields", {"asctime": "time", "levelname": "level", "name": "logger"})
        kwargs.setdefault("json_ensure_ascii", False)
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s", *args, **kwargs)

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def json_handler(stream=None) -> logging.Handler:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    return handler


def configure_root(level: int = logging.INFO) -> None:
    """The application's own logs (every `logging.getLogger(__name__)`): JSON on stderr."""
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(json_handler())
    root.setLevel(level)
    logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)  # seven INFO lines per PDF
