"""gunicorn logger: JSON lines for gunicorn's own and access logs, with the request id, and the
personal links masked.

Confirmation links carry a signed token in the path (`/activacion/<token>/…`): anyone who reads
the log could open the applicant's page. The request line and path are logged with it masked,
and every line goes through the same redaction as the application's logs.
Used with `gunicorn --logger-class registro.observability.access_log.TokenMaskingLogger` (set by
`registro.gunicorn_conf`, which also sends the application's own logs to JSON).
"""
from __future__ import annotations

from gunicorn.glogging import Logger

from registro.observability import logs
from registro.observability.logs import mask_link_token as mask
from registro.observability.request_id import ENVIRON_KEY


class TokenMaskingLogger(Logger):
    def setup(self, cfg) -> None:
        super().setup(cfg)
        # gunicorn has just attached its plain-text handlers: every one of them writes JSON instead.
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(logs.JsonFormatter())
                handler.addFilter(logs.RequestIdFilter())

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        for key in ("r", "U", "q"):
            if isinstance(atoms.get(key), str):
                atoms[key] = mask(atoms[key])
        return atoms

    def access(self, resp, req, environ, request_time):
        # The few fields it writes, straight from the environ: not gunicorn's atoms(), which copies
        # every header and environ variable and formats a timestamp for each request.
        if not self.access_log_enabled:
            return
        status = resp.status.split(None, 1)[0] if isinstance(resp.status, str) else resp.status
        self.access_log.info("acceso", extra={
            "request_id": environ.get(ENVIRON_KEY) or "-",  # set by RequestIdMiddleware in this environ
            "method": environ.get("REQUEST_METHOD"),
            "path": mask(environ.get("PATH_INFO") or ""),
            "status": _int(status),
            "bytes": _int(getattr(resp, "sent", None)),
            "duration_ms": round(request_time.total_seconds() * 1000, 1),
            "remote_addr": environ.get("REMOTE_ADDR", "-"),
            "user_agent": environ.get("HTTP_USER_AGENT", "-"),
        })


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
