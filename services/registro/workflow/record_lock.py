"""Serialises changes to one application's record.

Keycloak has no compare-and-set on attributes: two requests that read the `documentos`
attribute, change different entries and write it back would lose one change (two tabs
uploading at once, or an upload racing "Enviar a validación"). Every read-modify-write of
an application's record by the applicant side therefore runs holding a short lease in S3 —
the same conditional-write lease the review console claims with — so replicas serialise too.
"""
from __future__ import annotations

import secrets
import time
from contextlib import contextmanager
from typing import Iterator

from ..adapters.storage import ObjectStore, StorageUnavailable
from ..domain.storage_keys import edit_lock_key
from .leases import LeaseHeld, Leases, Reviewer

HOLD_S = 30  # longer than any single change takes; a crashed holder blocks no longer than this
WAIT_S = 10.0


class ApplicationBusy(Exception):
    message = "Hay otro cambio en curso en su solicitud. Espere unos segundos e intente de nuevo."


@contextmanager
def editing(storage: ObjectStore, account_id: str, *, wait_s: float = WAIT_S) -> Iterator[None]:
    leases = Leases(storage, HOLD_S, key_of=edit_lock_key)
    holder = Reviewer(id=secrets.token_hex(8), username="solicitud")
    deadline = time.monotonic() + wait_s
    while True:
        try:
            leases.claim(account_id, holder)
            break
        except LeaseHeld:
            if time.monotonic() > deadline:
                raise ApplicationBusy() from None
            time.sleep(0.05)  # polling another holder's short lease, not a fixed wait for a state
    try:
        yield
    finally:
        try:
            leases.release(account_id, holder)
        except StorageUnavailable:
            pass  # the lease expires on its own after HOLD_S
