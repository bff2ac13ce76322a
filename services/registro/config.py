"""Settings of the `registro` service, read from the environment (12-factor) with local defaults."""
from __future__ import annotations

import os
import secrets
import sys
from dataclasses import dataclass, replace
from typing import Mapping

from keycloak_ext import KeycloakSettings
from keycloak_ext.shipped_secrets import LOCAL_DEFAULTS, InsecureSettings, is_local, refuse_shipped_secrets

from registro import secret_keys

MiB = 1024 * 1024

# Secrets `registro` needs outside a local stack, and those it refuses only when given a shipped value.
# DATABASE_URL carries registro's database role and its password.
REQUIRED_SECRETS = ("DATABASE_URL", "REGISTRO_SECRET_KEY", "REGISTRO_CLIENT_SECRET", "REVISION_CLIENT_SECRET",
                    "S3_ACCESS_KEY", "S3_SECRET_KEY")
OPTIONAL_SECRETS = ("CAPTCHA_HMAC_KEY", "SMTP_PASSWORD", "REGISTRO_SECRET_KEY_PREVIOUS", "RESPONSIVA_MAC_KEY")


def _bool(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "si", "sí", "on")


@dataclass(frozen=True)
class S3Settings:
    endpoint_url: str | None
    bucket: str
    region: str
    access_key: str | None
    secret_key: str | None
    sse: str | None  # e.g. "AES256" or "aws:kms"; requested on every put when set
    timeout_s: float = 10.0
    # How browsers reach the same S3 server, for uploads sent straight to it with a presigned PUT
    # (documents/direct_uploads.py). None: browsers never talk to S3 and upload through the service.
    public_url: str | None = None


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    sender: str
    sender_name: str
    user: str | None
    password: str | None
    starttls: bool
    ssl: bool
    timeout_s: float = 10.0


@dataclass(frozen=True)
class Settings:
    secret_key: str
    public_url: str  # how applicants reach this service; used in emailed links
    keycloak: KeycloakSettings
    keycloak_public_url: str  # how browsers reach Keycloak (login page, OIDC)
    s3: S3Settings
    smtp: SmtpSettings
    link_ttl_s: int = 7 * 24 * 3600
    resend_limits: str = "1 per 60 seconds;5 per day"
    registration_limits: str = "10 per hour"
    # Presigned uploads straight to S3 per application: each may leave up to UPLOAD_MAX_MIB in the bucket
    # until the application is purged if its browser never confirms it (the form upload is not limited).
    direct_upload_limits: str = "30 per hour;60 per day"
    # How long a direct upload's confirmation waits for its check to end before answering "still checking"
    # (the page then polls): a check that ends in time is answered at once, a network round trip saved.
    direct_upload_wait_s: float = 3.0
    recovery_user_limits: str = "5 per hour"
    recovery_client_limits: str = "20 per hour"
    ratelimit_storage_uri: str = "memory://"
    upload_max_bytes: int = 10 * MiB
    claim_lease_s: int = 30 * 60
    redis_url: str = ""  # shared state of the replicas (queue index, console sessions); unset: in-process
    console_recheck_s: float = 120.0  # how often a console session re-checks the account and role in Keycloak
    credentials_mode: str = "temporal"  # or "enlace"
    review_client_id: str = "revision-console"
    review_client_secret: str = LOCAL_DEFAULTS["REVISION_CLIENT_SECRET"]
    captcha_hmac_key: str = ""
    responsiva_mac_key: str = ""  # signs the QR code on responsivas; empty: the secret key signs it
    captcha_ttl_s: int = 300
    expire_unconfirmed_s: int = 7 * 24 * 3600
    expire_incomplete_s: int = 30 * 24 * 3600
    trusted_proxies: int = 0  # how many proxies in front set X-Forwarded-For
    # Peers whose X-Forwarded-* is believed (the balancer); empty = any peer, allowed on a local stack only.
    trusted_proxy_addresses: tuple[str, ...] = ()
    # Who may scrape /metrics directly (never through a proxy: see observability/metrics.py)
    metrics_allow_from: tuple[str, ...] = ("127.0.0.1/32", "::1/128")
    max_request_bytes: int = 256 * 1024  # every body but an upload's (those have UPLOAD_MAX_MIB)
    # Where people log in (issue 11, item 16): the login of the configured default ANAM module, never
    # Keycloak's account console. Its client receives Keycloak's "Volver a la aplicación" links too.
    portal_login_url: str = "http://127.0.0.1:5001/entrar"
    portal_client_id: str = "modulo-ejemplo"
    # --- status page, privacy, postal codes (helper beyond) ---
    status_link_ttl_s: int = 365 * 24 * 3600  # "Consultar mi solicitud" links in emails
    status_link_limits: str = "5 per hour;20 per day"  # new-link requests per client address
    status_link_folio_limits: str = "3 per hour;5 per day"  # … and per folio
    privacy_notice_dir: str = ""  # operator-editable notices; empty = the bundled ones
    postal_catalog_path: str = ""  # SQLite catalog of postal codes; empty = postalcodes-mexico's
    # Days the documents of decided applications are kept after the decision (abandoned ones: EXPIRE_*).
    retention_approved_days: int = 5 * 365
    retention_rejected_days: int = 365
    # Confirmation emails leave the request path through a durable outbox (platform/outbox.py):
    # delivered by a background thread (OUTBOX_BACKGROUND, default on) or in the caller's thread.
    outbox_background: bool = False
    # e.firma signing of the responsiva (documents/efirma): a folder of SAT's root and issuing-CA certificates
    # (empty: the page offers no e.firma signing) and the OCSP responder asked about revocation.
    efirma_roots_dir: str = ""
    efirma_ocsp_url: str = ""
    efirma_ocsp_timeout_s: float = 3.0
    # registro's own PostgreSQL (platform/db). Empty: the app runs without it (unit tests hand in fakes);
    # outside a local stack DATABASE_URL is required.
    database_url: str = ""
    # REGISTRO_SECRET_KEY_PREVIOUS during a key rotation: still verifies what it signed (secret_keys.py).
    previous_secret_keys: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env
        # Outside a local stack (APP_ENV=local) a missing or published secret stops the start.
        refuse_shipped_secrets(env, required=REQUIRED_SECRETS, optional=OPTIONAL_SECRETS)
        _refuse_weak_keys(env)
        _refuse_open_proxy_trust(env)
        _refuse_plain_s3_for_secure_pages(env)
        kc = KeycloakSettings.from_env(dict(env))
        secret = env.get("REGISTRO_SECRET_KEY")
        if not secret:
            # Links signed with a throwaway key stop working at restart: fine for a quick try only.
            print("aviso: REGISTRO_SECRET_KEY no está definida; se usa una clave temporal", file=sys.stderr)
            secret = secrets.token_urlsafe(32)
        port = env.get("REGISTRO_PORT", "5000")
        return cls(
            secret_key=secret,
            public_url=env.get("REGISTRO_PUBLIC_URL", f"http://127.0.0.1:{port}").rstrip("/"),
            keycloak=kc,
            keycloak_public_url=env.get("KEYCLOAK_PUBLIC_URL", kc.server_url).rstrip("/"),
            s3=S3Settings(
                endpoint_url=env.get("S3_ENDPOINT_URL") or None,
                bucket=env.get("S3_BUCKET", "acceso-unico"),
                region=env.get("S3_REGION", "us-east-1"),
                access_key=env.get("S3_ACCESS_KEY") or None,
                secret_key=env.get("S3_SECRET_KEY") or None,
                sse=env.get("S3_SSE") or None,
                timeout_s=float(env.get("S3_TIMEOUT", "10")),
                public_url=(env.get("S3_PUBLIC_URL") or "").rstrip("/") or None,
            ),
            smtp=SmtpSettings(
                host=env.get("SMTP_HOST", "127.0.0.1"),
                port=int(env.get("SMTP_PORT", "1025")),
                sender=env.get("MAIL_FROM", "usuarios.externos@anam.gob.mx"),
                sender_name=env.get("MAIL_FROM_NAME", "Acceso Único ANAM"),
                user=env.get("SMTP_USER") or None,
                password=env.get("SMTP_PASSWORD") or None,
                starttls=_bool(env.get("SMTP_STARTTLS", "false")),
                ssl=_bool(env.get("SMTP_SSL", "false")),
                timeout_s=float(env.get("SMTP_TIMEOUT", "10")),
            ),
            link_ttl_s=int(float(env.get("LINK_TTL_DAYS", "7")) * 86400),
            resend_limits=env.get("RESEND_LIMITS", cls.resend_limits),
            registration_limits=env.get("REGISTRATION_LIMITS", cls.registration_limits),
            direct_upload_limits=env.get("DIRECT_UPLOAD_LIMITS", cls.direct_upload_limits),
            direct_upload_wait_s=float(env.get("DIRECT_UPLOAD_WAIT_SECONDS", str(cls.direct_upload_wait_s))),
            recovery_user_limits=env.get("RECOVERY_USER_LIMITS", cls.recovery_user_limits),
            recovery_client_limits=env.get("RECOVERY_CLIENT_LIMITS", cls.recovery_client_limits),
            ratelimit_storage_uri=env.get("RATELIMIT_STORAGE_URI", cls.ratelimit_storage_uri),
            upload_max_bytes=int(float(env.get("UPLOAD_MAX_MIB", "10")) * MiB),
            claim_lease_s=int(float(env.get("CLAIM_LEASE_MINUTES", "30")) * 60),
            redis_url=env.get("REDIS_URL", ""),
            console_recheck_s=float(env.get("CONSOLE_RECHECK_SECONDS", "120")),
            credentials_mode=env.get("CREDENTIALS_MODE", cls.credentials_mode),
            review_client_id=env.get("REVISION_CLIENT_ID", cls.review_client_id),
            review_client_secret=env.get("REVISION_CLIENT_SECRET", cls.review_client_secret),
            captcha_hmac_key=env.get("CAPTCHA_HMAC_KEY", "") or secret,
            responsiva_mac_key=env.get("RESPONSIVA_MAC_KEY", "") or secret,
            captcha_ttl_s=int(env.get("CAPTCHA_TTL_SECONDS", "300")),
            expire_unconfirmed_s=int(float(env.get("EXPIRE_UNCONFIRMED_DAYS", "7")) * 86400),
            expire_incomplete_s=int(float(env.get("EXPIRE_INCOMPLETE_DAYS", "30")) * 86400),
            trusted_proxies=int(env.get("TRUSTED_PROXIES", "0")),
            trusted_proxy_addresses=_addresses(env),
            metrics_allow_from=tuple(n.strip() for n in env.get("METRICS_ALLOW_FROM", "127.0.0.1/32,::1/128")
                                     .split(",") if n.strip()),
            max_request_bytes=int(float(env.get("MAX_REQUEST_KIB", "256")) * 1024),
            portal_login_url=env.get("PORTAL_LOGIN_URL") or (
                env.get("MODULO_PUBLIC_URL", "http://127.0.0.1:5001").rstrip("/") + "/entrar"),
            portal_client_id=env.get("PORTAL_CLIENT_ID", cls.portal_client_id),
            status_link_ttl_s=int(float(env.get("STATUS_LINK_TTL_DAYS", "365")) * 86400),
            status_link_limits=env.get("STATUS_LINK_LIMITS", cls.status_link_limits),
            status_link_folio_limits=env.get("STATUS_LINK_FOLIO_LIMITS", cls.status_link_folio_limits),
            privacy_notice_dir=env.get("PRIVACY_NOTICE_DIR", ""),
            postal_catalog_path=env.get("POSTAL_CATALOG_PATH", ""),
            retention_approved_days=int(env.get("RETENTION_APPROVED_DAYS", "1825")),
            retention_rejected_days=int(env.get("RETENTION_REJECTED_DAYS", "365")),
            outbox_background=_bool(env.get("OUTBOX_BACKGROUND", "true")),
            efirma_roots_dir=env.get("EFIRMA_ROOTS_DIR", ""),
            efirma_ocsp_url=env.get("EFIRMA_OCSP_URL", ""),
            efirma_ocsp_timeout_s=float(env.get("EFIRMA_OCSP_TIMEOUT", "3")),
            previous_secret_keys=secret_keys.previous_keys(env),
            database_url=_database_url(env),
        )

    def with_changes(self, **changes: object) -> "Settings":
        return replace(self, **changes)

    @property
    def signing_keys(self) -> list[str]:
        """For itsdangerous: verifies with the previous key too, signs with the current one."""
        return secret_keys.verifying(self.secret_key, self.previous_secret_keys)


def _database_url(env: Mapping[str, str]) -> str:
    # Outside a local stack it is required like a secret (it carries the role's password): REQUIRED_SECRETS.
    return env.get("DATABASE_URL", "").strip()


def _addresses(env: Mapping[str, str]) -> tuple[str, ...]:
    return tuple(a.strip() for a in env.get("TRUSTED_PROXY_ADDRESSES", "").split(",") if a.strip())


def _refuse_weak_keys(env: Mapping[str, str]) -> None:
    """A short or patterned signing key can be guessed offline from any link it signed. Fine on a local stack only."""
    problems = secret_keys.weak_keys(env)
    if problems and not is_local(env):
        raise InsecureSettings(problems)


def _refuse_plain_s3_for_secure_pages(env: Mapping[str, str]) -> None:
    """Pages served over HTTPS that send documents to S3 over plain HTTP: browsers block the request
    (mixed content) and every applicant's upload would fall back to the form, or worse, a proxy on the
    way would see the documents. Fine on a local stack only."""
    pages = env.get("REGISTRO_PUBLIC_URL", "")
    s3 = env.get("S3_PUBLIC_URL", "")
    if pages.startswith("https://") and s3 and not s3.startswith("https://") and not is_local(env):
        raise InsecureSettings(["S3_PUBLIC_URL no usa https (las páginas se sirven por https; los documentos "
                                "irían sin cifrar)"])


def _refuse_open_proxy_trust(env: Mapping[str, str]) -> None:
    """TRUSTED_PROXIES without TRUSTED_PROXY_ADDRESSES believes X-Forwarded-For from any peer: anyone
    reaching a replica directly picks the address its rate limits count. Fine on a local stack only."""
    if int(env.get("TRUSTED_PROXIES", "0") or 0) and not _addresses(env) and not is_local(env):
        raise InsecureSettings(["TRUSTED_PROXY_ADDRESSES no está definida (con TRUSTED_PROXIES, indique las "
                                "direcciones del balanceador)"])
