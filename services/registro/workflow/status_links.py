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

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from ..adapters.identity import IdentityDirectory
from ..adapters.mail import Mailer, MailUnavailable, OutgoingEmail
from ..config import Settings
from ..domain.application import Application

log = logging.getLogger(__name__)

_SALT = "acceso-unico/consulta-solicitud"
STATUS_PATH = "/consulta/"


class StatusLinkInvalid(Exception):
    """Tampered, malformed or expired."""


@dataclass(frozen=True)
class StatusLinkSigner:
    secret_key: str
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
    return StatusLinkSigner(settings.secret_key, settings.status_link_ttl_s)


def status_url(settings: Settings, account_id: str) -> str:
    return f"{settings.public_url}{STATUS_PATH}{signer(settings).issue(account_id)}"


def _same_address(a: str, b: str) -> bool:
    return secrets.compare_digest(a.strip().lower().encode(), b.strip().lower().encode())


def status_link_email(identity: IdentityDirectory, folio: str, email: str, compose) -> OutgoingEmail | None:
    """The email carrying a new status link when `folio` and `email` belong to one application, else None.
    `compose` is emails.compose (passed in: the workflow stays free of Flask)."""
    folio = folio.strip().upper()
    if not folio or not email.strip():
        return None
    matches = identity.find_by_attribute("folio", folio, max_results=2)
    account = next((a for a in matches if a.attr("folio") == folio and a.email and _same_address(a.email, email)),
                   None)
    if account is None:
        return None
    application = Application(account)
    return compose("consulta", account.email, {"nombre": application.full_name, "folio": folio},
                   locale=account.attr("locale"), account_id=account.id)


def deliver_in_background(mailer: Mailer, message: OutgoingEmail) -> threading.Thread:
    """Sends off the request path, so the answer takes the same time whether or not an email goes out."""
    def send() -> None:
        try:
            mailer.send(message)
        except MailUnavailable:
            log.warning("enlace de consulta no enviado")
    thread = threading.Thread(target=send, name="consulta-correo", daemon=True)
    thread.start()
    return thread
