"""Settings of the example module, from the environment (12-factor) with local defaults."""
from __future__ import annotations

import os
import secrets
import sys
from dataclasses import dataclass
from typing import Mapping

from keycloak_ext.shipped_secrets import LOCAL_DEFAULTS, refuse_shipped_secrets


@dataclass(frozen=True)
class ModuloSettings:
    secret_key: str
    public_url: str  # how browsers reach this module; Keycloak redirects back under it
    keycloak_url: str  # how this module reaches Keycloak (metadata, token, JWKS)
    keycloak_public_url: str  # how browsers reach Keycloak (login page, logout)
    realm: str
    client_id: str
    client_secret: str
    allowed_type: str  # the user type (realm role) that may open the restricted page

    @property
    def metadata_url(self) -> str:
        return f"{self.keycloak_url}/realms/{self.realm}/.well-known/openid-configuration"

    @property
    def public_realm_url(self) -> str:
        return f"{self.keycloak_public_url}/realms/{self.realm}"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "ModuloSettings":
        env = os.environ if env is None else env
        # Outside a local stack (APP_ENV=local) a missing or published secret stops the start.
        refuse_shipped_secrets(env, required=("MODULO_SECRET_KEY", "MODULO_CLIENT_SECRET"))
        secret = env.get("MODULO_SECRET_KEY")
        if not secret:
            # Sessions signed with a throwaway key end at restart: fine for a quick try only.
            print("aviso: MODULO_SECRET_KEY no está definida; se usa una clave temporal", file=sys.stderr)
            secret = secrets.token_urlsafe(32)
        kc = env.get("KEYCLOAK_URL", "http://127.0.0.1:8080").rstrip("/")
        port = env.get("MODULO_PORT", "5001")
        return cls(
            secret_key=secret,
            public_url=env.get("MODULO_PUBLIC_URL", f"http://127.0.0.1:{port}").rstrip("/"),
            keycloak_url=kc,
            keycloak_public_url=env.get("KEYCLOAK_PUBLIC_URL", kc).rstrip("/"),
            realm=env.get("KEYCLOAK_REALM", "anam"),
            client_id=env.get("MODULO_CLIENT_ID", "modulo-ejemplo"),
            client_secret=env.get("MODULO_CLIENT_SECRET", LOCAL_DEFAULTS["MODULO_CLIENT_SECRET"]),
            allowed_type=env.get("MODULO_TIPO_PERMITIDO", "agente_aduanal"),
        )
