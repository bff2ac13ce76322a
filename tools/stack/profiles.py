"""The local stacks: `run` (what a person opens), `test` (isolated, own ports and data), and the
production topology `prod` (see prod.py) with its isolated twin `prodtest` used by `make test`.

Every port can be overridden by an environment variable: the `run` stack reads
KEYCLOAK_PORT, S3_PORT…; the `test` stack reads the same names prefixed TEST_, `prod` PROD_ and
`prodtest` TEST_PROD_, so all can be up at once and any one can be moved aside.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache"
KEYCLOAK_VERSION = "26.7.3"

DEFAULT_PORTS = {
    "run": {"KEYCLOAK_PORT": 8080, "KEYCLOAK_MGMT_PORT": 9000, "REGISTRO_PORT": 5000, "MODULO_PORT": 5001,
            "S3_PORT": 7070, "MAIL_WEB_PORT": 8025, "SMTP_PORT": 1025, "REDIS_PORT": 6379, "POSTGRES_PORT": 5433},
    "test": {"KEYCLOAK_PORT": 18080, "KEYCLOAK_MGMT_PORT": 19000, "REGISTRO_PORT": 15000, "MODULO_PORT": 15001,
             "S3_PORT": 17070, "MAIL_WEB_PORT": 18025, "SMTP_PORT": 11025, "REDIS_PORT": 16379,
             "POSTGRES_PORT": 15433},
}
PREFIXES = {"run": "", "test": "TEST_", "prod": "PROD_", "prodtest": "TEST_PROD_"}
PRODUCTION_PROFILES = ("prod", "prodtest")


@dataclass(frozen=True)
class Profile:
    name: str
    ports: dict[str, int]
    data: Path

    @classmethod
    def named(cls, name: str, env: dict[str, str] | None = None) -> "Profile":
        env = os.environ if env is None else env
        prefix = PREFIXES[name]
        if name in PRODUCTION_PROFILES:
            from .prod import PROD_PORTS as defaults
            defaults = defaults[name]
        else:
            defaults = DEFAULT_PORTS[name]
        # <prefix>PORT_OFFSET moves every default port of the stack at once (a second copy of the
        # test stack beside the first, e.g. TEST_PORT_OFFSET=200 TEST_STACK_DIR=/tmp/other).
        offset = int(env.get(prefix + "PORT_OFFSET", "0"))
        ports = {k: int(env.get(prefix + k, v + offset)) for k, v in defaults.items()}
        data = Path(env.get(prefix + "STACK_DIR", ROOT / ".stack" / name))
        return cls(name, ports, data)

    @property
    def production(self) -> bool:
        return self.name in PRODUCTION_PROFILES

    def url(self, port_name: str) -> str:
        return f"http://127.0.0.1:{self.ports[port_name]}"

    def service_env(self) -> dict[str, str]:
        """What every process of the stack (and pytest) is told about the others."""
        if self.production:
            from .prod import prod_env

            return prod_env(self)
        p = self.ports
        env = {k: str(v) for k, v in p.items()}
        env.update({
            "KEYCLOAK_URL": self.url("KEYCLOAK_PORT"),
            "KEYCLOAK_REALM": "anam",
            "REGISTRO_PUBLIC_URL": self.url("REGISTRO_PORT"),
            "MODULO_PUBLIC_URL": self.url("MODULO_PORT"),
            "PORTAL_LOGIN_URL": self.url("MODULO_PORT") + "/entrar",  # where people log in (issue 11, item 16)
            "S3_ENDPOINT_URL": self.url("S3_PORT"),
            "S3_PUBLIC_URL": self.url("S3_PORT"),  # browsers send documents straight to S3
            "S3_BUCKET": "acceso-unico",
            "S3_REGION": "us-east-1",
            "SMTP_HOST": "127.0.0.1",
            "MAIL_API_URL": self.url("MAIL_WEB_PORT"),
            # State the replicas share (rate limits, queue index, sessions, locks) lives in Redis.
            "REDIS_URL": f"redis://127.0.0.1:{p['REDIS_PORT']}/0",
            "RATELIMIT_STORAGE_URI": f"redis://127.0.0.1:{p['REDIS_PORT']}/0",
            # registro's own database (issue 20), on the stack's PostgreSQL as in production.
            "DATABASE_URL": f"postgresql+psycopg://registro:{self._local_secret('registro_db_password')}"
                            f"@127.0.0.1:{p['POSTGRES_PORT']}/registro",
            # Declares a local stack: the shipped development secrets below are accepted only here.
            "APP_ENV": "local",
            "STACK_PROFILE": self.name,
            "STACK_DIR": str(self.data),
        })
        # Local-only credentials; a real deployment sets its own through the environment.
        env["S3_ACCESS_KEY"] = os.environ.get("S3_ACCESS_KEY", "acceso-unico-local")
        env["S3_SECRET_KEY"] = os.environ.get("S3_SECRET_KEY", "acceso-unico-local-secret")
        env["REGISTRO_SECRET_KEY"] = os.environ.get("REGISTRO_SECRET_KEY") or self._local_secret("secret_key")
        env["MODULO_SECRET_KEY"] = os.environ.get("MODULO_SECRET_KEY") or self._local_secret("modulo_secret_key")
        env["KC_BOOTSTRAP_ADMIN_USERNAME"] = os.environ.get("KC_BOOTSTRAP_ADMIN_USERNAME", "admin")
        env["KC_BOOTSTRAP_ADMIN_PASSWORD"] = os.environ.get("KC_BOOTSTRAP_ADMIN_PASSWORD", "admin")
        return env

    def _local_secret(self, name: str) -> str:
        """A signing key made once per local stack and kept with its data, so links and sessions
        survive restarts."""
        path = self.data / name
        if not path.exists():
            import secrets

            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(32))
            path.chmod(0o600)
        return path.read_text().strip()
