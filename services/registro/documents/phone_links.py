"""The phone as a camera (issue 23): most applicants register at a desk without a camera. The activation
page offers a QR and a short code that open that application's uploads on a phone, with the camera as
the file input; the desktop page shows what the phone uploaded within seconds (documents/phone_views.py).

Rules:
- 15 minutes from its creation, and single use: the first phone that opens the link (the QR's token,
  or the code typed at /movil) gets a session of its own (a cookie), and the link opens nothing else
  afterwards. The session ends with the link's 15 minutes.
- A newer link of the same application revokes the older one (and its session); so does "Desconectar".
- Every request of the phone re-reads the application: once it was submitted (or decided, or its
  personal link replaced), the phone's session is revoked and answers nothing.
- Only hashes are stored (PostgreSQL, platform/db/schema.py `phone_links`): SHA-256 of the token and
  of the session (32 random bytes each), an HMAC of the code under the service's key (eight
  characters of a 32-letter alphabet, 40 bits: a plain hash of it could be reversed by trying them all).
  Guesses of codes are rate-limited (documents/phone_views.py).

`PhoneLinkStore` is the seam: `PgPhoneLinkStore` here, an in-memory twin in tests/fakes.py, both
checked by tests/support/phone_links_contract.py.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Protocol, runtime_checkable

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from registro.platform.db import Database
from registro.platform.db.schema import phone_links

TTL = timedelta(minutes=15)
CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # 32 letters: no 0/O, 1/I to misread on a screen
CODE_LENGTH = 8
KEEP_EXPIRED = timedelta(days=1)  # expired rows are deleted after this (nothing personal in them, only ids)


@dataclass(frozen=True)
class PhoneLink:
    id: int
    account_id: str
    link_version: str
    expires_at: datetime
    used: bool
    uploaded_at: datetime | None = None


@dataclass(frozen=True)
class NewLink:
    """What the desktop page shows once: the secrets themselves are never stored."""
    link: PhoneLink
    token: str
    code: str

    @property
    def code_shown(self) -> str:
        return f"{self.code[:4]}-{self.code[4:]}"


class CodeTaken(Exception):
    """The drawn code is held by another open link: draw another."""


@runtime_checkable
class PhoneLinkStore(Protocol):
    def create(self, account_id: str, link_version: str, token_hash: str, code_hash: str,
               expires_at: datetime) -> PhoneLink:
        """A new link; the application's earlier links (and their sessions) are revoked in the same
        transaction. Raises CodeTaken when an open link holds `code_hash`."""
        ...

    def redeem(self, token_hash: str, code_hash: str, session_hash: str, now: datetime) -> PhoneLink | None:
        """Opens the link whose token (or code: pass "" for the other) is given, if it is neither used,
        revoked nor expired; it is then used, its session `session_hash`. None otherwise."""
        ...

    def session(self, session_hash: str, now: datetime) -> PhoneLink | None:
        """The link a phone's session belongs to, while it is neither revoked nor expired."""
        ...

    def uploaded(self, link_id: int, now: datetime) -> None:
        """The phone uploaded a document (what the desktop page polls)."""
        ...

    def current(self, account_id: str, now: datetime) -> PhoneLink | None:
        """The application's link that is neither revoked nor expired, if any."""
        ...

    def revoke(self, account_id: str, now: datetime) -> None:
        """Ends every link of the application and their sessions."""
        ...


class PgPhoneLinkStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    @staticmethod
    def _link(row) -> PhoneLink:
        return PhoneLink(row.id, row.account_id, row.link_version, row.expires_at, row.used_at is not None,
                         row.uploaded_at)

    def create(self, account_id: str, link_version: str, token_hash: str, code_hash: str,
               expires_at: datetime) -> PhoneLink:
        p = phone_links
        try:
            with self.db.transaction() as conn:
                conn.execute(update(p).where(p.c.account_id == account_id, p.c.revoked_at.is_(None))
                             .values(revoked_at=func.now()))
                conn.execute(delete(p).where(p.c.expires_at < func.now() - KEEP_EXPIRED))
                row = conn.execute(insert(p).values(account_id=account_id, link_version=link_version,
                                                    token_hash=token_hash, code_hash=code_hash,
                                                    expires_at=expires_at).returning(p)).one()
                return self._link(row)
        except IntegrityError as exc:
            constraint = getattr(getattr(exc.orig, "diag", None), "constraint_name", "") or ""
            if constraint == "uq_phone_links_code_open":
                raise CodeTaken() from None
            raise

    def redeem(self, token_hash: str, code_hash: str, session_hash: str, now: datetime) -> PhoneLink | None:
        p = phone_links
        which = p.c.token_hash == token_hash if token_hash else p.c.code_hash == code_hash
        with self.db.transaction() as conn:
            row = conn.execute(update(p).where(which, p.c.used_at.is_(None), p.c.revoked_at.is_(None),
                                               p.c.expires_at > now)
                               .values(used_at=now, session_hash=session_hash).returning(p)).one_or_none()
        return None if row is None else self._link(row)

    def session(self, session_hash: str, now: datetime) -> PhoneLink | None:
        p = phone_links
        with self.db.transaction() as conn:
            row = conn.execute(select(p).where(p.c.session_hash == session_hash, p.c.revoked_at.is_(None),
                                               p.c.expires_at > now)).one_or_none()
        return None if row is None else self._link(row)

    def uploaded(self, link_id: int, now: datetime) -> None:
        p = phone_links
        with self.db.transaction() as conn:
            conn.execute(update(p).where(p.c.id == link_id).values(uploaded_at=now))

    def current(self, account_id: str, now: datetime) -> PhoneLink | None:
        p = phone_links
        with self.db.transaction() as conn:
            row = conn.execute(select(p).where(p.c.account_id == account_id, p.c.revoked_at.is_(None),
                                               p.c.expires_at > now)
                               .order_by(p.c.id.desc()).limit(1)).one_or_none()
        return None if row is None else self._link(row)

    def revoke(self, account_id: str, now: datetime) -> None:
        p = phone_links
        with self.db.transaction() as conn:
            conn.execute(update(p).where(p.c.account_id == account_id, p.c.revoked_at.is_(None))
                         .values(revoked_at=now))


# --- the secrets ---------------------------------------------------------------------------------------
def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def token_hash(token: str) -> str:
    return hashlib.sha256(f"movil-enlace:{token}".encode()).hexdigest()


def session_hash(session: str) -> str:
    return hashlib.sha256(f"movil-sesion:{session}".encode()).hexdigest()


def normalise_code(typed: str) -> str:
    """What a person types, as the code: any case, with or without the dash or spaces."""
    return "".join(ch for ch in (typed or "").upper() if ch.isalnum())


def code_hash(key: str, code: str) -> str:
    return hmac.new(key.encode(), f"movil-codigo:{normalise_code(code)}".encode(), hashlib.sha256).hexdigest()


def new_link(store: PhoneLinkStore, key: str, account_id: str, link_version: str,
             now: datetime | None = None) -> NewLink:
    """A fresh link for the application (its earlier ones revoked)."""
    now = now or utcnow()
    for _ in range(5):
        token = secrets.token_urlsafe(32)
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        try:
            link = store.create(account_id, link_version, token_hash(token), code_hash(key, code), now + TTL)
        except CodeTaken:
            continue
        return NewLink(link=link, token=token, code=code)
    raise CodeTaken()


def redeem(store: PhoneLinkStore, key: str, *, token: str = "", code: str = "",
           now: datetime | None = None) -> tuple[PhoneLink, str] | None:
    """(the link, the phone's new session secret) when the token or code opens a link; else None."""
    if not token and len(normalise_code(code)) != CODE_LENGTH:
        return None
    session = secrets.token_urlsafe(32)
    link = store.redeem(token_hash(token) if token else "", "" if token else code_hash(key, code),
                        session_hash(session), now or utcnow())
    return None if link is None else (link, session)
