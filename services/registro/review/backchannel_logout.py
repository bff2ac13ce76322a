"""Keycloak's back-channel logout of the review console (issue 21, item 9).

When a Keycloak session ends — the reviewer signs out elsewhere, an administrator logs the account
out, its sessions are revoked — Keycloak posts a signed logout token here (the `revision-console`
client's `backchannel.logout.url`), server to server, and the console sessions opened from that
Keycloak session (or, with only `sub`, every console session of the account) end at once instead
of at the next role re-check (`console_recheck_s`).

No browser is involved, so there is no CSRF token to check (the signed token is the proof) and no
page: the answer is the bare status the specification asks for (200, or 400 for a token refused).
"""
from __future__ import annotations

import logging

import requests
from flask import Blueprint, current_app, jsonify, request

from registro.adapters import logout_token, oidc
from registro.adapters.sessions import SessionsUnavailable
from registro.container import adapters, settings
from registro.extensions import csrf

log = logging.getLogger(__name__)

bp = Blueprint("console_logout", __name__, url_prefix="/revision")


def _jwks(raw: str) -> dict:
    """The realm's JWKS, as Authlib cached it for the ID tokens; fetched again once when the token
    names a key it lacks (Keycloak rotated its keys), never for a token that names no key."""
    client = oidc.client(current_app)
    jwks = client.fetch_jwk_set()
    kid = logout_token.key_id(raw)
    if kid and kid not in {k.get("kid") for k in jwks.get("keys", [])}:
        jwks = client.fetch_jwk_set(force=True)
    return jwks


def _answer(status: int, body: dict | None = None):
    response = jsonify(body or {})
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/backchannel-logout")
@csrf.exempt
def backchannel_logout():
    raw = request.form.get("logout_token", "")
    if not raw:
        return _answer(400, {"error": "invalid_request", "error_description": "logout_token missing"})
    s = settings()
    try:
        jwks = _jwks(raw)
    except requests.RequestException as exc:
        log.warning("JWKS del reino no disponible; cierre de sesión no aplicado: %s", type(exc).__name__)
        return _answer(503, {"error": "temporarily_unavailable"})
    try:
        token = logout_token.verify(raw, jwks, issuer=oidc.endpoints(s)["issuer"], client_id=s.review_client_id)
    except logout_token.InvalidLogoutToken as exc:
        log.warning("token de cierre de sesión rechazado: %s", exc)
        return _answer(400, {"error": "invalid_request", "error_description": "invalid logout token"})
    try:
        ended = adapters().console_sessions.end_matching(token.sid, token.sub)
    except SessionsUnavailable:
        # A Redis without persistence (the local stacks) lost the sessions already; one that comes
        # back with them still has the role re-check. 503 tells Keycloak (and its log) it failed.
        log.warning("almacén de sesiones de la consola no disponible: cierre de sesión no aplicado")
        return _answer(503, {"error": "temporarily_unavailable"})
    log.info("cierre de sesión desde Keycloak: %d sesión(es) de consola terminada(s)", ended)
    return _answer(200)
