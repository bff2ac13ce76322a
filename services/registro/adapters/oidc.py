"""The review console's OpenID Connect client (Authlib): authorization code + PKCE S256 against
the realm's `revision-console` client.

Browsers are sent to `settings.keycloak_public_url` (authorize, end-session); the service talks
to Keycloak over `settings.keycloak.server_url` (token, JWKS). The ID token is verified by
Authlib (signature against the realm's JWKS, issuer, audience, expiry, nonce); the reviewer's
realm roles come from its `realm_roles` claim (client scope `anam-perfil`).
"""
from __future__ import annotations

from dataclasses import dataclass

from authlib.integrations.flask_client import OAuth
from flask import Flask

from registro.config import Settings

CLIENT_NAME = "revision"


@dataclass(frozen=True)
class Identity:
    id: str  # Keycloak user id (sub)
    username: str
    name: str
    roles: frozenset[str]


def endpoints(settings: Settings) -> dict[str, str]:
    public = f"{settings.keycloak_public_url}/realms/{settings.keycloak.realm}/protocol/openid-connect"
    internal = f"{settings.keycloak.server_url.rstrip('/')}/realms/{settings.keycloak.realm}/protocol/openid-connect"
    return {
        "issuer": f"{settings.keycloak_public_url}/realms/{settings.keycloak.realm}",
        "authorize_url": f"{public}/auth",
        "end_session_endpoint": f"{public}/logout",
        "access_token_url": f"{internal}/token",
        "jwks_uri": f"{internal}/certs",
    }


def init_oidc(app: Flask, settings: Settings) -> OAuth:
    oauth = OAuth(app)
    urls = endpoints(settings)
    oauth.register(
        CLIENT_NAME,
        client_id=settings.review_client_id,
        client_secret=settings.review_client_secret,
        authorize_url=urls["authorize_url"],
        access_token_url=urls["access_token_url"],
        client_kwargs={"scope": "openid", "code_challenge_method": "S256",
                       "token_endpoint_auth_method": "client_secret_post", "timeout": settings.keycloak.timeout},
        # Server metadata without discovery: the public and back-channel URLs differ.
        issuer=urls["issuer"],
        jwks_uri=urls["jwks_uri"],
        end_session_endpoint=urls["end_session_endpoint"],
        id_token_signing_alg_values_supported=["RS256"],
    )
    app.extensions["registro.oidc"] = oauth
    return oauth


def client(app: Flask):
    return app.extensions["registro.oidc"].create_client(CLIENT_NAME)


def identity_from(claims: dict) -> Identity:
    roles = set(claims.get("realm_roles") or [])
    roles |= set((claims.get("realm_access") or {}).get("roles") or [])
    name = " ".join(p for p in (claims.get("given_name"), claims.get("family_name")) if p) or claims.get("name", "")
    return Identity(id=claims["sub"], username=claims.get("preferred_username", ""), name=name,
                    roles=frozenset(roles))
