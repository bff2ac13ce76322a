"""A durable outbox for emails that need not be sent on the request path (the confirmation email).

Why S3 and not Redis: S3 is already the service's durable store and is present everywhere the
service runs (the unit-test twin included); the stacks' Redis runs without persistence, so a
restart would lose queued mail. One small object per message is written before the request answers;
the message is delivered afterwards and its object deleted only once SMTP accepted it. So a
failing SMTP leaves the message queued, and it is sent when SMTP is back.

Delivery: the process that queued a message hands it to its own background thread at once. Every
process also sweeps the outbox every `sweep_s` for messages older than `grace_s` (their first try
failed or their process died) and retries them, each under a short S3 lease so two replicas never
send the same message at the same time (delivery is at least once: a crash between SMTP's accept
and the delete sends it twice, which beats losing it). With `background=False` (unit tests, the
`make` commands) `enqueue` delivers in the caller's thread, through the same code.
"""
from __future__ import annotations

import base64
import json
import logging
import os
import queue
import secrets
import threading
import time
from dataclasses import dataclass

from ..observability import metrics
from ..adapters.mail import Attachment, Mailer, MailUnavailable, OutgoingEmail
from ..adapters.storage import ObjectMissing, ObjectStore, StorageUnavailable

log = logging.getLogger(__name__)

PREFIX = "correo/salida/"
LOCKS = "correo/enviando/"
_JSON = "application/json"


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


def _queued_at(key: str) -> float:
    """Keys start with the queueing time in milliseconds, so age needs no extra request."""
    try:
        return int(key[len(PREFIX):].split("-", 1)[0]) / 1000
    except ValueError:
        return 0.0


@dataclass(frozen=True)
class _Lock:
    token: str
    expires_at: float


class Outbox:
    def __init__(self, storage: ObjectStore, mailer: Mailer, *, background: bool = True, sweep_s: float = 30.0,
                 grace_s: float = 60.0, lock_s: float = 120.0, idle_close_s: float = 2.0, clock=time.time) -> None:
        self.storage = storage
        self.mailer = mailer
        self.background = background
        self.sweep_s = sweep_s
        self.grace_s = grace_s
        self.lock_s = lock_s
        self.idle_close_s = idle_close_s
        self.clock = clock
        self._queue: queue.Queue[tuple[str, OutgoingEmail]] = queue.Queue()
        self._lock = threading.Lock()
        self._pid: int | None = None

    # --- the request path ---------------------------------------------------------------------
    def enqueue(self, email: OutgoingEmail) -> str:
        """Stores the message durably (raises StorageUnavailable when it cannot) and schedules it."""
        key = f"{PREFIX}{int(self.clock() * 1000):013d}-{secrets.token_hex(8)}.json"
        self.storage.put(key, to_json(email), content_type=_JSON)
        if self.background:
            self._ensure_worker()
            self._queue.put((key, email))
        else:
            self._deliver(key, email)
        return key

    # --- delivery -----------------------------------------------------------------------------
    def _deliver(self, key: str, email: OutgoingEmail, send=None) -> bool:
        try:
            (send or self.mailer.send)(email)
        except MailUnavailable as exc:
            metrics.count("confirmation_emails", "fallido")  # an attempt; the message stays queued
            log.warning("correo en cola, SMTP no disponible (%s); se reintentará", type(exc).__name__)
            return False
        metrics.count("confirmation_emails", "enviado")
        try:
            self.storage.delete(key)
        except StorageUnavailable:
            log.error("correo enviado pero no se pudo quitar de la cola; podría enviarse de nuevo")
        return True

    def pending(self) -> list[str]:
        return self.storage.list_keys(PREFIX)

    def drain(self, *, min_age_s: float | None = None) -> int:
        """Retries queued messages older than `min_age_s` (default `grace_s`); returns how many were sent."""
        min_age = self.grace_s if min_age_s is None else min_age_s
        sent = 0
        now = self.clock()
        with self.mailer.batch() as batch:  # one relay connection for the sweep (opened at the first send)
            for key in self.pending():
                if now - _queued_at(key) < min_age or not self._take(key):
                    continue
                try:
                    email = from_json(self.storage.get(key))
                    if self._deliver(key, email, batch.send):
                        sent += 1
                except ObjectMissing:
                    pass  # someone else delivered it
                except (ValueError, KeyError):
                    log.error("mensaje ilegible en la cola de correo: %s", key)
                finally:
                    self._drop_lock(key)  # delivered, or free for the next sweep's retry
        return sent

    def _lock_key(self, key: str) -> str:
        return LOCKS + key[len(PREFIX):]

    def _take(self, key: str) -> bool:
        """A short lease on one message, so replicas sweeping at once do not both send it."""
        lock_key = self._lock_key(key)
        body = json.dumps({"expires_at": self.clock() + self.lock_s}).encode()
        if self.storage.put_if_absent(lock_key, body, content_type=_JSON):
            return True
        try:
            data, etag = self.storage.get_with_etag(lock_key)
            expired = float(json.loads(data)["expires_at"]) < self.clock()
        except ObjectMissing:
            return self.storage.put_if_absent(lock_key, body, content_type=_JSON)
        except (ValueError, KeyError):
            return False
        return expired and self.storage.replace_if_match(lock_key, body, etag, content_type=_JSON)

    def _drop_lock(self, key: str) -> None:
        try:
            self.storage.delete(self._lock_key(key))
        except StorageUnavailable:
            pass  # it expires; the message itself is gone

    # --- the background thread ------------------------------------------------------------------
    def _ensure_worker(self) -> None:
        if self._pid == os.getpid():
            return  # this process's thread runs already: no lock on every request
        with self._lock:
            if self._pid != os.getpid():  # gunicorn forks after import: each worker starts its own
                if self._pid is not None:
                    self._queue = queue.Queue()
                self._pid = os.getpid()
                threading.Thread(target=self._work, name="correo-salida", daemon=True).start()

    def start(self) -> None:
        """Starts the sweeping thread of this process (also started by the first enqueue)."""
        if self.background:
            self._ensure_worker()

    def wait_idle(self, timeout_s: float = 30.0) -> bool:
        """Waits until every message handed to this process's thread was tried (tests, shutdown)."""
        done = threading.Event()

        def wait() -> None:
            self._queue.join()
            done.set()

        threading.Thread(target=wait, daemon=True).start()
        return done.wait(timeout_s)

    def _work(self) -> None:
        q = self._queue
        next_sweep = self.clock() + self.sweep_s
        # One relay connection while messages keep coming, closed once none came for `idle_close_s`:
        # under load every message reuses it, at rest no connection is held open.
        batch = self.mailer.batch()
        in_use = False  # at rest the thread sleeps until the next sweep: no wake-ups, no connection
        while True:
            timeout = next_sweep - self.clock()
            if in_use:
                timeout = min(timeout, self.idle_close_s)
            try:
                key, email = q.get(timeout=max(0.1, timeout))
            except queue.Empty:
                key = None
                if in_use:
                    batch.close()
                    in_use = False
            if key is not None:
                in_use = True
                try:
                    self._deliver(key, email, batch.send)
                except Exception as exc:  # noqa: BLE001 — the thread must survive any single failure
                    log.error("cola de correo: error al enviar (%s)", type(exc).__name__)
                finally:
                    q.task_done()
            if self.clock() >= next_sweep:
                next_sweep = self.clock() + self.sweep_s
                try:
                    self.drain()
                except Exception as exc:  # noqa: BLE001
                    log.error("cola de correo: no se pudo revisar la cola (%s)", type(exc).__name__)
