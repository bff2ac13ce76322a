"""Serialises changes to one application's record: the one locked path for every read-modify-write.

Two requests that read an application, change different parts and write it back would lose one
change (two tabs uploading at once, an upload racing "Enviar a validación" or "Reenviar correo",
which rotates the link). Every read-modify-write by the applicant side therefore runs through
`update_record` (or inside `editing`), which holds the application's row lock in PostgreSQL
(kernel/records.py: `SELECT … FOR UPDATE`) from the read to the commit: replicas serialise too, a
crashed holder's lock ends with its connection, and no clock is involved.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

from keycloak_ext import Account, AccountNotFound

from registro.kernel.records import LockedRecord, RecordDirectory
from registro.kernel.records import RecordBusy as ApplicationBusy  # noqa: F401 - the name the web layer catches (503 + retry)


@contextmanager
def editing(identity: RecordDirectory, account_id: str) -> Iterator[LockedRecord]:
    """The application's row, locked until the block ends; change it only through the yielded record
    (`update`, `delete_account`): another write of the same application from inside would wait for
    this very lock. AccountNotFound when the application is gone or has none (an account only)."""
    with identity.locked(account_id) as held:
        if held is None:
            raise AccountNotFound(account_id)
        yield held


def update_record(identity: RecordDirectory, account_id: str, change: Callable[[Account], dict], *,
                  written: Callable[[], None] | None = None) -> Account:
    """Reads the application under its lock, asks `change` for the update (keyword arguments of
    `update_account`: attributes, enabled, email_verified…; it may raise to refuse) and writes it,
    in one transaction. `change` may block (an upload waits there for its object and its content
    check, so that taking the lock and reading overlap them); other changes of this application
    wait meanwhile, up to the lock's bound (then ApplicationBusy: a retry completes).

    `written`, if given, is called once the change is committed (an upload deletes the object it
    replaced there: never before the record stops naming it)."""
    with editing(identity, account_id) as held:
        changes = change(held.account)
        if not changes:
            return held.account
        updated = held.update(**changes)
    if written is not None:
        written()
    return updated
