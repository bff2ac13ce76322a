"""One delivery path: a transactional outbox in registro's database (GOV.UK Notify's shape).

Whatever causes a message writes its row in the same transaction as the change itself
(`insert(conn, …)`), or on its own (`Outbox.enqueue`). A worker thread in every process takes due
rows with `FOR UPDATE SKIP LOCKED`, so replicas never deliver one row twice at the same time, hands
each to its deliverer while holding its row, and marks it `enviado`; a refused delivery counts an
attempt and waits (10 s, 20 s, 40 s … capped at 30 min). After MAX_ATTEMPTS (14) refusals the row is
`fallido` — `give_up_after_s()`: ≈ 3 h 13 min after the first refusal, long enough to outlast an SMTP
outage of an afternoon's first hours, not only a restart. A `fallido` row is listed in the console, where a
reviewer may queue it again (`retry`, by its id), and `python -m registro.ops.retry_emails` (`make
retry-emails`) queues every one again once SMTP is back. Delivery is at least once: a crash
between the deliverer's success and the commit delivers the row again, which beats losing it.

A row's `kind` names its deliverer (`Outbox.route`): by default the row is a rendered email sent
through SMTP; a kind may instead hand its row to another deliverer — the password-recovery request
asks the identity directory to send Keycloak's own email, a decision email checks first that its
decision was applied. Whatever the kind, a delivered row keeps no content (its message is blanked).

A row may be written *held* (`hold_s`): not due until released (`Outbox.release`) or until the hold
runs out. That is how a change made outside this database (a decision, recorded in Keycloak) still
writes its message before the change: released when the change succeeded, discarded when it failed,
and — when the process died in between — delivered after the hold by a deliverer that checks the
change happened (else it raises `Obsolete` and the row is deleted unsent, as a rollback would).

`OutboxStore` is the storage seam: `PgOutboxStore` here, an in-memory twin in tests/fakes.py.
"""
from __future__ import annotations

import base64
import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable, Mapping, Protocol, runtime_checkable

from sqlalchemy import and_, delete, func, insert as sql_insert, or_, select, update
from sqlalchemy.engine import Connection

from registro.adapters.mail import Attachment, Mailer, OutgoingEmail
from registro.platform.db import Database, DatabaseUnavailable
from registro.platform.db.schema import ENVIADO, FALLIDO, PENDIENTE, applications, outbox as outbox_table

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 14  # the 14th refusal gives up: give_up_after_s() ≈ 3 h 13 min after the first
FIRST_BACKOFF_S = 10.0
MAX_BACKOFF_S = 30 * 60.0
BATCH = 20
LAST_ERROR_CHARS = 200


def email_to_dict(email: OutgoingEmail) -> dict[str, Any]:
    return {"to": email.to, "subject": email.subject, "text": email.text, "html": email.html,
            "attachments": [{"filename": a.filename, "content_type": a.content_type,
                             "data": base64.b64encode(a.data).decode()} for a in email.attachments]}


def email_from_dict(raw: Mapping[str, Any]) -> OutgoingEmail:
    return OutgoingEmail(to=raw["to"], subject=raw["subject"], text=raw["text"], html=raw["html"],
                         attachments=tuple(Attachment(a["filename"], a["content_type"], base64.b64decode(a["data"]))
                                           for a in raw.get("attachments", [])))


def to_json(email: OutgoingEmail) -> bytes:
    return json.dumps(email_to_dict(email), ensure_ascii=False).encode()


def from_json(data: bytes) -> OutgoingEmail:
    return email_from_dict(json.loads(data))


def backoff_s(attempts: int) -> float:
    """The wait after the `attempts`-th refused delivery."""
    return min(MAX_BACKOFF_S, FIRST_BACKOFF_S * 2 ** max(0, attempts - 1))


def give_up_after_s() -> float:
    """How long after its first refusal a row that keeps being refused becomes `fallido`: the waits
    between its MAX_ATTEMPTS refusals (11,550 s ≈ 3 h 13 min with the constants above)."""
    return sum(backoff_s(n) for n in range(1, MAX_ATTEMPTS))


class Obsolete(Exception):
    """Raised by a deliverer: the change this row was written for never happened (or was replaced);
    the row is deleted unsent."""


class Unreadable(Exception):
    """Raised by a deliverer: the row cannot be read; retrying will not help (`fallido` at once)."""


class Refused(Exception):
    """Raised by a deliverer for a refusal worth retrying, with a reason fit for the console (no
    personal data). Any other exception counts as a refusal too, recorded by its type's name."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def refusal_reason(exc: BaseException) -> str:
    return (getattr(exc, "reason", None) or type(exc).__name__)[:LAST_ERROR_CHARS]


@dataclass(frozen=True)
class DueRow:
    """What a deliverer is handed: the row's kind, its stored message and its refused attempts so far."""
    id: int
    kind: str
    message: bytes
    attempts: int


@dataclass(frozen=True)
class FailedEmail:
    """What the console lists: no addresses or contents, only what a reviewer needs to act."""
    id: int
    kind: str
    application_id: str | None
    attempts: int
    last_error: str
    created_at: datetime
    account_id: str | None = None  # the application's account (the console links its detail)
    folio: str | None = None


@dataclass(frozen=True)
class OutboxHealth:
    """What an operator's alerts read (observability/metrics.py): emails waiting, how long the oldest
    that should have left already has waited (due, or backing off after a refusal; 0 when none), and
    the emails that gave up and wait for "Reintentar" in the console."""
    pending: int
    oldest_waiting_s: float
    failed: int


@runtime_checkable
class OutboxStore(Protocol):
    def add(self, kind: str, message: bytes | OutgoingEmail, application_id: str | None = None, *,
            account_id: str | None = None, hold_s: float = 0) -> int:
        """Queues a message in its own transaction; raises DatabaseUnavailable. `account_id` names
        the application by its account when its row id is not at hand; `hold_s` holds it (release)."""
        ...

    def deliver_due(self, deliver: Callable[[DueRow], None], limit: int = BATCH) -> tuple[int, int]:
        """Delivers up to `limit` due rows nobody else holds; returns (delivered, refused). `deliver`
        raises Obsolete (the row is deleted), Unreadable (fallido at once) or anything else for a
        refusal (counted, retried later)."""
        ...

    def release(self, ids: Iterable[int]) -> None:
        """Held rows become due now."""
        ...

    def discard(self, ids: Iterable[int]) -> None:
        """Pending rows are deleted unsent (the change that wrote them failed)."""
        ...

    def pending_count(self) -> int: ...

    def expedite(self) -> None:
        """Every row waiting out a back-off is due now (an operator's "send now", tests); held rows
        stay held."""
        ...

    def failed(self, limit: int = 100, *, account_id: str | None = None) -> list[FailedEmail]:
        """The newest `fallido` rows; only the application's of `account_id` when given."""
        ...

    def retry(self, email_id: int) -> FailedEmail | None:
        """A `fallido` row becomes due again (attempts back to 0); returns it as it was (its attempts
        before), None when there is no such failed row — however old it is."""
        ...

    def retry_failed(self) -> list[FailedEmail]:
        """Every `fallido` row becomes due again (an operator's command once SMTP is back); returns them
        as they were (their attempts before), oldest first."""
        ...

    def health(self) -> OutboxHealth:
        """A row held for its release (not tried yet, due later) is pending but not waiting."""
        ...


def _message_bytes(message: bytes | OutgoingEmail) -> bytes:
    return message if isinstance(message, bytes) else to_json(message)


def insert(conn: Connection, kind: str, message: bytes | OutgoingEmail, application_id: str | None = None, *,
           account_id: str | None = None, hold_s: float = 0) -> int:
    """Queues a message inside the caller's transaction (the change that causes it)."""
    values: dict[str, Any] = {"kind": kind, "message": _message_bytes(message), "application_id": application_id}
    if application_id is None and account_id is not None:
        values["application_id"] = (select(applications.c.id).where(applications.c.account_id == account_id)
                                    .scalar_subquery())
    if hold_s > 0:
        values["next_attempt_at"] = func.now() + timedelta(seconds=hold_s)
    return conn.execute(sql_insert(outbox_table).values(**values).returning(outbox_table.c.id)).scalar_one()


def discard_unsent(conn: Connection, application_ids: Iterable[str]) -> int:
    """Deletes, inside the caller's transaction, the applications' messages not yet delivered (due, held,
    backing off or `fallido`): the account they concern is gone, with its personal data, so their content
    (names, links, a responsiva naming its CURP) goes too, and nothing about it is sent later — not by the
    worker, not by `make retry-emails`. A row a worker is delivering right now is skipped, not waited for:
    it ends `enviado`, its content blanked. Returns how many were deleted."""
    ids = list(application_ids)
    if not ids:
        return 0
    t = outbox_table
    unsent = (select(t.c.id).where(t.c.application_id.in_(ids), t.c.state != ENVIADO)
              .with_for_update(skip_locked=True))
    return conn.execute(delete(t).where(t.c.id.in_(unsent))).rowcount


def requeue_failed(conn: Connection, *where) -> list[FailedEmail]:
    """The `fallido` rows (those matching `where` too) due again with their attempts reset, inside the caller's
    transaction (the operator's command writes its audit events in the same one); returns them as they were,
    oldest first. The rows as they were come from a locked read in the same statement: a concurrent retry
    waits for the lock, then finds the row no longer `fallido` and returns nothing."""
    t, owner = outbox_table, applications.alias("owner")
    before = (select(t.c.id, t.c.attempts, t.c.last_error).where(t.c.state == FALLIDO, *where)
              .with_for_update().cte("before"))
    rows = conn.execute(
        update(t).where(t.c.id == before.c.id)
        .values(state=PENDIENTE, attempts=0, next_attempt_at=func.now())
        .returning(t.c.id, t.c.kind, t.c.application_id, before.c.attempts, before.c.last_error, t.c.created_at,
                   select(owner.c.account_id).where(owner.c.id == t.c.application_id)
                   .scalar_subquery().label("account_id"),
                   select(owner.c.folio).where(owner.c.id == t.c.application_id)
                   .scalar_subquery().label("folio"))).all()
    return sorted((FailedEmail(r.id, r.kind, r.application_id, r.attempts, r.last_error, r.created_at, r.account_id,
                               r.folio) for r in rows), key=lambda f: (f.created_at, f.id))


class PgOutboxStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, kind: str, message: bytes | OutgoingEmail, application_id: str | None = None, *,
            account_id: str | None = None, hold_s: float = 0) -> int:
        with self.db.transaction() as conn:
            return insert(conn, kind, message, application_id, account_id=account_id, hold_s=hold_s)

    def deliver_due(self, deliver: Callable[[DueRow], None], limit: int = BATCH) -> tuple[int, int]:
        t = outbox_table
        refused = 0
        sent: list[int] = []
        with self.db.transaction() as conn:
            rows = conn.execute(
                select(t.c.id, t.c.kind, t.c.message, t.c.attempts)
                .where(t.c.state == PENDIENTE, t.c.next_attempt_at <= func.now())
                .order_by(t.c.next_attempt_at, t.c.id).limit(limit).with_for_update(skip_locked=True)).all()
            for row in rows:
                try:
                    deliver(DueRow(row.id, row.kind, bytes(row.message), row.attempts))
                except Obsolete:
                    conn.execute(delete(t).where(t.c.id == row.id))
                    continue
                except Unreadable:
                    conn.execute(update(t).where(t.c.id == row.id).values(state=FALLIDO, last_error="ilegible"))
                    continue
                except Exception as exc:  # noqa: BLE001 — a refusal of any kind is counted, never fatal
                    refused += 1
                    attempts = row.attempts + 1
                    conn.execute(update(t).where(t.c.id == row.id).values(
                        attempts=attempts, last_error=refusal_reason(exc),
                        state=FALLIDO if attempts >= MAX_ATTEMPTS else PENDIENTE,
                        next_attempt_at=func.now() + timedelta(seconds=backoff_s(attempts))))
                    continue
                sent.append(row.id)
            if sent:  # one statement for the batch: under load a batch holds every email queued meanwhile
                conn.execute(update(t).where(t.c.id.in_(sent)).values(state=ENVIADO, sent_at=func.now(),
                                                                     attempts=t.c.attempts + 1, message=b""))
        return len(sent), refused

    def release(self, ids: Iterable[int]) -> None:
        ids = list(ids)
        if ids:
            with self.db.transaction() as conn:
                conn.execute(update(outbox_table).where(outbox_table.c.id.in_(ids),
                                                        outbox_table.c.state == PENDIENTE)
                             .values(next_attempt_at=func.now()))

    def discard(self, ids: Iterable[int]) -> None:
        ids = list(ids)
        if ids:
            with self.db.transaction() as conn:
                conn.execute(delete(outbox_table).where(outbox_table.c.id.in_(ids),
                                                        outbox_table.c.state == PENDIENTE))

    def pending_count(self) -> int:
        with self.db.transaction() as conn:
            return conn.execute(select(func.count()).select_from(outbox_table)
                                .where(outbox_table.c.state == PENDIENTE)).scalar_one()

    def expedite(self) -> None:
        t = outbox_table
        with self.db.transaction() as conn:
            # attempts > 0: backing off. A held row (not yet tried, due later) waits for its release.
            conn.execute(update(t).where(t.c.state == PENDIENTE, t.c.attempts > 0).values(next_attempt_at=func.now()))

    def failed(self, limit: int = 100, *, account_id: str | None = None) -> list[FailedEmail]:
        t, a = outbox_table, applications
        query = (select(t.c.id, t.c.kind, t.c.application_id, t.c.attempts, t.c.last_error, t.c.created_at,
                        a.c.account_id, a.c.folio)
                 .select_from(t.outerjoin(a, a.c.id == t.c.application_id))
                 .where(t.c.state == FALLIDO)  # ix_outbox_failed: only the rows that gave up are read
                 .order_by(t.c.created_at.desc(), t.c.id.desc()).limit(limit))
        if account_id is not None:
            query = query.where(a.c.account_id == account_id)
        with self.db.transaction() as conn:
            rows = conn.execute(query).all()
        return [FailedEmail(r.id, r.kind, r.application_id, r.attempts, r.last_error, r.created_at, r.account_id,
                            r.folio) for r in rows]

    def retry(self, email_id: int) -> FailedEmail | None:
        with self.db.transaction() as conn:
            rows = requeue_failed(conn, outbox_table.c.id == email_id)
        return rows[0] if rows else None

    def retry_failed(self) -> list[FailedEmail]:
        with self.db.transaction() as conn:
            return requeue_failed(conn)

    def health(self) -> OutboxHealth:
        t = outbox_table
        pending = t.c.state == PENDIENTE  # both reads use the partial indexes (ix_outbox_due, ix_outbox_failed)
        waiting = and_(pending, or_(t.c.attempts > 0, t.c.next_attempt_at <= func.now()))
        with self.db.transaction() as conn:
            row = conn.execute(select(
                select(func.count()).select_from(t).where(pending).scalar_subquery().label("pending"),
                select(func.coalesce(func.extract("epoch", func.now() - func.min(t.c.created_at)), 0))
                .where(waiting).scalar_subquery().label("oldest"),
                select(func.count()).select_from(t).where(t.c.state == FALLIDO).scalar_subquery().label("failed"),
            )).one()
        return OutboxHealth(int(row.pending), max(0.0, float(row.oldest)), int(row.failed))


# A deliverer of one kind: handed the due row and the SMTP sender of this round (for kinds that still
# end in an email); returns when delivered, raises Obsolete, Unreadable, Refused or anything else.
Deliverer = Callable[[DueRow, Callable[[OutgoingEmail], None]], None]


def send_email(row: DueRow, send: Callable[[OutgoingEmail], None]) -> None:
    """The default deliverer: the row is a rendered email."""
    try:
        email = from_json(row.message)
    except (ValueError, KeyError, TypeError):
        raise Unreadable() from None
    send(email)


class Outbox:
    """Queues messages and delivers them: in a background thread of each process (`background=True`,
    woken at once by `notify` after a commit, and every `poll_s` for retries and other replicas'
    leftovers), or in the caller's thread (`background=False`: unit tests, `make` commands)."""

    def __init__(self, store: OutboxStore, mailer: Mailer, *, background: bool = True, poll_s: float = 5.0,
                 idle_close_s: float = 2.0, count: Callable[[str, str], None] = lambda metric, outcome: None) -> None:
        self.store = store
        self.count = count  # observability.counters.count, handed in by the container
        self.mailer = mailer
        self.background = background
        self.poll_s = poll_s
        self.idle_close_s = idle_close_s
        self._deliverers: dict[str, Deliverer] = {}
        self._wake = threading.Event()
        self._idle = threading.Event()
        self._lock = threading.Lock()
        self._pid: int | None = None

    def route(self, kind: str, deliverer: Deliverer) -> None:
        """Rows of `kind` are delivered by `deliverer` instead of being sent as an email."""
        self._deliverers[kind] = deliverer

    def enqueue(self, email: OutgoingEmail, *, kind: str = "correo", application_id: str | None = None,
                account_id: str | None = None, hold_s: float = 0) -> int:
        """Stores the email durably (raises DatabaseUnavailable when it cannot) and schedules it."""
        return self.enqueue_message(to_json(email), kind=kind, application_id=application_id, account_id=account_id,
                                    hold_s=hold_s)

    def enqueue_message(self, message: bytes, *, kind: str, application_id: str | None = None,
                        account_id: str | None = None, hold_s: float = 0) -> int:
        """Stores a message for the deliverer of `kind` (see `route`), held for `hold_s` when given."""
        row = self.store.add(kind, message, application_id, account_id=account_id, hold_s=hold_s)
        if hold_s <= 0:
            self.notify()
        return row

    def release(self, ids: Iterable[int]) -> None:
        """Held rows are due now (the change they wait for succeeded)."""
        self.store.release(ids)
        self.notify()

    def discard(self, ids: Iterable[int]) -> None:
        """Held rows are deleted unsent (the change they waited for failed)."""
        self.store.discard(ids)

    def notify(self) -> None:
        """A row was committed: deliver it now."""
        if not self.background:
            self.deliver_due()
            return
        self._ensure_worker()
        self._idle.clear()
        self._wake.set()

    def _deliver(self, send: Callable[[OutgoingEmail], None]) -> Callable[[DueRow], None]:
        def deliver(row: DueRow) -> None:
            try:
                self._deliverers.get(row.kind, send_email)(row, send)
            except Obsolete:
                log.info("cola de salida: %s (fila %d) ya no corresponde; se descarta sin entregar", row.kind, row.id)
                raise
            except Unreadable:
                log.error("cola de salida: mensaje ilegible (fila %d, %s); se marca fallido", row.id, row.kind)
                raise
            except Exception as exc:
                if row.attempts + 1 >= MAX_ATTEMPTS:
                    log.error("cola de salida: %s (fila %d) fallido tras %d intentos (%s); se lista en la consola",
                              row.kind, row.id, row.attempts + 1, refusal_reason(exc))
                raise
        return deliver

    def deliver_due(self, batch=None) -> int:
        """Delivers every due row this process can take; returns how many were delivered."""
        total = 0
        own = batch is None
        batch = batch or self.mailer.batch()
        try:
            while True:
                sent, refused = self.store.deliver_due(self._deliver(batch.send))
                for _ in range(sent):
                    self.count("confirmation_emails", "enviado")
                for _ in range(refused):
                    self.count("confirmation_emails", "fallido")
                total += sent
                if refused:
                    log.warning("cola de salida: %d entrega(s) rechazada(s); se reintentarán", refused)
                if sent + refused < BATCH:
                    return total
        finally:
            if own:
                batch.close()

    def pending(self) -> int:
        return self.store.pending_count()

    def flush(self) -> int:
        """Delivers every pending row now, back-offs forgotten (held rows stay held); returns how
        many were delivered."""
        self.store.expedite()
        return self.deliver_due()

    def failed(self, limit: int = 100, *, account_id: str | None = None) -> list[FailedEmail]:
        return self.store.failed(limit, account_id=account_id)

    def retry(self, email_id: int) -> FailedEmail | None:
        """Queues a `fallido` row again; returns it as it was, None when it is not (or no longer) failed."""
        done = self.store.retry(email_id)
        if done is not None:
            self.notify()
        return done

    # --- the background thread ------------------------------------------------------------------
    def start(self) -> None:
        if self.background:
            self._ensure_worker()

    def _ensure_worker(self) -> None:
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid != os.getpid():  # gunicorn forks after import: each worker starts its own
                self._pid = os.getpid()
                self._wake = threading.Event()
                threading.Thread(target=self._work, name="correo-salida", daemon=True).start()

    def wait_idle(self, timeout_s: float = 30.0) -> bool:
        """Waits until this process's thread found nothing more to deliver (tests, shutdown). Without
        the thread every delivery already happened in the caller's."""
        if not self.background:
            return True
        return self._idle.wait(timeout_s)

    def _work(self) -> None:
        batch = self.mailer.batch()
        while True:
            woken = self._wake.wait(self.poll_s)
            self._wake.clear()
            try:
                self.deliver_due(batch)
            except DatabaseUnavailable as exc:
                log.error("cola de salida: base de datos no disponible (%s)", exc)
            except Exception as exc:  # noqa: BLE001 — the thread must survive any single failure
                log.error("cola de salida: error al entregar (%s)", type(exc).__name__)
            if not self._wake.is_set():
                self._idle.set()
                if not woken:
                    batch.close()  # a quiet poll: hold no relay connection at rest
            time.sleep(0)
