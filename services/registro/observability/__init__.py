"""What an operator sees of `registro`: request ids, JSON logs without personal data, Prometheus
metrics (multiprocess under gunicorn) and the request-size limit. `install(app)` wires it in.

`metrics` is imported only when the app is built: importing this package (as
`registro.gunicorn_conf` does, through `registro`) must not create a counter before the gunicorn
config has set PROMETHEUS_MULTIPROC_DIR.
"""
from __future__ import annotations

from flask import Flask

from registro.observability import request_id


def install(app: Flask) -> None:
    from registro.observability import metrics

    app.wsgi_app = request_id.RequestIdMiddleware(app.wsgi_app)  # outermost: every response carries it
    metrics.install(app)
