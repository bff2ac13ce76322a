"""Personal confirmation links: signed, expiring, bound to one application, newest only.

The token carries the account id and a version; the account's `enlace_version`
attribute holds the current version, so issuing a new link (resend, correction)
makes every earlier one fail without keeping any list of old tokens.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Sequence

from itsdangerous import BadPayload, BadSignature, SignatureExpired, URLSafeTimedSerializer

_SALT = "acceso-unico/enlace-confirmacion"


class LinkInvalid(Exception):
    """Tampered, malformed or not for this service."""


class LinkExpired(Exception):
    def __init__(self, account_id: str | None) -> None:
        super().__init__("enlace expirado")
        self.account_id = account_id  # lets the expired page offer a fresh link


class LinkSuperseded(Exception):
    def __init__(self, account_id: str) -> None:
        super().__init__("enlace reemplazado por uno más reciente")
        self.account_id = account_id


@dataclass(frozen=True)
class LinkClaims:
    account_id: str
    version: str


def new_version() -> str:
    return secrets.token_urlsafe(12)


class LinkSigner:
    def __init__(self, secret_key: str | Sequence[str], ttl_s: int) -> None:
        # A list of keys (oldest first) verifies with each and signs with the last: see secret_keys.py.
        self._serializer = URLSafeTimedSerializer(secret_key, salt=_SALT)
        self.ttl_s = ttl_s

    def issue(self, account_id: str, version: str) -> str:
        return self._serializer.dumps({"a": account_id, "v": version})

    def read(self, token: str) -> LinkClaims:
        """Checks signature and age; the caller compares the version with the account's."""
        try:
            data = self._serializer.loads(token, max_age=self.ttl_s)
        except SignatureExpired as exc:
            # itsdangerous hands the still-encoded payload to SignatureExpired: decode it to name the account.
            payload = exc.payload
            if isinstance(payload, (bytes, str)):
                try:
                    payload = self._serializer.load_payload(payload)
                except BadPayload:
                    payload = None
            payload = payload if isinstance(payload, dict) else {}
            account_id = payload.get("a")
            raise LinkExpired(account_id if isinstance(account_id, str) else None) from exc
        except BadSignature as exc:
            raise LinkInvalid() from exc
        if not isinstance(data, dict) or not isinstance(data.get("a"), str) or not isinstance(data.get("v"), str):
            raise LinkInvalid()
        return LinkClaims(account_id=data["a"], version=data["v"])

    def verify_current(self, token: str, current_version: str) -> LinkClaims:
        claims = self.read(token)
        if not current_version or not secrets.compare_digest(claims.version, current_version):
            raise LinkSuperseded(claims.account_id)
        return claims
