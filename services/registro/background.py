"""The work each process does besides answering requests: the outbox's delivery thread and, at start
then every RECONCILE_EVERY_S, the reconciler and the decisions' completion pass (decisions owing their
audit event after a crash or a failed write: review/decisions.Decisions.complete_owed). Started by
gunicorn's post_worker_init and, for any other server, by the first request of each process; not at all
when OUTBOX_BACKGROUND is off (unit tests and the `make` commands deliver in the caller's thread)."""
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
        a, reconciler=Periodic("conciliacion", RECONCILE_EVERY_S, lambda: run_passes(app)))

    @app.before_request
    def _running() -> None:
        start(app)


def start(app: Flask) -> None:
    a = app.extensions[container.APP_KEY]
    if a.outbox is not None:
        a.outbox.start()
    if a.reconciler is not None:
        a.reconciler.ensure_started()


def run_passes(app: Flask) -> None:
    for job in (reconcile_now, complete_decisions_now):  # one failing does not hold the other back
        try:
            job(app)
        except Exception as exc:  # noqa: BLE001 — the next round tries again
            log.warning("tarea %s: %s", job.__name__, type(exc).__name__)


def complete_decisions_now(app: Flask) -> int:
    from registro.kernel.audit import AuditTrail
    from registro.review.decisions import Decisions
    from registro.review.leases import Leases

    a = app.extensions[container.APP_KEY]
    s = app.extensions[container.SETTINGS_KEY]
    if a.decisions is None or a.audit is None or a.review_leases is None:
        return 0
    with app.app_context():
        done = Decisions(a.identity, a.decisions, a.outbox, s, Leases(a.review_leases, s.claim_lease_s),
                         AuditTrail(a.audit)).complete_owed()
    if done:
        log.info("decisiones completadas en segundo plano: %d", done)
    return done


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
