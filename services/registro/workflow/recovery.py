"""Password recovery (SPEC §8): whatever was typed, the same answer; only an enabled account
gets Keycloak's own set-password email (execute-actions UPDATE_PASSWORD, an action token; the
realm's password policy applies on the page it opens).

The Keycloak work (look the user up, send the email) happens off the request path, in a small
bounded queue served by one background thread per process. The request path therefore does the
same work for an enabled user, an unknown one and a pending or rejected applicant: it only
enqueues the normalised username. Its answer time cannot tell the cases apart.
"""
from __future__ import annotations

import logging
import os
import queue
import threading
from dataclasses import dataclass

from keycloak_ext import IdentityUnavailable

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


class RecoveryDispatcher:
    """A bounded in-process queue with one worker thread, started on first use in each process
    (gunicorn forks workers after import, so a thread started at import would not survive)."""

    def __init__(self, identity: IdentityDirectory, target: ResetTarget, max_pending: int = 200) -> None:
        self.identity = identity
        self.target = target
        self._queue: queue.Queue[str] = queue.Queue(maxsize=max_pending)
        self._lock = threading.Lock()
        self._pid: int | None = None

    def request_reset(self, username: str) -> None:
        """Never blocks and never raises: the caller answers the same page in every case."""
        self._ensure_worker()
        try:
            self._queue.put_nowait(username)
        except queue.Full:
            log.warning("recuperación: cola llena; se descartó una solicitud")

    def wait_idle(self, timeout_s: float = 30.0) -> bool:
        """Waits until every queued request was handled (tests, graceful shutdown)."""
        done = threading.Event()

        def wait() -> None:
            self._queue.join()
            done.set()

        threading.Thread(target=wait, daemon=True).start()
        return done.wait(timeout_s)

    def _ensure_worker(self) -> None:
        with self._lock:
            if self._pid != os.getpid():
                if self._pid is not None:  # forked: the parent's queue and thread are not ours
                    self._queue = queue.Queue(maxsize=self._queue.maxsize)
                self._pid = os.getpid()
                threading.Thread(target=self._work, name="recuperacion", daemon=True).start()

    def _work(self) -> None:
        q = self._queue
        while True:
            username = q.get()
            try:
                send_reset_if_enabled(self.identity, username, self.target)
            except IdentityUnavailable as exc:
                # No personal data in logs: neither the username nor Keycloak's message.
                log.error("recuperación: Keycloak no disponible (%s)", type(exc).__name__)
            except Exception as exc:  # noqa: BLE001 — the worker must survive any single failure
                log.error("recuperación: error al enviar el correo (%s)", type(exc).__name__)
            finally:
                q.task_done()
