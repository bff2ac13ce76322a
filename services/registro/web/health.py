"""Liveness (`/health/live`) and readiness (`/health/ready`: Keycloak, S3 and SMTP reachable; Redis
reported, never decisive).

`/salud` and `/salud/lista` are the same answers under their first (Spanish) names, kept for the
stack supervisor and existing checks. Neither needs a session, CSRF or rate limit.

Redis holds only what may be lost (issue 20): with it down the replica still serves every page —
rate limits count in its own memory, console sessions ask the reviewer to log in again — so
readiness stays 200 and says `"estado": "degradado"` with `servicios.redis` and a warning. A 503
would tell an orchestrator to stop routing to the replica, and since every replica shares the one
Redis, every replica would be taken out at once for an outage the service tolerates.
"""
from __future__ import annotations

from flask import Blueprint, jsonify

from registro.adapters.mail import MailUnavailable
from registro.adapters.sessions import SessionsUnavailable
from registro.adapters.storage import StorageUnavailable
from registro.container import adapters, settings
from registro.platform.db import DatabaseUnavailable
from registro.extensions import limiter
from keycloak_ext import IdentityError

bp = Blueprint("health", __name__)

DOWN = "no disponible"
REDIS_WARNING = ("Redis no disponible: los límites de intentos se cuentan en la memoria de cada proceso y la "
                 "consola pide volver a iniciar sesión")


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
    probes = [("keycloak", a.identity.ping, IdentityError), ("s3", a.storage.ping, StorageUnavailable),
              ("smtp", a.mailer.ping, MailUnavailable)]
    if a.database is not None:  # registro's own PostgreSQL: the record of every application
        probes.append(("postgres", a.database.ping, DatabaseUnavailable))
    for name, probe, failure in probes:
        try:
            probe()
            checks[name] = "ok"
        except failure:
            checks[name] = DOWN
    required_ok = all(v == "ok" for v in checks.values())
    warnings = []
    redis = _redis()
    if redis is not None:
        checks["redis"] = "ok" if redis else DOWN
        if not redis:
            warnings.append(REDIS_WARNING)
    body = {"estado": "ok" if required_ok and not warnings else "degradado", "servicios": checks}
    if warnings:
        body["advertencias"] = warnings
    return jsonify(body), 200 if required_ok else 503


def _redis() -> bool | None:
    """Whether the shared Redis answers; None when this process uses none (one process, in memory)."""
    probes = []
    if settings().redis_url:
        probes.append(_sessions_answer)
    if not settings().ratelimit_storage_uri.startswith("memory://"):
        probes.append(limiter.storage.check)  # Flask-Limiter's own probe (PING), False when unreachable
    if not probes:
        return None
    return all(probe() for probe in probes)


def _sessions_answer() -> bool:
    try:
        adapters().console_sessions.ping()
        return True
    except SessionsUnavailable:
        return False
