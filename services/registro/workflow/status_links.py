"""The applicant's own link to "Consultar mi solicitud" (/consulta/<token>).

Signed with the service's key and bound to one application; it only shows, so it does not rotate
like the activation link (an old email keeps working) but expires after STATUS_LINK_TTL_DAYS.
A new one is sent by email to whoever knows both the folio and the registered address; the answer
never tells whether they matched (see web/status_page.py).
"""
from __future__ import annotations

import logging
import secrets
import threading
from dataclasses import dataclass
from typing import Callable

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from keycloak_ext import IdentityError

from ..adapters.identity import IdentityDirectory
from ..adapters.mail import Mailer, MailUnavailable, OutgoingEmail
from ..adapters.storage import ObjectStore, StorageUnavailable
from ..config import Settings
from ..domain.application import Application
from . import claims

log = logging.getLogger(__name__)

_SALT = "acceso-unico/consulta-solicitud"
STATUS_PATH = "/consulta/"


class StatusLinkInvalid(Exception):
    """Tampered, malformed or expired."""


@dataclass(frozen=True)
class StatusLinkSigner:
    secret_key: str | tuple[str, ...]  # several during a key rotation: the last signs
    ttl_s: int

    def _serializer(self) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(self.secret_key, salt=_SALT)

    def issue(self, account_id: str) -> str:
        return self._serializer().dumps({"a": account_id})

    def read(self, token: str) -> str:
        try:
            data = self._serializer().loads(token, max_age=self.ttl_s)
        except (SignatureExpired, BadSignature):
            raise StatusLinkInvalid() from None
        if not isinstance(data, dict) or not isinstance(data.get("a"), str) or not data["a"]:
            raise StatusLinkInvalid()
        return data["a"]


def signer(settings: Settings) -> StatusLinkSigner:
    return StatusLinkSigner(tuple(settings.signing_keys), settings.status_link_ttl_s)


def status_url(settings: Settings, account_id: str) -> str:
    return f"{settings.public_url}{STATUS_PATH}{signer(settings).issue(account_id)}"


def _same_address(a: str, b: str) -> bool:
    return secrets.compare_digest(a.strip().lower().encode(), b.strip().lower().encode())


def status_link_email(identity: IdentityDirectory, storage: ObjectStore, folio: str, email: str,
                      compose) -> OutgoingEmail | None:
    """The email carrying a new status link when `folio` and `email` belong to one application, else None.
    The folio is found through its uniqueness claim (claims.account_holding), not a Keycloak attribute
    search, which grows with the realm (62 ms at 20,000 accounts, 1.6 s at 200,000) on a page anyone can
    call. `compose` is emails.compose (passed in: the workflow
    stays free of Flask)."""
    folio = folio.strip().upper()
    if not folio or not email.strip():
        return None
    account = claims.account_holding(storage, identity, claims.FOLIO, folio)
    if account is None or not account.email or not _same_address(account.email, email):
        return None
    application = Application(account)
    return compose("consulta", account.email, {"nombre": application.full_name, "folio": folio},
                   locale=account.attr("locale"), account_id=account.id)


def deliver_in_background(mailer: Mailer, message: Callable[[], OutgoingEmail | None]) -> threading.Thread:
    """Looks the application up and sends off the request path, so the answer, and the time it takes,
    are the same whether or not folio and email match (or the folio exists at all)."""
    def send() -> None:
        try:
            email = message()
            if email is not None:
                mailer.send(email)
        except (MailUnavailable, IdentityError, StorageUnavailable) as exc:
            log.warning("enlace de consulta no enviado (%s)", type(exc).__name__)
    thread = threading.Thread(target=send, name="consulta-correo", daemon=True)
    thread.start()
    return thread
