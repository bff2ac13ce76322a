"""The work each process does besides answering requests: the outbox's delivery thread and the
reconciler (at start, then every RECONCILE_EVERY_S). Started by gunicorn's post_worker_init and,
for any other server, by the first request of each process; not at all when OUTBOX_BACKGROUND is
off (unit tests and the `make` commands deliver in the caller's thread)."""
from __future__ import annotations

import logging
from dataclasses import replace

from flask import Flask

from registro import container
from registro.platform.jobs import Periodic

log = logging.getLogger(__name__)

RECONCILE_EVERY_S = 30.0


def install(app: Flask) -> None:
    a = app.extensions[container.APP_KEY]
    s = app.extensions[container.SETTINGS_KEY]
    if a.applications is None or a.outbox is None or not s.outbox_background:
        return
    app.extensions[container.APP_KEY] = a = replace(
        a, reconciler=Periodic("conciliacion", RECONCILE_EVERY_S, lambda: reconcile_now(app)))

    @app.before_request
    def _running() -> None:
        start(app)


def start(app: Flask) -> None:
    a = app.extensions[container.APP_KEY]
    if a.outbox is not None:
        a.outbox.start()
    if a.reconciler is not None:
        a.reconciler.ensure_started()


def reconcile_now(app: Flask):
    from registro.registration.reconcile import reconcile

    a = app.extensions[container.APP_KEY]
    with app.app_context():
        done = reconcile(applications=a.applications, identity=a.identity, storage=a.storage, outbox=a.outbox,
                         settings=app.extensions[container.SETTINGS_KEY], renderer=a.pdf)
    if done.finished or done.cancelled or done.failed:
        log.info("conciliación: %d completada(s), %d cancelada(s), %d pendiente(s)", done.finished, done.cancelled,
                 done.failed)
    return done
