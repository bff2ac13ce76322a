"""Liveness (`/salud`) and readiness (`/salud/lista`: Keycloak and S3 reachable)."""
from __future__ import annotations

from flask import Blueprint, jsonify

from ..adapters.storage import StorageUnavailable
from ..container import adapters
from ..extensions import limiter
from keycloak_ext import IdentityError

bp = Blueprint("health", __name__)


@bp.get("/salud")
@limiter.exempt
def alive():
    return jsonify(estado="ok")


@bp.get("/salud/lista")
@limiter.exempt
def ready():
    checks = {}
    a = adapters()
    for name, probe, failure in (("keycloak", a.identity.ping, IdentityError),
                                 ("s3", a.storage.ping, StorageUnavailable)):
        try:
            probe()
            checks[name] = "ok"
        except failure:
            checks[name] = "no disponible"
    status = 200 if all(v == "ok" for v in checks.values()) else 503
    return jsonify(estado="ok" if status == 200 else "degradado", servicios=checks), status
