"""The append-only audit trail of the review console (SPEC §7).

One row per event in PostgreSQL (`audit_events`, platform/db/schema.py): the event itself as JSONB,
its time, action and application as columns for the indexed reads (an application's history; the
decisions between two moments, what the supervisor's figures read, in one query). A trigger refuses
UPDATE, so an event once written is never changed; nothing deletes events either (cancelling an
applicant's data or purging an application leaves its trail). Events carry who, when, what, the status
before and after, reasons and the SHA-256 of the documents seen — never passwords, tokens or links.

`AuditLog` is the seam: `PgAuditLog` here, an in-memory twin in tests/fakes.py, both checked by
tests/support/state_contract.py.
"""
from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import insert as sql_insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from registro.platform.db import Database
from registro.platform.db.schema import audit_events

CLAIM = "reservar"
RELEASE = "liberar"
APPROVE = "aprobar"
CORRECTION = "solicitar_correccion"
REJECT = "rechazar"
RESEND = "reenviar_correo"
DECISIONS = (APPROVE, CORRECTION, REJECT)
PRIVACY_ACCEPTED = "aceptar_aviso_privacidad"  # applicant/privacy.py
DATA_EXPORTED = "exportar_datos"  # registro.ops.datos
DATA_CANCELLED = "cancelar_datos"  # registro.ops.datos
DOCUMENTS_RETIRED = "retencion_documentos"  # ops/retention.py

ACTION_LABELS = {
    CLAIM: "Reservó la solicitud",
    RELEASE: "Liberó la solicitud",
    APPROVE: "Aprobó",
    CORRECTION: "Solicitó corrección",
    REJECT: "Rechazó",
    RESEND: "Reenvió el correo",
    PRIVACY_ACCEPTED: "Aceptó el aviso de privacidad",
    DATA_EXPORTED: "Exportó los datos del titular",
    DATA_CANCELLED: "Canceló los datos del titular",
    DOCUMENTS_RETIRED: "Eliminó los documentos al vencer su plazo de conservación",
}


@dataclass(frozen=True)
class AuditEvent:
    action: str
    account_id: str
    actor_id: str
    actor_username: str
    at: str  # ISO-8601 UTC with microseconds
    status_before: str = ""
    status_after: str = ""
    reasons: dict[str, Any] = field(default_factory=dict)
    comment: str = ""
    documents_sha256: dict[str, str] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)  # e.g. folio, credentials mode, email outcome
    event_id: str = ""

    @property
    def label(self) -> str:
        return ACTION_LABELS.get(self.action, self.action)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "AuditEvent":
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def moment(iso: str) -> datetime:
    """An event's `at` as an aware datetime (one without an offset is UTC)."""
    at = datetime.fromisoformat(iso)
    return at if at.tzinfo else at.replace(tzinfo=timezone.utc)


@runtime_checkable
class AuditLog(Protocol):
    def append(self, event: AuditEvent) -> bool:
        """Writes the event; False when its event_id is taken (nothing written)."""

    def of_account(self, account_id: str) -> list[AuditEvent]:
        """The application's events, oldest first."""

    def between(self, start: datetime, end: datetime, actions: tuple[str, ...]) -> list[AuditEvent]:
        """The events of these actions with start <= at < end, oldest first."""


def new_event(action: str, account_id: str, *, actor_id: str, actor_username: str,
              details: dict | None = None) -> AuditEvent:
    """An event for `insert`, written by the caller's transaction: its id has 96 random bits, so that
    it is never drawn twice (the caller's change cannot draw again, as AuditTrail.record does)."""
    return AuditEvent(action=action, account_id=account_id, actor_id=actor_id, actor_username=actor_username,
                      at=_now(), details=dict(details or {}), event_id=secrets.token_hex(12))


def insert(conn: Connection, event: AuditEvent) -> None:
    """Writes the event inside the caller's transaction (the change it records); IntegrityError when its
    event_id is taken."""
    conn.execute(sql_insert(audit_events).values(event_id=event.event_id, account_id=event.account_id,
                                                 action=event.action, at=moment(event.at), event=asdict(event)))


class PgAuditLog:
    def __init__(self, db: Database) -> None:
        self.db = db

    def append(self, event: AuditEvent) -> bool:
        try:
            with self.db.transaction() as conn:
                insert(conn, event)
        except IntegrityError:
            return False
        return True

    def of_account(self, account_id: str) -> list[AuditEvent]:
        query = (select(audit_events.c.event).where(audit_events.c.account_id == account_id)
                 .order_by(audit_events.c.at, audit_events.c.id))
        with self.db.transaction() as conn:
            return [AuditEvent.from_dict(row.event) for row in conn.execute(query)]

    def between(self, start: datetime, end: datetime, actions: tuple[str, ...]) -> list[AuditEvent]:
        query = (select(audit_events.c.event)
                 .where(audit_events.c.at >= start, audit_events.c.at < end, audit_events.c.action.in_(actions))
                 .order_by(audit_events.c.at, audit_events.c.id))
        with self.db.transaction() as conn:
            return [AuditEvent.from_dict(row.event) for row in conn.execute(query)]


class AuditTrail:
    def __init__(self, log: AuditLog) -> None:
        self.log = log

    def record(self, action: str, account_id: str, *, actor_id: str, actor_username: str,
               status_before: str = "", status_after: str = "", reasons: dict | None = None, comment: str = "",
               documents_sha256: dict[str, str] | None = None, details: dict | None = None,
               once_as: str = "") -> AuditEvent | None:
        """Writes the event. `once_as`: its id when the event must be written at most once whoever writes
        it (a decision: a crash may leave two writers to complete it); when that id is taken, the event is
        already written and None is returned."""
        while True:
            event = AuditEvent(action=action, account_id=account_id, actor_id=actor_id, actor_username=actor_username,
                               at=_now(), status_before=status_before, status_after=status_after,
                               reasons=dict(reasons or {}), comment=comment,
                               documents_sha256=dict(documents_sha256 or {}), details=dict(details or {}),
                               event_id=once_as or secrets.token_hex(6))
            if self.log.append(event):
                return event
            if once_as:
                return None
            # An event_id drawn twice (48 random bits) is practically impossible; draw again anyway.

    def decisions_between(self, start: datetime, end: datetime) -> list[AuditEvent]:
        """The review decisions with start <= at < end, oldest first (one indexed query)."""
        return self.log.between(start, end, DECISIONS)

    def decisions_on(self, day: str) -> list[AuditEvent]:
        """The review decisions of one UTC day (YYYY-MM-DD)."""
        start = datetime.fromisoformat(day).replace(tzinfo=timezone.utc)
        return self.decisions_between(start, start + timedelta(days=1))

    def history(self, account_id: str) -> list[AuditEvent]:
        return self.log.of_account(account_id)
