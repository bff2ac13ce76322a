"""The applicant's own link to "Consultar mi solicitud" (/consulta/<token>), which every email about an
application carries.

Signed with the service's key and bound to one application; it only shows, so it does not rotate
like the activation link (an old email keeps working) but expires after STATUS_LINK_TTL_DAYS.
"""
from __future__ import annotations

from dataclasses import dataclass

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from registro.config import Settings

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
