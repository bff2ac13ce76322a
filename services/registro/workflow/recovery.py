"""Password recovery (SPEC §8): whatever was typed, the same answer; only an enabled account
gets Keycloak's own set-password email (execute-actions UPDATE_PASSWORD, an action token; the
realm's password policy applies on the page it opens).

The Keycloak work (look the user up, send the email) happens off the request path, in a small
bounded queue served by one background thread per process. The request path therefore does the
same work for an enabled user, an unknown one and a pending or rejected applicant: it only
enqueues the normalised username. Its answer time cannot tell the cases apart.
"""
from __future__ import annotations

import heapq
import logging
import os
import threading
import time
from dataclasses import dataclass, field

from keycloak_ext import AccountNotFound, IdentityRejected, IdentityUnavailable

from ..adapters.identity import IdentityDirectory

log = logging.getLogger(__name__)

UPDATE_PASSWORD = "UPDATE_PASSWORD"


def normalise_username(typed: str) -> str:
    """Keycloak keeps usernames lower-case; Mexicans type their RFC in upper case."""
    return (typed or "").strip().lower()


@dataclass(frozen=True)
class ResetTarget:
    """Where Keycloak's link leads once the password is set: the realm's account page."""
    client_id: str
    redirect_uri: str


def send_reset_if_enabled(identity: IdentityDirectory, username: str, target: ResetTarget) -> bool:
    """The off-request job. True when an email was asked of Keycloak."""
    account = identity.find_by_username(username)
    if account is None or not account.enabled:
        # Unknown, pending, rejected or otherwise disabled: nothing to send, nothing to tell.
        return False
    identity.send_actions_email(account.id, [UPDATE_PASSWORD], client_id=target.client_id,
                                redirect_uri=target.redirect_uri)
    return True


@dataclass(frozen=True)
class RetryPolicy:
    """How long a request waits out a Keycloak (or Keycloak's SMTP) outage: exponential backoff,
    bounded. The defaults span about five minutes — a Keycloak restart — then give up and say so."""
    attempts: int = 9
    first_delay_s: float = 2.0
    max_delay_s: float = 60.0

    def delay(self, attempt: int) -> float:
        """Wait before attempt `attempt + 1` (attempt counts from 1)."""
        return min(self.first_delay_s * 2 ** (attempt - 1), self.max_delay_s)


def failure_cause(exc: BaseException) -> str:
    """What went wrong, for the log: never the username, the address or Keycloak's own text (which
    may quote them) — only which part failed and how."""
    if isinstance(exc, IdentityUnavailable):
        cause = exc.__cause__
        body = getattr(cause, "response_body", None) or b""
        if isinstance(body, bytes):
            body = body.decode("utf-8", "replace")
        if "send execute actions email" in str(body).lower():
            # Keycloak answers 500 "Failed to send execute actions email" when its SMTP server fails.
            return "Keycloak no pudo enviar el correo (servidor SMTP no disponible)"
        code = getattr(cause, "response_code", None)
        return f"Keycloak respondió {code}" if code else "Keycloak no responde"
    if isinstance(exc, IdentityRejected):
        return "Keycloak rechazó la solicitud"
    if isinstance(exc, AccountNotFound):
        return "la cuenta ya no existe"
    return type(exc).__name__


@dataclass(order=True)
class _Pending:
    due: float
    seq: int
    username: str = field(compare=False)
    attempt: int = field(compare=False, default=1)


class RecoveryDispatcher:
    """A bounded in-process queue with one worker thread, started on first use in each process
    (gunicorn forks workers after import, so a thread started at import would not survive).

    A request that fails because Keycloak (or the SMTP server Keycloak sends through) is down is
    retried with backoff (RetryPolicy); every failure is logged with its cause and without personal
    data. The request path never waits for any of it."""

    def __init__(self, identity: IdentityDirectory, target: ResetTarget, max_pending: int = 200,
                 retry: RetryPolicy | None = None, clock=time.monotonic) -> None:
        self.identity = identity
        self.target = target
        self.max_pending = max_pending
        self.retry = retry or RetryPolicy()
        self.clock = clock
        self._cond = threading.Condition()
        self._items: list[_Pending] = []
        self._busy = 0
        self._seq = 0
        self._pid: int | None = None

    def request_reset(self, username: str) -> None:
        """Never blocks and never raises: the caller answers the same page in every case."""
        self._ensure_worker()
        with self._cond:
            if len(self._items) + self._busy >= self.max_pending:
                log.warning("recuperación: cola llena (%d pendientes); se descartó una solicitud", self.max_pending)
                return
            self._push(username, 1, self.clock())

    def pending(self) -> int:
        with self._cond:
            return len(self._items) + self._busy

    def wait_idle(self, timeout_s: float = 30.0) -> bool:
        """Waits until every queued request was handled, retries included (tests, graceful shutdown)."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._items and not self._busy, timeout_s)

    def _push(self, username: str, attempt: int, due: float) -> None:
        self._seq += 1
        heapq.heappush(self._items, _Pending(due, self._seq, username, attempt))
        self._cond.notify_all()

    def _ensure_worker(self) -> None:
        with self._cond:
            if self._pid != os.getpid():
                if self._pid is not None:  # forked: the parent's queue and thread are not ours
                    self._items, self._busy = [], 0
                self._pid = os.getpid()
                threading.Thread(target=self._work, name="recuperacion", daemon=True).start()

    def _next(self) -> _Pending:
        with self._cond:
            while True:
                now = self.clock()
                if self._items and self._items[0].due <= now:
                    self._busy += 1
                    return heapq.heappop(self._items)
                self._cond.wait(timeout=(self._items[0].due - now) if self._items else None)

    def _work(self) -> None:
        while True:
            item = self._next()
            try:
                self._attempt(item)
            finally:
                with self._cond:
                    self._busy -= 1
                    self._cond.notify_all()

    def _attempt(self, item: _Pending) -> None:
        try:
            send_reset_if_enabled(self.identity, item.username, self.target)
        except IdentityUnavailable as exc:  # Keycloak down, or its SMTP server: worth retrying
            cause = failure_cause(exc)
            if item.attempt < self.retry.attempts:
                delay = self.retry.delay(item.attempt)
                log.warning("recuperación: intento %d de %d falló (%s); se reintenta en %.0f s", item.attempt,
                            self.retry.attempts, cause, delay)
                with self._cond:
                    self._push(item.username, item.attempt + 1, self.clock() + delay)
            else:
                log.error("recuperación: se abandonó una solicitud tras %d intentos (%s)", item.attempt, cause)
        except Exception as exc:  # noqa: BLE001 — the worker must survive any single failure
            log.error("recuperación: error al enviar el correo (%s)", failure_cause(exc))
