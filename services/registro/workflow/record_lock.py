"""Serialises changes to one application's record: the one locked path for every read-modify-write.

Keycloak has no compare-and-set on attributes: two requests that read the account, change
different attributes and write it back lose one change (two tabs uploading at once, an upload
racing "Enviar a validación" or "Reenviar correo", which rotates the link). Every read-modify-write
of an application by the applicant side therefore runs through `update_record` (or inside
`editing`), holding a short lock object in S3, so replicas serialise too.

The lock is one small JSON object created with a conditional create (If-None-Match: *) and deleted
by its holder: an uncontended change costs two S3 round trips (create, delete). A holder that
crashed blocks no longer than HOLD_S: an expired lock is taken over by compare-and-swap on its
ETag. So a holder may release with a plain delete while its hold is younger than FRESH_S (nobody
can have taken it over yet: that takes a clock HOLD_S - FRESH_S ahead of ours); an older hold is
read back first and deleted only if it is still ours. For the same reason `update_record` writes
only under a fresh hold: a change that waited longer (a slow upload check, a slow Keycloak) is
read and decided again under a new one. versitygw may answer a read of an object being
overwritten with a torn body or an error; such reads are retried instead of failing the
applicant's request.
"""
from __future__ import annotations

import json
import secrets
import time
from contextlib import contextmanager
from typing import Callable, Iterator

from keycloak_ext import Account

from ..adapters.identity import IdentityDirectory
from ..adapters.storage import ObjectMissing, ObjectStore, StorageUnavailable
from ..domain.storage_keys import edit_lock_key

HOLD_S = 30  # longer than any single change takes; a crashed holder blocks no longer than this
FRESH_S = HOLD_S / 2  # a hold younger than this cannot have been taken over
WAIT_S = 10.0
_JSON = "application/json"
_POLL_S = 0.02
_READ_RETRIES = 5


class ApplicationBusy(Exception):
    message = "Hay otro cambio en curso en su solicitud. Espere unos segundos e intente de nuevo."


class Hold:
    """One holding of the lock; `fresh` while nobody can have taken it over."""

    def __init__(self) -> None:
        self.since = time.monotonic()

    @property
    def fresh(self) -> bool:
        return time.monotonic() - self.since < FRESH_S


def _read(storage: ObjectStore, key: str) -> tuple[dict, str] | None:
    """The lock object and its ETag; None when absent. Torn reads are read again."""
    for attempt in range(_READ_RETRIES):
        try:
            data, etag = storage.get_with_etag(key)
            lock = json.loads(data)
            if isinstance(lock, dict) and "holder" in lock:
                return lock, etag
        except ObjectMissing:
            return None
        except (ValueError, StorageUnavailable):
            if attempt == _READ_RETRIES - 1:
                raise StorageUnavailable("el bloqueo de edición no se pudo leer")
        time.sleep(_POLL_S * (attempt + 1))  # the concurrent write finishes in milliseconds
    raise StorageUnavailable("el bloqueo de edición no se pudo leer")


def _acquire(storage: ObjectStore, key: str, holder: str, wait_s: float) -> Hold:
    deadline = time.monotonic() + wait_s
    while True:
        hold = Hold()  # counted from before the write that may take the lock: never younger than it is
        body = json.dumps({"holder": holder, "expires_at": time.time() + HOLD_S}).encode()
        if storage.put_if_absent(key, body, content_type=_JSON):
            return hold
        current = _read(storage, key)
        if current is not None:
            lock, etag = current
            if float(lock.get("expires_at", 0)) < time.time():
                hold = Hold()
                if storage.replace_if_match(key, body, etag, content_type=_JSON):
                    return hold
                continue
        if time.monotonic() > deadline:
            raise ApplicationBusy()
        time.sleep(_POLL_S)  # polling another holder's short lock, not a fixed wait for a state


def _release(storage: ObjectStore, key: str, holder: str, hold: Hold) -> None:
    try:
        if hold.fresh:
            storage.delete(key)
            return
        current = _read(storage, key)
        if current is not None and current[0].get("holder") == holder:
            storage.delete(key)
    except StorageUnavailable:
        pass  # the lock expires on its own after HOLD_S


@contextmanager
def editing(storage: ObjectStore, account_id: str, *, wait_s: float | None = None) -> Iterator[Hold]:
    key = edit_lock_key(account_id)
    holder = secrets.token_hex(8)
    hold = _acquire(storage, key, holder, WAIT_S if wait_s is None else wait_s)
    try:
        yield hold
    finally:
        _release(storage, key, holder, hold)


def update_record(identity: IdentityDirectory, storage: ObjectStore, account_id: str,
                  change: Callable[[Account], dict], *, attempts: int = 1,
                  written: Callable[[], None] | None = None) -> Account:
    """Reads the account under the lock, asks `change` for the update (keyword arguments of
    `update_account`: attributes, enabled, email_verified…; it may raise to refuse) and writes it.

    Nothing is written under a hold that is no longer fresh (`change` may block: an upload waits
    there for its object and its content check, so that taking the lock and reading the account
    overlap them). Then, with `attempts` > 1, the account is read and `change` asked again under
    a new hold (so `change` must decide from the account it is given only); otherwise, or when
    the attempts run out, ApplicationBusy: a retry of the whole request completes it.

    `written`, if given, is called right after a successful write, before the lock is released
    (an upload starts deleting the object it replaced there, so both round trips overlap)."""
    for _ in range(attempts):
        with editing(storage, account_id) as hold:
            account = identity.get_account(account_id)
            changes = change(account)
            if not changes:
                return account
            if hold.fresh:
                updated = identity.update_account(account_id, base=account, **changes)
                if written is not None:
                    written()
                return updated
    raise ApplicationBusy()
