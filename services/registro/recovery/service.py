"""Password recovery (SPEC §8): whatever was typed, the same answer; only an enabled account
gets Keycloak's own set-password email (execute-actions UPDATE_PASSWORD, an action token; the
realm's password policy applies on the page it opens).

The Keycloak work (look the user up, ask for the email) happens off the request path, through the
one delivery path (platform/outbox.py): the request writes an outbox row of kind `recuperacion`
holding the normalised username, and the outbox worker of any replica delivers it by calling the
identity directory instead of SMTP — with the outbox's retries and backoff while Keycloak (or the
SMTP server Keycloak sends through) is down, surviving a restart of this process, and listed in the
console when it keeps failing (the reason only: no username). The request path does the same work
for an enabled user, an unknown one and a pending or rejected applicant — one INSERT —, so its answer
time cannot tell the cases apart. The username stays in the row until it is delivered (then blanked).
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from keycloak_ext import AccountNotFound, IdentityError, IdentityRejected, IdentityUnavailable

from registro.adapters.identity import UPDATE_PASSWORD, IdentityDirectory
from registro.platform.outbox import MAX_ATTEMPTS, DueRow, Outbox, Refused, Unreadable

log = logging.getLogger(__name__)

RECOVERY = "recuperacion"  # the outbox kind


def normalise_username(typed: str) -> str:
    """Keycloak keeps usernames lower-case; Mexicans type their RFC in upper case."""
    return (typed or "").strip().lower()


@dataclass(frozen=True)
class ResetTarget:
    """Where Keycloak's link leads once the password is set: the realm's account page."""
    client_id: str
    redirect_uri: str


def send_reset_if_enabled(identity: IdentityDirectory, username: str, target: ResetTarget) -> bool:
    """The outbox row's delivery. True when an email was asked of Keycloak."""
    account = identity.find_by_username(username)
    if account is None or not account.enabled:
        # Unknown, pending, rejected or otherwise disabled: nothing to send, nothing to tell.
        return False
    identity.send_actions_email(account.id, [UPDATE_PASSWORD], client_id=target.client_id,
                                redirect_uri=target.redirect_uri)
    return True


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


class RecoveryRequests:
    """The front door's queue (`request_reset`) and the outbox's deliverer of its rows (`deliver`,
    routed by container.py)."""

    def __init__(self, outbox: Outbox, identity: IdentityDirectory, target: ResetTarget) -> None:
        self.outbox = outbox
        self.identity = identity
        self.target = target

    def request_reset(self, username: str) -> None:
        """Queues the request; the same single write whatever the username. Raises DatabaseUnavailable
        (answered 503 like every page that cannot record its work: the same for every username)."""
        self.outbox.enqueue_message(json.dumps({"usuario": username}).encode(), kind=RECOVERY)

    def wait_idle(self, timeout_s: float = 30.0) -> bool:
        """Waits until this process's outbox worker found nothing more to deliver (tests)."""
        return self.outbox.wait_idle(timeout_s)

    def deliver(self, row: DueRow, send) -> None:
        try:
            username = json.loads(row.message)["usuario"]
        except (ValueError, KeyError, TypeError):
            raise Unreadable() from None
        try:
            send_reset_if_enabled(self.identity, username, self.target)
        except AccountNotFound:
            return  # deleted between the look-up and the email: nothing to send, nothing to tell
        except IdentityError as exc:  # Keycloak down, or its SMTP server: the outbox retries
            cause = failure_cause(exc)
            log.warning("recuperación: intento %d de %d falló (%s)", row.attempts + 1, MAX_ATTEMPTS, cause)
            raise Refused(cause) from None
