"""Applications and the identifiers they hold: registro's record in PostgreSQL.

Registration is a recorded saga (issue 20):
  1. `begin`: the application row (`creando`, with the username and first link version decided
     beforehand) and its identifiers, in one transaction. The identifiers' partial unique index is the
     uniqueness rule: of any number of concurrent registrations of one CURP exactly one commits.
  2. the Keycloak account is created (outside the database);
  3. `complete`: the row becomes `activa`, with its account id, and the confirmation email's outbox
     row is written — one transaction.
A crash between the steps leaves a `creando` row: the reconciler (registration/reconcile.py) finishes
it when its account exists, and cancels it (releasing the identifiers) when not.

Identifiers are released by state, never by hand: `reject` and `cancel` change the application's
state and set its identifiers `vigente = false` in the same transaction; the rows stay as history.
`cancel` undoes an intent only (a `creando` row): a registration that completed meanwhile stays `activa`.

`ApplicationStore` is the seam: `PgApplicationStore` here, an in-memory twin in tests/fakes.py,
both checked by the same contract tests.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Mapping, Protocol, Sequence, runtime_checkable

from sqlalchemy import func, insert, literal, select, tuple_, update
from sqlalchemy.exc import IntegrityError

from registro.adapters.mail import OutgoingEmail
from registro.platform import outbox
from registro.platform.db import Database
from registro.platform.db.schema import ACTIVA, CANCELADA, CREANDO, RECHAZADA, applications, identifiers
from registro.kernel import audit
from registro.kernel.audit import AuditEvent
from registro.kernel.records import record_columns

CURP, RFC, PASAPORTE = "curp", "rfc", "pasaporte"


def normalise(value: str) -> str:
    return value.strip().upper()


def passport_value(pais: str, pasaporte: str) -> str:
    return f"{normalise(pais)}:{normalise(pasaporte)}"


def identifiers_of(attributes: Mapping[str, str]) -> dict[str, str]:
    """What one person may hold once (SPEC §4): the CURP, the RFC — every RFC, a Mexican's or a
    foreigner's, under one rule — and a foreigner's country + passport. Empty values left out. The
    email is Keycloak's to keep unique (the realm refuses duplicate emails, and a person may change it)."""
    ids = {CURP: attributes.get("curp", ""), RFC: attributes.get("rfc", "")}
    if attributes.get("es_extranjero") == "true" and attributes.get("pasaporte"):
        ids[PASAPORTE] = passport_value(attributes.get("pais", ""), attributes["pasaporte"])
    return {k: normalise(v) for k, v in ids.items() if v and v.strip()}


@dataclass(frozen=True)
class Intent:
    """What registration decided before touching Keycloak."""
    id: str
    folio: str
    username: str
    link_version: str
    es_extranjero: bool
    locale: str = ""
    # The application as submitted (kernel/records.py): recorded with the intent, so a registration
    # interrupted after Keycloak made the account is finished with every field the applicant typed.
    email: str = ""
    first_name: str = ""
    last_name: str = ""
    attributes: Mapping[str, str] = field(default_factory=dict, compare=False)
    # The privacy notice accepted in the form (aviso_version, aviso_sha256, idioma), empty when none was:
    # whoever completes the intent — registration or the reconciler — writes its acceptance.
    acceptance: Mapping[str, str] = field(default_factory=dict, compare=False)

    @classmethod
    def new(cls, *, folio: str, username: str, link_version: str, es_extranjero: bool, locale: str = "",
            email: str = "", first_name: str = "", last_name: str = "",
            attributes: Mapping[str, str] | None = None, acceptance: Mapping[str, str] | None = None) -> "Intent":
        return cls(str(uuid.uuid4()), folio, username.lower(), link_version, es_extranjero, locale, email,
                   first_name, last_name, dict(attributes or {}), dict(acceptance or {}))


@dataclass(frozen=True)
class Holder:
    """The application holding an identifier another registration wants."""
    application_id: str
    kind: str
    state: str
    username: str
    account_id: str | None
    age_s: float


@dataclass(frozen=True)
class StaleIntent:
    intent: Intent
    age_s: float
    # Where the listing stands after this intent (opaque): the next page of `stale_intents` starts past it.
    position: tuple = ()


class IdentifiersTaken(Exception):
    def __init__(self, holders: list[Holder]) -> None:
        super().__init__(", ".join(h.kind for h in holders))
        self.holders = holders

    @property
    def kinds(self) -> list[str]:
        return [h.kind for h in self.holders]


class FolioTaken(Exception):
    """The drawn folio exists already: draw another."""


@runtime_checkable
class ApplicationStore(Protocol):
    def begin(self, intent: Intent, ids: Mapping[str, str]) -> None:
        """Records the intent and its identifiers; raises IdentifiersTaken (naming every holder),
        FolioTaken or DatabaseUnavailable — then nothing is recorded."""
        ...

    def complete(self, application_id: str, account_id: str, email: OutgoingEmail | None,
                 kind: str = "confirmacion", events: Sequence[AuditEvent] = ()) -> bool:
        """creando → activa, with its account, (when given) its email queued and `events` written to the
        audit trail (audit.new_event), in one transaction. False when the application is no longer
        `creando` (the reconciler cancelled it): nothing is queued or written."""
        ...

    def cancel(self, application_id: str, reason: str) -> bool:
        """An intent (`creando`) → cancelada, its identifiers released. False when the application is no
        longer `creando` (its registration completed meanwhile, or it was cancelled already): nothing changes."""
        ...

    def release(self, application_id: str, kind: str) -> None:
        """Releases one identifier (its account now holds another value)."""
        ...

    def reject(self, account_id: str, reason: str) -> None:
        """→ rechazada, its identifiers released (the person may register again)."""
        ...

    def cancel_account(self, account_id: str, reason: str) -> None:
        """The account goes from Keycloak without the identity port's delete (which does this itself,
        kernel/records.py): a dead one deleted to make room for a registration. A live application is
        cancelled, and its emails not yet delivered are deleted unsent whatever its state."""
        ...

    def stale_intents(self, older_than_s: float, limit: int = 100, after: tuple = ()) -> list[StaleIntent]:
        """`creando` intents begun more than `older_than_s` ago, oldest first, past `after` (the
        `position` of the last one of the previous page): a page of intents that keep failing never
        hides the ones behind it."""
        ...

    def unfinished_count(self, older_than_s: float) -> int:
        """How many registrations are still `creando` `older_than_s` after they began (what an alert reads:
        the reconciler should have finished or undone them)."""
        ...

    def account_of_folio(self, folio: str) -> str | None:
        """The account id of the application with this folio while its account exists: `activa`, or
        `rechazada` (a rejected applicant still reads the status page)."""
        ...

    def state_of_account(self, account_id: str, folio: str = "") -> str | None:
        """The state of the application naming this account; when none names it, of the application
        with `folio` (an interrupted registration's intent); None when neither exists."""
        ...

    def rejections_of(self, ids: Mapping[str, str]) -> int:
        """How many earlier applications holding any of these identifiers were rejected."""
        ...

    def rejected_accounts(self, ids: Mapping[str, str], limit: int = 10) -> list[str]:
        """The accounts of the earlier applications holding any of these identifiers that were rejected,
        the latest rejection first (what the reviewer opens from "Solicitudes anteriores")."""
        ...

    def record_released(self, application_id: str, ids: Mapping[str, str]) -> None:
        """Identifiers the application held once, recorded already released (`vigente = false`): the
        history of an application rejected before the database kept it (ops/backfill.py), counted by
        rejections_of and holding nothing."""
        ...

    def adopt_record(self, account_id: str, *, email: str, first_name: str, last_name: str,
                     attributes: Mapping[str, str], enabled: bool, email_verified: bool) -> None:
        """The record of an application made before the database kept it (ops/backfill.py), from its
        Keycloak account's attributes."""
        ...

    def knows_account(self, account_id: str) -> bool:
        """Whether any application (in any state) names this account: False for an account made after
        the backup a restore went back to."""
        ...


def _intents_older_than(seconds: float) -> tuple:
    """`creando` rows begun more than `seconds` ago (what ix_applications_creando indexes)."""
    a = applications
    return a.c.state == CREANDO, a.c.created_at < func.now() - func.make_interval(0, 0, 0, 0, 0, 0, seconds)


def _close_in(conn, where, state: str, reason: str, from_states: tuple[str, ...] = (CREANDO, ACTIVA)) -> bool:
    a, i = applications, identifiers
    ids = conn.execute(update(a).where(where, a.c.state.in_(from_states))
                       .values(state=state, state_reason=reason[:500], updated_at=func.now())
                       .returning(a.c.id)).scalars().all()
    if ids:
        conn.execute(update(i).where(i.c.application_id.in_(ids), i.c.vigente)
                     .values(vigente=False, released_at=func.now()))
    return bool(ids)


class PgApplicationStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def begin(self, intent: Intent, ids: Mapping[str, str]) -> None:
        a, i = applications, identifiers
        try:
            with self.db.transaction() as conn:
                conn.execute(insert(a).values(id=intent.id, folio=intent.folio, username=intent.username,
                                              link_version=intent.link_version, es_extranjero=intent.es_extranjero,
                                              locale=intent.locale, state=CREANDO,
                                              accepted_notice=dict(intent.acceptance) or None,
                                              **record_columns(email=intent.email, first_name=intent.first_name,
                                                               last_name=intent.last_name,
                                                               attributes=intent.attributes)))
                if ids:
                    conn.execute(insert(i), [{"application_id": intent.id, "kind": k, "value": v}
                                             for k, v in ids.items()])
                return
        except IntegrityError as exc:
            constraint = getattr(getattr(exc.orig, "diag", None), "constraint_name", "") or ""
            if constraint == "uq_applications_folio":
                raise FolioTaken() from None
            if constraint != "uq_identifiers_vigente":
                raise
        raise IdentifiersTaken(self._holders(ids))

    def _holders(self, ids: Mapping[str, str]) -> list[Holder]:
        a, i = applications, identifiers
        with self.db.transaction() as conn:
            rows = conn.execute(
                select(i.c.kind, a.c.id, a.c.state, a.c.username, a.c.account_id,
                       func.extract("epoch", func.now() - a.c.created_at).label("age"))
                .join(a, a.c.id == i.c.application_id)
                .where(i.c.vigente, tuple_(i.c.kind, i.c.value).in_(list(ids.items())))).all()
        return [Holder(r.id, r.kind, r.state, r.username, r.account_id, float(r.age)) for r in rows]

    def complete(self, application_id: str, account_id: str, email: OutgoingEmail | None,
                 kind: str = "confirmacion", events: Sequence[AuditEvent] = ()) -> bool:
        a = applications
        with self.db.transaction() as conn:
            done = conn.execute(update(a).where(a.c.id == application_id, a.c.state == CREANDO)
                                .values(state=ACTIVA, account_id=account_id, updated_at=func.now()))
            if done.rowcount != 1:
                return False
            if email is not None:
                outbox.insert(conn, kind, email, application_id)
            for event in events:
                audit.insert(conn, event)
        return True

    def _close(self, where, state: str, reason: str, from_states: tuple[str, ...] = (CREANDO, ACTIVA)) -> bool:
        with self.db.transaction() as conn:
            return _close_in(conn, where, state, reason, from_states)

    def cancel(self, application_id: str, reason: str) -> bool:
        # An intent only: the reconciler's cancel must not undo a registration that completed meanwhile.
        return self._close(applications.c.id == application_id, CANCELADA, reason, (CREANDO,))

    def reject(self, account_id: str, reason: str) -> None:
        self._close(applications.c.account_id == account_id, RECHAZADA, reason)

    def cancel_account(self, account_id: str, reason: str) -> None:
        a = applications
        with self.db.transaction() as conn:
            _close_in(conn, a.c.account_id == account_id, CANCELADA, reason)
            # Whatever the application's state (a rejected one too): a link or a decision for an account
            # that no longer exists.
            outbox.discard_unsent(conn, conn.execute(select(a.c.id).where(a.c.account_id == account_id)).scalars())

    def release(self, application_id: str, kind: str) -> None:
        i = identifiers
        with self.db.transaction() as conn:
            conn.execute(update(i).where(i.c.application_id == application_id, i.c.kind == kind, i.c.vigente)
                         .values(vigente=False, released_at=func.now()))

    def stale_intents(self, older_than_s: float, limit: int = 100, after: tuple = ()) -> list[StaleIntent]:
        a = applications
        past = ((tuple_(a.c.created_at, a.c.id) > tuple_(literal(after[0], a.c.created_at.type),
                                                         literal(after[1], a.c.id.type))),) if after else ()
        with self.db.transaction() as conn:
            rows = conn.execute(
                select(a.c.id, a.c.folio, a.c.username, a.c.link_version, a.c.es_extranjero, a.c.locale,
                       a.c.accepted_notice, a.c.created_at,
                       func.extract("epoch", func.now() - a.c.created_at).label("age"))
                .where(*_intents_older_than(older_than_s), *past).order_by(a.c.created_at, a.c.id)
                .limit(limit)).all()
        return [StaleIntent(Intent(r.id, r.folio, r.username, r.link_version, r.es_extranjero, r.locale,
                                   acceptance=r.accepted_notice or {}), float(r.age), (r.created_at, r.id))
                for r in rows]

    def unfinished_count(self, older_than_s: float) -> int:
        with self.db.transaction() as conn:
            return conn.execute(select(func.count()).select_from(applications)
                                .where(*_intents_older_than(older_than_s))).scalar_one()

    def account_of_folio(self, folio: str) -> str | None:
        a = applications
        with self.db.transaction() as conn:
            return conn.execute(select(a.c.account_id).where(a.c.folio == normalise(folio),
                                                             a.c.state.in_((ACTIVA, RECHAZADA)))).scalar_one_or_none()

    def state_of_account(self, account_id: str, folio: str = "") -> str | None:
        a = applications
        with self.db.transaction() as conn:
            state = conn.execute(select(a.c.state).where(a.c.account_id == account_id)).scalar_one_or_none()
            if state is None and folio:
                state = conn.execute(select(a.c.state).where(a.c.folio == normalise(folio))).scalar_one_or_none()
        return state

    def knows_account(self, account_id: str) -> bool:
        a = applications
        with self.db.transaction() as conn:
            return conn.execute(select(a.c.id).where(a.c.account_id == account_id)).first() is not None

    def adopt_record(self, account_id: str, *, email: str, first_name: str, last_name: str,
                     attributes: Mapping[str, str], enabled: bool, email_verified: bool) -> None:
        a = applications
        with self.db.transaction() as conn:
            conn.execute(update(a).where(a.c.account_id == account_id).values(
                enabled=enabled, email_verified=email_verified, updated_at=func.now(),
                **record_columns(email=email, first_name=first_name, last_name=last_name, attributes=attributes)))

    def record_released(self, application_id: str, ids: Mapping[str, str]) -> None:
        if ids:
            with self.db.transaction() as conn:
                conn.execute(insert(identifiers).values(vigente=False, released_at=func.now()),
                             [{"application_id": application_id, "kind": k, "value": v} for k, v in ids.items()])

    def rejected_accounts(self, ids: Mapping[str, str], limit: int = 10) -> list[str]:
        a, i = applications, identifiers
        if not ids:
            return []
        with self.db.transaction() as conn:
            return list(conn.execute(
                select(a.c.account_id).select_from(i.join(a, a.c.id == i.c.application_id))
                .where(a.c.state == RECHAZADA, a.c.account_id.is_not(None),
                       tuple_(i.c.kind, i.c.value).in_(list(ids.items())))
                .group_by(a.c.id).order_by(func.max(a.c.updated_at).desc(), a.c.id).limit(limit)).scalars())

    def rejections_of(self, ids: Mapping[str, str]) -> int:
        a, i = applications, identifiers
        if not ids:
            return 0
        with self.db.transaction() as conn:
            return conn.execute(
                select(func.count(func.distinct(a.c.id))).select_from(i.join(a, a.c.id == i.c.application_id))
                .where(a.c.state == RECHAZADA, tuple_(i.c.kind, i.c.value).in_(list(ids.items())))).scalar_one()
