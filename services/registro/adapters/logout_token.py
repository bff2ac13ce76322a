"""Validation of the logout tokens Keycloak posts to the review console (OpenID Connect Back-Channel
Logout 1.0, §2.6): signature against the realm's JWKS, issuer, audience (the console's client id),
issued-at, the back-channel logout event, no nonce, and a `sid` and/or `sub` to find the sessions.

joserfc checks the signature and the registered claims; the back-channel rules it does not know
(events, nonce, sid/sub) are the few lines below.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
ALGORITHMS = ("RS256",)  # the realm's signing keys (the ID token's algorithm too)
MAX_AGE_S = 300  # a logout token is used at once; an older one is a replay, not a logout
LEEWAY_S = 30  # clock skew between Keycloak's node and this one


class InvalidLogoutToken(Exception):
    """The token is not a logout token of this realm for this client; the reason is safe to log."""


@dataclass(frozen=True)
class LogoutToken:
    sid: str | None  # Keycloak's session id
    sub: str | None  # Keycloak's account id


def key_id(raw: str) -> str | None:
    """The `kid` of the token's header, to tell an unknown key (refresh the JWKS once) from a bad one."""
    try:
        return jws.extract_compact(raw.encode()).protected.get("kid")
    except (JoseError, ValueError, TypeError):
        return None


def verify(raw: str, jwks: dict, *, issuer: str, client_id: str, now: float | None = None) -> LogoutToken:
    moment = int(time.time() if now is None else now)
    try:
        token = jwt.decode(raw, KeySet.import_key_set(jwks), algorithms=list(ALGORITHMS))
        jwt.JWTClaimsRegistry(
            now=moment, leeway=LEEWAY_S,
            iss={"essential": True, "value": issuer},
            aud={"essential": True, "value": client_id},
            iat={"essential": True},
        ).validate(token.claims)
    except (JoseError, ValueError, TypeError) as exc:
        raise InvalidLogoutToken(type(exc).__name__) from None
    claims = token.claims
    if claims["iat"] < moment - MAX_AGE_S:
        raise InvalidLogoutToken("iat")
    events = claims.get("events")
    if not isinstance(events, dict) or not isinstance(events.get(BACKCHANNEL_LOGOUT_EVENT), dict):
        raise InvalidLogoutToken("events")
    if "nonce" in claims:  # an ID token is not a logout token (§2.4)
        raise InvalidLogoutToken("nonce")
    sid, sub = _text(claims, "sid"), _text(claims, "sub")
    if sid is None and sub is None:
        raise InvalidLogoutToken("sid/sub")
    return LogoutToken(sid=sid, sub=sub)


def _text(claims: dict, name: str) -> str | None:
    value = claims.get(name)
    return value if isinstance(value, str) and value else None
