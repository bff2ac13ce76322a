"""The application's record lives in registro's PostgreSQL; Keycloak keeps the account (issue 20).

`RecordedIdentity` is the identity port (adapters/identity.IdentityDirectory) the whole service uses:
one seam, so every feature keeps reading an application as an `Account` with attributes while the
attributes' owner changed underneath:
- the `applications` row holds the record: the applicant's data, status (`estatus`, also a column for
  indexed queries), documents, link version, submission time, the reviewer's reasons and decision,
  and copies of the account's names, email and flags as registro last set them;
- Keycloak holds the account: username, email, names, enabled, email verified, the user-type group,
  and the few attributes tokens and Keycloak's own pages need (KEPT_IN_KEYCLOAK: the claims the
  modules read, the locale of Keycloak's emails, and the folio by which the reconciler recognises an
  account made by an interrupted registration).

Reading an application is one indexed query and no Keycloak call. A change of the record is one
transaction holding the row's lock (`SELECT … FOR UPDATE`): the lock is what serialises an upload, a
submission and a link rotation of one application (kernel/record_lock.py), in every replica, with
no clock involved. A rejection (`estatus` becoming `rechazado`) also ends the row's `activa` state and
releases its identifiers in that transaction (SPEC §9: the person may apply again). A change that
also concerns the account (enabled, email verified, a kept attribute) calls Keycloak inside that
transaction, before the commit: if Keycloak refuses, nothing changed; if the commit fails after Keycloak
accepted, a retry repeats both (the changes are idempotent). Accounts with no application (reviewers, supervisors) are Keycloak's alone.

What is not mirrored: an operator editing an applicant's names or email in Keycloak's admin console
changes the account (tokens, Keycloak's emails) but not the application's copy, which keeps what the
applicant submitted (the responsiva carries it too).
"""
from __future__ import annotations

import contextlib
import uuid
from datetime import datetime, timezone
from typing import Any, ContextManager, Iterator, Mapping, Protocol, runtime_checkable

from keycloak_ext import Account, AccountNotFound
from sqlalchemy import case, delete, func, insert, select, update
from sqlalchemy.engine import Connection, Row
from sqlalchemy.exc import OperationalError

from registro.adapters.identity import IdentityDirectory
from registro.platform import outbox
from registro.platform.db import Database
from registro.platform.db.schema import (ACTIVA, CANCELADA, CREANDO, RECHAZADA, applications, decisions, identifiers,
                                  review_leases)
from registro.domain import status
from registro.domain.search_text import search_text_of

KEPT_IN_KEYCLOAK = frozenset({"tipo_usuario", "curp", "rfc", "es_extranjero", "locale", "folio"})
REJECTED_IN_REVIEW = "rechazada en revisión"  # the state_reason of a row its review rejected
_OPEN = (ACTIVA, RECHAZADA)  # states whose account exists: a rejected applicant still sees the status page


class RecordBusy(Exception):
    """Another change of the same application held its row longer than the database's lock wait
    (platform/db.LOCK_WAIT_S): a retry completes."""

    message = "Hay otro cambio en curso en su solicitud. Espere unos segundos e intente de nuevo."


def _kept(attributes: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in attributes.items() if k in KEPT_IN_KEYCLOAK}


def _moment(iso: str | None) -> datetime | None:
    if not iso:
        return None
    try:
        moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def record_columns(*, email: str, first_name: str, last_name: str, attributes: Mapping[str, str]) -> dict[str, Any]:
    """The row's columns derived from a record (what indexed queries read)."""
    record = {k: v for k, v in attributes.items() if v not in (None, "")}
    return {
        "record": record, "email": email, "first_name": first_name, "last_name": last_name,
        "estatus": record.get("estatus"), "submitted_at": _moment(record.get("fecha_envio")),
        "tipo_usuario": record.get("tipo_usuario", ""),
        "search_text": search_text_of(email=email, first_name=first_name, last_name=last_name, attributes=record),
    }


def _gone(row: Row) -> bool:
    """The application's account is gone (purged, deleted on request or in Keycloak's console): its row
    stays for history with no personal data, or it was cancelled."""
    return row.state not in _OPEN or not row.record


def _view(row: Row, account_id: str | None = None) -> Account:
    created = row.created_at
    return Account(id=account_id or row.account_id, username=row.username, email=row.email,
                   first_name=row.first_name, last_name=row.last_name, enabled=row.enabled,
                   email_verified=row.email_verified,
                   created_ms=int(created.timestamp() * 1000) if created else 0,
                   attributes={k: str(v) for k, v in (row.record or {}).items()})


@runtime_checkable
class RecordDirectory(IdentityDirectory, Protocol):
    """The identity port with the application's row lock: what record_lock.py needs."""

    def locked(self, account_id: str) -> ContextManager["LockedRecord | None"]: ...


class LockedRecord:
    """One application's row, locked until the transaction ends: read `account`, then `update`."""

    def __init__(self, identity: "RecordedIdentity", conn: Connection, row: Row) -> None:
        self._identity, self._conn, self._row = identity, conn, row
        self.account = _view(row)

    def update(self, *, enabled: bool | None = None, email_verified: bool | None = None,
               attributes: Mapping[str, str | None] | None = None, required_actions: list[str] | None = None,
               base: Account | None = None) -> Account:
        self.account = self._identity._write(self._conn, self._row, enabled=enabled, email_verified=email_verified,
                                             attributes=attributes, required_actions=required_actions)
        return self.account

    def delete_account(self) -> None:
        self._identity._delete(self._conn, self._row.account_id)


class RecordedIdentity:
    """IdentityDirectory: applications from PostgreSQL, accounts from Keycloak (`keycloak`)."""

    def __init__(self, accounts, db: Database) -> None:
        self.keycloak = accounts  # the gateway: the account's owner
        self.db = db

    # --- the record ---------------------------------------------------------------------------------
    def _row(self, conn: Connection, account_id: str, *, lock: bool = False) -> Row | None:
        query = select(applications).where(applications.c.account_id == account_id)
        if lock:
            query = query.with_for_update()
        return conn.execute(query).first()

    def get_account(self, account_id: str) -> Account:
        with self.db.transaction() as conn:
            row = self._row(conn, account_id)
        if row is None:
            return self.keycloak.get_account(account_id)
        if _gone(row):
            raise AccountNotFound(account_id)
        return _view(row)

    def _overlay(self, account: Account | None) -> Account | None:
        """An account found in Keycloak, seen as its application when it has one (an interrupted
        registration's account too: its row is still `creando`, found by the username)."""
        if account is None:
            return None
        with self.db.transaction() as conn:
            row = self._row(conn, account.id) or conn.execute(
                select(applications).where(applications.c.username == account.username,
                                           applications.c.state == CREANDO)).first()
        if row is None:
            return account
        if _gone(row):
            return account  # a cancelled application's account that Keycloak still has: the account alone
        view = _view(row, account.id)
        # Keycloak's own flags are the truth when we have just read them.
        return Account(**{**view.__dict__, "enabled": account.enabled, "email_verified": account.email_verified})

    def find_by_username(self, username: str) -> Account | None:
        return self._overlay(self.keycloak.find_by_username(username))

    def find_by_email(self, email: str) -> Account | None:
        return self._overlay(self.keycloak.find_by_email(email))

    def _where(self, name: str, value: str):
        a = applications
        if name == "folio":
            condition = a.c.folio == value
        elif name == "estatus":
            condition = a.c.estatus == value
        else:
            condition = a.c.record[name].astext == value
        return (condition, a.c.state.in_(_OPEN), a.c.email != "")

    def find_by_attribute(self, name: str, value: str, *, first: int = 0, max_results: int = 100) -> list[Account]:
        with self.db.transaction() as conn:
            rows = conn.execute(select(applications).where(*self._where(name, value))
                                .order_by(applications.c.created_at, applications.c.id)
                                .offset(first).limit(max_results)).all()
        return [_view(r) for r in rows]

    def iter_by_attribute(self, name: str, value: str, page_size: int = 200) -> Iterator[Account]:
        after = None
        while True:
            query = select(applications).where(*self._where(name, value))
            if after is not None:
                query = query.where(applications.c.id > after)
            with self.db.transaction() as conn:
                rows = conn.execute(query.order_by(applications.c.id).limit(page_size)).all()
            yield from (_view(r) for r in rows)
            if len(rows) < page_size:
                return
            after = rows[-1].id

    def count_by_attribute(self, name: str, value: str) -> int:
        with self.db.transaction() as conn:
            return conn.execute(select(func.count()).select_from(applications)
                                .where(*self._where(name, value))).scalar_one()

    @contextlib.contextmanager
    def locked(self, account_id: str) -> Iterator[LockedRecord | None]:
        """The application's row locked for one change (None: an account without application).
        RecordBusy when another change holds it longer than the database's lock wait (its connections'
        lock_timeout, platform/db.LOCK_WAIT_S)."""
        with self.db.transaction() as conn:
            try:
                row = self._row(conn, account_id, lock=True)
            except OperationalError as exc:
                if getattr(exc.orig, "sqlstate", "") == "55P03":  # lock_not_available
                    raise RecordBusy() from None
                raise
            if row is not None and _gone(row):
                raise AccountNotFound(account_id)
            yield LockedRecord(self, conn, row) if row is not None else None

    def _write(self, conn: Connection, row: Row, *, enabled: bool | None, email_verified: bool | None,
               attributes: Mapping[str, str | None] | None, required_actions: list[str] | None) -> Account:
        record = dict(row.record or {})
        for key, value in (attributes or {}).items():
            if value is None or value == "":
                record.pop(key, None)
            else:
                record[key] = value
        values = record_columns(email=row.email, first_name=row.first_name, last_name=row.last_name,
                                attributes=record)
        if enabled is not None:
            values["enabled"] = enabled
        if email_verified is not None:
            values["email_verified"] = email_verified
        if values["estatus"] == status.RECHAZADO and row.state == ACTIVA:
            # SPEC §9: a rejected person may apply again. The rejection, the row's state and the release of
            # its identifiers are one change: none of them can be left without the others.
            values.update(state=RECHAZADA, state_reason=REJECTED_IN_REVIEW)
            conn.execute(update(identifiers).where(identifiers.c.application_id == row.id, identifiers.c.vigente)
                         .values(vigente=False, released_at=func.now()))
        changed = conn.execute(update(applications).where(applications.c.id == row.id)
                               .values(**values, updated_at=func.now()).returning(*applications.c)).first()
        kept = _kept(attributes or {})
        if enabled is not None or email_verified is not None or required_actions is not None or kept:
            # Inside the transaction: if Keycloak refuses, the row's change is rolled back with it.
            self.keycloak.update_account(row.account_id, enabled=enabled, email_verified=email_verified,
                                         attributes=kept or None, required_actions=required_actions)
        return _view(changed)

    def update_account(self, account_id: str, *, enabled: bool | None = None, email_verified: bool | None = None,
                       attributes: dict[str, str | None] | None = None, required_actions: list[str] | None = None,
                       base: Account | None = None) -> Account:
        with self.locked(account_id) as held:
            if held is None:
                return self.keycloak.update_account(account_id, enabled=enabled, email_verified=email_verified,
                                                    attributes=attributes, required_actions=required_actions,
                                                    base=base)
            return held.update(enabled=enabled, email_verified=email_verified, attributes=attributes,
                               required_actions=required_actions)

    def update_attributes(self, account_id: str, changes: dict[str, str | None]) -> Account:
        return self.update_account(account_id, attributes=changes)

    # --- the account --------------------------------------------------------------------------------
    def create_account(self, *, username: str, email: str, first_name: str, last_name: str,
                       attributes: dict[str, str], enabled: bool = False, email_verified: bool = False,
                       groups: tuple[str, ...] = (), recorded: bool = False) -> str:
        """Keycloak gets the account and the kept attributes. Registration recorded the application
        already (`recorded`: its intent row carries the record, no transaction is spent looking for
        it); an application made another way (an operator's import, a test) gets its row here."""
        account_id = self.keycloak.create_account(username=username, email=email, first_name=first_name,
                                                  last_name=last_name, attributes=_kept(attributes), enabled=enabled,
                                                  email_verified=email_verified, groups=groups)
        if recorded or "estatus" not in attributes:
            return account_id  # recorded already, or not an application (a reviewer)
        with self.db.transaction() as conn:
            pending = conn.execute(select(applications.c.id).where(
                applications.c.username == username.lower(), applications.c.state == CREANDO)).first()
            if pending is None:
                conn.execute(insert(applications).values(
                    id=str(uuid.uuid4()), folio=attributes.get("folio") or f"AU-X-{account_id[:12]}",
                    username=username.lower(), account_id=account_id,
                    link_version=attributes.get("enlace_version", ""),
                    es_extranjero=attributes.get("es_extranjero") == "true", locale=attributes.get("locale", ""),
                    state=ACTIVA, enabled=enabled, email_verified=email_verified,
                    **record_columns(email=email, first_name=first_name, last_name=last_name,
                                     attributes=attributes)))
        return account_id

    def delete_account(self, account_id: str) -> None:
        """The account goes, and with it the application's personal data; the row stays, without them,
        with its folio and identifiers released (a link to it then says it no longer exists)."""
        with self.db.transaction() as conn:
            self._delete(conn, account_id)

    def _delete(self, conn: Connection, account_id: str) -> None:
        a, i = applications, identifiers
        ids = conn.execute(update(a).where(a.c.account_id == account_id).values(
            # a rejection stays one in the person's history ("Solicitudes anteriores")
            state=case((a.c.state == RECHAZADA, RECHAZADA), else_=CANCELADA), state_reason="cuenta eliminada",
            record={}, email="", first_name="", last_name="", search_text="", enabled=False,
            updated_at=func.now()).returning(a.c.id)).scalars().all()
        if ids:
            conn.execute(update(i).where(i.c.application_id.in_(ids), i.c.vigente)
                         .values(vigente=False, released_at=func.now()))
            outbox.discard_unsent(conn, ids)  # their content is personal data; their addressee has no account
        # Review state that names the application (a decision keeps the reviewer's free-text reasons).
        conn.execute(delete(decisions).where(decisions.c.account_id == account_id))
        conn.execute(delete(review_leases).where(review_leases.c.account_id == account_id))
        # Last, inside the transaction: if Keycloak fails, the row keeps its data for the retry.
        self.keycloak.delete_account(account_id)

    def assign_realm_role(self, account_id: str, role_name: str) -> None:
        self.keycloak.assign_realm_role(account_id, role_name)

    def realm_roles_of(self, account_id: str) -> set[str]:
        return self.keycloak.realm_roles_of(account_id)

    def password_set_at(self, account_id: str) -> float | None:
        return self.keycloak.password_set_at(account_id)

    def set_temporary_password(self, account_id: str, password: str) -> None:
        self.keycloak.set_temporary_password(account_id, password)

    def send_actions_email(self, account_id: str, actions: list[str], *, client_id: str | None = None,
                           redirect_uri: str | None = None, lifespan_s: int | None = None) -> None:
        self.keycloak.send_actions_email(account_id, actions, client_id=client_id, redirect_uri=redirect_uri,
                                         lifespan_s=lifespan_s)

    def ping(self) -> None:
        self.keycloak.ping()
