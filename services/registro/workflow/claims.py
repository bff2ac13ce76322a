"""One person, one account (SPEC §4), enforced by something atomic at create.

Keycloak itself refuses, atomically, a second account with the same username (unique constraint on
realm + username) or the same email (unique constraint on realm + email, because the realm has
`duplicateEmailsAllowed: false`; checked by tests/unit/test_claims.py). A Mexican's
username is the RFC, so the Mexican's RFC and the email need no claim of their own: registration maps
Keycloak's 409 to DuplicateApplicant. What Keycloak does not guard — the CURP, a foreigner's RFC
(their username is random), country + passport — and the folio are claimed here, before an account
is created, by a conditional create in S3 (`PUT` with `If-None-Match: *`): of any number of
concurrent registrations with the same CURP exactly one create succeeds, on every replica (versitygw
honours it; checked by tests/integration/test_concurrency.py). Keycloak attribute searches, which
grow with the realm, are not on the registration path: a claim is found by its key, in constant time.

`identifiers_of` is the one definition of what is claimed and therefore released. Email and Mexican
RFC claims written by earlier versions may still be in the bucket: nothing reads them any more, so
they block no one (the purge of their account, or nobody, deletes them; they are harmless).

A claim names the username of the account it is for. It stops counting, and may be taken over
(compare-and-swap on its ETag), when it is older than `GRACE_S` and no account with that username
exists or that account was rejected or holds another value — the leftovers of a registration that
crashed half-way, or of an account deleted by hand. Claims are released (deleted) on rollback, on
purge and on rejection (SPEC §9: a rejected person may apply again).

Keys hold a SHA-256 of the normalised value, never the value itself: keys end up in S3 logs.
Accounts created before claims existed need `python -m registro.claims backfill` once.
"""
from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
from dataclasses import dataclass, field
from typing import Iterable, Mapping

from keycloak_ext import Account

from ..adapters.identity import IdentityDirectory
from ..adapters.storage import ObjectMissing, ObjectStore, StorageUnavailable
from ..domain import status
from .process_pool import ProcessPool

log = logging.getLogger(__name__)

PREFIX = "unicidad/"
GRACE_S = 120.0  # longer than any registration takes: a younger claim is a registration in flight
_JSON = "application/json"
_ATTEMPTS = 4

# Form field → how the account stores it (to tell a live owner from a stale claim).
CURP, RFC, PASAPORTE, FOLIO = "curp", "rfc", "pasaporte", "folio"


def normalise(kind: str, value: str) -> str:
    return value.strip().upper()


def claim_key(kind: str, value: str) -> str:
    digest = hashlib.sha256(f"{kind}\x00{normalise(kind, value)}".encode()).hexdigest()
    return f"{PREFIX}{kind}/{digest}.json"


def passport_value(pais: str, pasaporte: str) -> str:
    return f"{pais.strip().upper()}:{pasaporte.strip().upper()}"


def identifiers_of(attributes: Mapping[str, str], *, folio: bool = False) -> dict[str, str]:
    """The identifiers an application claims (empty ones left out), with `folio` its folio too: the
    one definition of what registration claims and what purge, rejection, cancellation and backfill
    release. Not the email nor a Mexican's RFC (their username): Keycloak refuses their duplicates."""
    ids = {CURP: attributes.get("curp", "")}
    if attributes.get("es_extranjero") == "true":
        ids[RFC] = attributes.get("rfc", "")
        if attributes.get("pasaporte"):
            ids[PASAPORTE] = passport_value(attributes.get("pais", ""), attributes["pasaporte"])
    if folio:
        ids[FOLIO] = attributes.get("folio", "")
    return {k: v for k, v in ids.items() if v}


def _owned_value(kind: str, account: Account) -> str:
    if kind == PASAPORTE:
        return passport_value(account.attr("pais"), account.attr("pasaporte")) if account.attr("pasaporte") else ""
    return account.attr(kind)


def account_holding(storage: ObjectStore, identity: IdentityDirectory, kind: str, value: str) -> Account | None:
    """The account that holds `value`, found through its claim: the claim names the username, Keycloak
    finds the account by it — two reads by key, in constant time whatever the size of the realm (no
    attribute search). None when nobody claims the value, or the claim is a registration's in flight or
    a stale one (no such account, or it holds another value). Raises StorageUnavailable, IdentityError."""
    try:
        username = _Body.from_json(storage.get(claim_key(kind, value))).username
    except ObjectMissing:
        return None
    except (ValueError, KeyError):
        log.warning("reclamo ilegible: %s", kind)
        return None
    account = identity.find_by_username(username)
    if account is None or normalise(kind, _owned_value(kind, account)) != normalise(kind, value):
        return None
    return account


_POOL = ProcessPool(max_workers=16, name="reclamos")


class Taken(Exception):
    """These identifiers (form field names) already belong to an account or a registration in flight."""

    def __init__(self, fields: list[str]) -> None:
        super().__init__(", ".join(fields))
        self.fields = fields


@dataclass(frozen=True)
class _Body:
    username: str
    token: str
    claimed_at: float

    def to_json(self) -> bytes:
        return json.dumps({"username": self.username, "token": self.token, "claimed_at": self.claimed_at},
                          separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: bytes) -> "_Body":
        raw = json.loads(data)
        return cls(str(raw["username"]), str(raw["token"]), float(raw["claimed_at"]))


@dataclass
class Held:
    """Claims this registration holds; `release` gives them back (rollback)."""
    token: str
    username: str
    keys: list[str] = field(default_factory=list)


class Claims:
    def __init__(self, storage: ObjectStore, identity: IdentityDirectory, *, clock=time.time,
                 grace_s: float = GRACE_S) -> None:
        self.storage = storage
        self.identity = identity
        self.clock = clock
        self.grace_s = grace_s

    # --- claiming -----------------------------------------------------------------------------
    def claim_all(self, identifiers: Mapping[str, str], username: str) -> Held:
        """Claims every identifier for `username`. Raises Taken naming every identifier someone else
        holds (then nothing stays claimed), StorageUnavailable or IdentityUnavailable."""
        held = Held(token=secrets.token_hex(12), username=username.lower())
        body = _Body(held.username, held.token, self.clock())
        taken: list[str] = []
        errors: list[BaseException] = []
        # The claims are independent requests: sent together they cost one S3 round trip, not four.
        futures = {kind: _POOL.get().submit(self._claim, claim_key(kind, value), kind, value, body)
                   for kind, value in identifiers.items()}
        for kind, future in futures.items():
            try:
                if future.result():
                    held.keys.append(claim_key(kind, identifiers[kind]))
                else:
                    taken.append(kind)
            except BaseException as exc:  # noqa: BLE001 — re-raised below once every claim is settled
                errors.append(exc)
        if errors:
            self.release(held)
            raise errors[0]
        if taken:
            self.release(held)
            raise Taken(taken)
        return held

    def _claim(self, key: str, kind: str, value: str, body: _Body) -> bool:
        for _ in range(_ATTEMPTS):
            if self.storage.put_if_absent(key, body.to_json(), content_type=_JSON):
                return True
            try:
                data, etag = self.storage.get_with_etag(key)
                existing = _Body.from_json(data)
            except ObjectMissing:
                continue  # released between our write and our read: try again
            except (ValueError, KeyError):
                time.sleep(0.01)  # a torn read of an object being overwritten: read it again
                continue
            if existing.token == body.token:
                return True
            if not self._stale(existing, kind, value):
                return False
            if self.storage.replace_if_match(key, body.to_json(), etag, content_type=_JSON):
                log.info("reclamo abandonado reutilizado: %s", kind)
                return True
        return False

    def _stale(self, existing: _Body, kind: str, value: str) -> bool:
        if self.clock() - existing.claimed_at < self.grace_s:
            return False  # a registration in flight, or one that just finished
        if kind == FOLIO:
            return False  # folios are never reused, even after their account is gone
        owner = self.identity.find_by_username(existing.username)  # exact username: an indexed lookup
        if owner is None or owner.attr("estatus") == status.RECHAZADO:
            return True
        return normalise(kind, _owned_value(kind, owner)) != normalise(kind, value)

    # --- releasing ----------------------------------------------------------------------------
    def release(self, held: Held) -> None:
        """Deletes the claims this registration made (only those still holding its token)."""
        for key in held.keys:
            self._release_key(key, lambda body: body.token == held.token)
        held.keys.clear()

    def release_account(self, account: Account, *, include_folio: bool = False) -> None:
        """On purge and rejection: frees the account's identifiers (those whose claim names it)."""
        ids = identifiers_of(account.attributes, folio=include_folio)
        username = account.username.lower()
        for kind, value in ids.items():
            self._release_key(claim_key(kind, value), lambda body: body.username == username)

    def _release_key(self, key: str, ours) -> None:
        try:
            data = self.storage.get(key)
            if ours(_Body.from_json(data)):
                self.storage.delete(key)
        except ObjectMissing:
            pass
        except (ValueError, KeyError):
            log.warning("reclamo ilegible; se deja para que caduque: %s", key)
        except StorageUnavailable:
            # Left behind: once GRACE_S passes and its account is gone or rejected it no longer counts.
            log.warning("no se pudo liberar un reclamo de unicidad: %s", key)

    # --- accounts made before claims existed -----------------------------------------------------
    def backfill(self, accounts: Iterable[Account]) -> int:
        """Claims the identifiers of existing accounts (idempotent). Returns how many were created."""
        created = 0
        for account in accounts:
            if not account.attr("estatus") or account.attr("estatus") == status.RECHAZADO:
                continue
            ids = identifiers_of(account.attributes, folio=True)
            body = _Body(account.username.lower(), "backfill", account.created_ms / 1000)
            for kind, value in ids.items():
                if self.storage.put_if_absent(claim_key(kind, value), body.to_json(), content_type=_JSON):
                    created += 1
        return created
