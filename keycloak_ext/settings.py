"""Connection settings read from the environment, with local defaults (12-factor)."""
from __future__ import annotations

import os
from dataclasses import dataclass

from .shipped_secrets import LOCAL_DEFAULTS


@dataclass(frozen=True)
class KeycloakSettings:
    server_url: str
    realm: str
    client_id: str
    client_secret: str
    admin_user: str
    admin_password: str
    timeout: float = 10.0

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "KeycloakSettings":
        env = os.environ if env is None else env
        port = env.get("KEYCLOAK_PORT", "8080")
        return cls(
            server_url=env.get("KEYCLOAK_URL", f"http://127.0.0.1:{port}").rstrip("/") + "/",
            realm=env.get("KEYCLOAK_REALM", "anam"),
            client_id=env.get("REGISTRO_CLIENT_ID", "registro-service"),
            client_secret=env.get("REGISTRO_CLIENT_SECRET", LOCAL_DEFAULTS["REGISTRO_CLIENT_SECRET"]),
            admin_user=env.get("KC_BOOTSTRAP_ADMIN_USERNAME", "admin"),
            admin_password=env.get("KC_BOOTSTRAP_ADMIN_PASSWORD", LOCAL_DEFAULTS["KC_BOOTSTRAP_ADMIN_PASSWORD"]),
            timeout=float(env.get("KEYCLOAK_TIMEOUT", "10")),
        )
