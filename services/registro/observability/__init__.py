"""What an operator sees of `registro`: request ids, JSON logs without personal data, Prometheus
metrics (multiprocess under gunicorn) and the request-size limit. `install(app)` wires it in."""
from __future__ import annotations

from flask import Flask

from . import metrics, request_id


def install(app: Flask) -> None:
    app.wsgi_app = request_id.RequestIdMiddleware(app.wsgi_app)  # outermost: every response carries it
    metrics.install(app)
