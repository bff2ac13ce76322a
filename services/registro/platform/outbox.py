"""One email path: a transactional outbox in registro's database (GOV.UK Notify's shape).

Whatever causes an email writes its row in the same transaction as the change itself
(`insert(conn, …)`), or on its own (`Outbox.enqueue`). A worker thread in every process takes due
rows with `FOR UPDATE SKIP LOCKED`, so replicas never send one row twice at the same time, hands
each to SMTP while holding its row, and marks it `enviado`; a refused send counts an attempt and
waits (10 s, 20 s, 40 s … capped at 30 min). After MAX_ATTEMPTS the row is `fallido`: listed in the
console, where a reviewer may queue it again. Delivery is at least once: a crash between SMTP's
accept and the commit sends the message again, which beats losing it.

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
from datetime import datetime, timedelta, timezone
from typing import Callable, Protocol, runtime_checkable

from sqlalchemy import func, insert as sql_insert, select, update
from sqlalchemy.engine import Connection

from ..adapters.mail import Attachment, Mailer, MailUnavailable, OutgoingEmail
from .db import Database, DatabaseUnavailable
from .db.schema import ENVIADO, FALLIDO, PENDIENTE, outbox as outbox_table

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
FIRST_BACKOFF_S = 10.0
MAX_BACKOFF_S = 30 * 60.0
BATCH = 20


def to_json(email: OutgoingEmail) -> bytes:
    return json.dumps({
        "to": email.to, "subject": email.subject, "text": email.text, "html": email.html,
        "attachments": [{"filename": a.filename, "content_type": a.content_type,
                         "data": base64.b64encode(a.data).decode()} for a in email.attachments],
    }, ensure_ascii=False).encode()


def from_json(data: bytes) -> OutgoingEmail:
    raw = json.loads(data)
    return OutgoingEmail(to=raw["to"], subject=raw["subject"], text=raw["text"], html=raw["html"],
                         attachments=tuple(Attachment(a["filename"], a["content_type"], base64.b64decode(a["data"]))
                                           for a in raw.get("attachments", [])))


def backoff_s(attempts: int) -> float:
    """The wait after the `attempts`-th refused send."""
    return min(MAX_BACKOFF_S, FIRST_BACKOFF_S * 2 ** max(0, attempts - 1))


@dataclass(frozen=True)
class QueuedEmail:
    id: int
    kind: str
    email: OutgoingEmail
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


@runtime_checkable
class OutboxStore(Protocol):
    def add(self, kind: str, email: OutgoingEmail, application_id: str | None = None) -> int:
        """Queues a message in its own transaction; raises DatabaseUnavailable."""
        ...

    def deliver_due(self, send: Callable[[OutgoingEmail], None], limit: int = BATCH) -> tuple[int, int]:
        """Sends up to `limit` due rows nobody else holds; returns (sent, refused). `send` raises
        MailUnavailable for a refusal (counted, retried later)."""
        ...

    def pending_count(self) -> int: ...

    def expedite(self) -> None:
        """Every pending row due now, its back-off forgotten (an operator's "send now", tests)."""
        ...

    def failed(self, limit: int = 100) -> list[FailedEmail]: ...

    def retry(self, email_id: int) -> bool:
        """A `fallido` row becomes due again; False when there is no such failed row."""
        ...


def insert(conn: Connection, kind: str, email: OutgoingEmail, application_id: str | None = None) -> int:
    """Queues a message inside the caller's transaction (the change that causes it)."""
    return conn.execute(sql_insert(outbox_table).values(kind=kind, application_id=application_id,
                                                        message=to_json(email)).returning(outbox_table.c.id)).scalar_one()


class PgOutboxStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, kind: str, email: OutgoingEmail, application_id: str | None = None) -> int:
        with self.db.transaction() as conn:
            return insert(conn, kind, email, application_id)

    def deliver_due(self, send: Callable[[OutgoingEmail], None], limit: int = BATCH) -> tuple[int, int]:
        t = outbox_table
        sent = refused = 0
        with self.db.transaction() as conn:
            rows = conn.execute(
                select(t.c.id, t.c.kind, t.c.message, t.c.attempts)
                .where(t.c.state == PENDIENTE, t.c.next_attempt_at <= func.now())
                .order_by(t.c.next_attempt_at).limit(limit).with_for_update(skip_locked=True)).all()
            for row in rows:
                try:
                    email = from_json(row.message)
                except (ValueError, KeyError):
                    log.error("correo ilegible en la cola (fila %s); se marca fallido", row.id)
                    conn.execute(update(t).where(t.c.id == row.id).values(state=FALLIDO, last_error="ilegible"))
                    continue
                try:
                    send(email)
                except MailUnavailable as exc:
                    refused += 1
                    attempts = row.attempts + 1
                    conn.execute(update(t).where(t.c.id == row.id).values(
                        attempts=attempts, last_error=type(exc).__name__,
                        state=FALLIDO if attempts >= MAX_ATTEMPTS else PENDIENTE,
                        next_attempt_at=func.now() + timedelta(seconds=backoff_s(attempts))))
                    continue
                sent += 1
                conn.execute(update(t).where(t.c.id == row.id).values(state=ENVIADO, sent_at=func.now(),
                                                                      attempts=row.attempts + 1, message=b""))
        return sent, refused

    def pending_count(self) -> int:
        with self.db.transaction() as conn:
            return conn.execute(select(func.count()).select_from(outbox_table)
                                .where(outbox_table.c.state == PENDIENTE)).scalar_one()

    def expedite(self) -> None:
        with self.db.transaction() as conn:
            conn.execute(update(outbox_table).where(outbox_table.c.state == PENDIENTE)
                         .values(next_attempt_at=func.now()))

    def failed(self, limit: int = 100) -> list[FailedEmail]:
        t = outbox_table
        with self.db.transaction() as conn:
            rows = conn.execute(select(t.c.id, t.c.kind, t.c.application_id, t.c.attempts, t.c.last_error,
                                       t.c.created_at).where(t.c.state == FALLIDO)
                                .order_by(t.c.created_at.desc()).limit(limit)).all()
        return [FailedEmail(r.id, r.kind, r.application_id, r.attempts, r.last_error, r.created_at) for r in rows]

    def retry(self, email_id: int) -> bool:
        t = outbox_table
        with self.db.transaction() as conn:
            done = conn.execute(update(t).where(t.c.id == email_id, t.c.state == FALLIDO)
                                .values(state=PENDIENTE, attempts=0, next_attempt_at=func.now()))
            return done.rowcount == 1


class Outbox:
    """Queues emails and delivers them: in a background thread of each process (`background=True`,
    woken at once by `notify` after a commit, and every `poll_s` for retries and other replicas'
    leftovers), or in the caller's thread (`background=False`: unit tests, `make` commands)."""

    def __init__(self, store: OutboxStore, mailer: Mailer, *, background: bool = True, poll_s: float = 5.0,
                 idle_close_s: float = 2.0, count: Callable[[str, str], None] = lambda metric, outcome: None) -> None:
        self.store = store
        self.count = count  # observability.metrics.count, handed in: the platform imports no feature
        self.mailer = mailer
        self.background = background
        self.poll_s = poll_s
        self.idle_close_s = idle_close_s
        self._wake = threading.Event()
        self._idle = threading.Event()
        self._lock = threading.Lock()
        self._pid: int | None = None

    def enqueue(self, email: OutgoingEmail, *, kind: str = "correo", application_id: str | None = None) -> int:
        """Stores the message durably (raises DatabaseUnavailable when it cannot) and schedules it."""
        row = self.store.add(kind, email, application_id)
        self.notify()
        return row

    def notify(self) -> None:
        """A row was committed: deliver it now."""
        if not self.background:
            self.deliver_due()
            return
        self._ensure_worker()
        self._idle.clear()
        self._wake.set()

    def deliver_due(self, batch=None) -> int:
        """Sends every due row this process can take; returns how many were sent."""
        total = 0
        own = batch is None
        batch = batch or self.mailer.batch()
        try:
            while True:
                sent, refused = self.store.deliver_due(batch.send)
                for _ in range(sent):
                    self.count("confirmation_emails", "enviado")
                for _ in range(refused):
                    self.count("confirmation_emails", "fallido")
                total += sent
                if refused:
                    log.warning("correo en cola, SMTP no disponible; %d envío(s) se reintentarán", refused)
                if sent + refused < BATCH:
                    return total
        finally:
            if own:
                batch.close()

    def pending(self) -> int:
        return self.store.pending_count()

    def flush(self) -> int:
        """Sends every pending row now, back-offs forgotten; returns how many were sent."""
        self.store.expedite()
        return self.deliver_due()

    def failed(self, limit: int = 100) -> list[FailedEmail]:
        return self.store.failed(limit)

    def retry(self, email_id: int) -> bool:
        done = self.store.retry(email_id)
        if done:
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
        """Waits until this process's thread found nothing more to send (tests, shutdown)."""
        return self._idle.wait(timeout_s)

    def _work(self) -> None:
        batch = self.mailer.batch()
        while True:
            woken = self._wake.wait(self.poll_s)
            self._wake.clear()
            try:
                self.deliver_due(batch)
            except DatabaseUnavailable as exc:
                log.error("cola de correo: base de datos no disponible (%s)", exc)
            except Exception as exc:  # noqa: BLE001 — the thread must survive any single failure
                log.error("cola de correo: error al enviar (%s)", type(exc).__name__)
            if not self._wake.is_set():
                self._idle.set()
                if not woken:
                    batch.close()  # a quiet poll: hold no relay connection at rest
            time.sleep(0)
