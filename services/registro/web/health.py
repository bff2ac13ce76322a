"""Liveness (`/health/live`) and readiness (`/health/ready`: Keycloak, S3 and SMTP reachable).

`/salud` and `/salud/lista` are the same answers under their first (Spanish) names, kept for the
stack supervisor and existing checks. Neither needs a session, CSRF or rate limit.
"""
from __future__ import annotations

from flask import Blueprint, jsonify

from ..adapters.mail import MailUnavailable
from ..adapters.storage import StorageUnavailable
from ..container import adapters
from ..extensions import limiter
from keycloak_ext import IdentityError

bp = Blueprint("health", __name__)


@bp.get("/health/live")
@bp.get("/salud")
@limiter.exempt
def alive():
    return jsonify(estado="ok")


@bp.get("/health/ready")
@bp.get("/salud/lista")
@limiter.exempt
def ready():
    checks = {}
    a = adapters()
    for name, probe, failure in (("keycloak", a.identity.ping, IdentityError),
                                 ("s3", a.storage.ping, StorageUnavailable),
                                 ("smtp", a.mailer.ping, MailUnavailable)):
        try:
            probe()
            checks[name] = "ok"
        except failure:
            checks[name] = "no disponible"
    status = 200 if all(v == "ok" for v in checks.values()) else 503
    return jsonify(estado="ok" if status == 200 else "degradado", servicios=checks), status
