"""Finishes or undoes registrations left half-way (a process killed, a replica lost, a timeout).

A `creando` application older than RECONCILE_AFTER_S is an intent nobody is working on any more:
- its Keycloak account exists (found by the username decided in the intent, and carrying the
  intent's folio) → finish it as registration would have: the responsiva (rendered and stored
  again when missing), the application `activa`, its confirmation email queued and the privacy
  notice's acceptance the intent kept written, in one transaction. The link carries the version
  recorded in the intent, which the account holds;
- no such account → cancel the intent: its identifiers are released and the person may register
  again.
A round walks every stale intent, a page at a time, each page past the last one's position: intents
that keep failing (Keycloak refusing one, a responsiva that cannot render) are logged and retried next
round, and never hide the ones behind them.
Run at start and every minute in every process (jobs.py); two processes reconciling the same intent
are harmless: `complete` and `cancel` change only a `creando` row, and the loser's email is never
queued. One Keycloak lookup by exact username per intent (indexed), none when there is nothing to do.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass


from registro.adapters.identity import IdentityDirectory
from registro.adapters.pdf import PdfRenderer
from registro.adapters.storage import ObjectStore
from registro.config import Settings
from registro.kernel.applications import ApplicationStore, Intent
from registro.platform.outbox import Outbox
from registro.kernel.confirmation_links import link_for
from registro.registration.service import RECONCILE_AFTER_S, acceptance_events, confirmation_email
from registro.registration.responsiva import responsiva_of
from registro.registration.responsiva_qr import mac_key

log = logging.getLogger(__name__)

PAGE = 100  # intents listed at a time


@dataclass
class Reconciled:
    finished: int = 0
    cancelled: int = 0
    failed: int = 0


def reconcile(*, applications: ApplicationStore, identity: IdentityDirectory, storage: ObjectStore, outbox: Outbox,
              settings: Settings, renderer: PdfRenderer | None = None,
              older_than_s: float = RECONCILE_AFTER_S) -> Reconciled:
    """Needs an app context (the email's templates). Failures of one intent are logged and left for
    the next round; DatabaseUnavailable from listing propagates (nothing was done)."""
    done = Reconciled()
    after: tuple = ()
    while page := applications.stale_intents(older_than_s, limit=PAGE, after=after):
        for stale in page:
            _reconcile_one(stale.intent, done, applications=applications, identity=identity, storage=storage,
                           outbox=outbox, settings=settings, renderer=renderer)
        if len(page) < PAGE:
            break
        after = page[-1].position
    return done


def _reconcile_one(intent: Intent, done: Reconciled, *, applications: ApplicationStore, identity: IdentityDirectory,
                   storage: ObjectStore, outbox: Outbox, settings: Settings, renderer: PdfRenderer | None) -> None:
    try:
        account = identity.find_by_username(intent.username)
        if account is None or account.attr("folio") != intent.folio:
            # Changes only a row still `creando`: a registration that completed since it was listed stays.
            if applications.cancel(intent.id, "registro interrumpido antes de crear la cuenta"):
                done.cancelled += 1
                log.info("conciliación: solicitud %s cancelada (sin cuenta)", intent.id)
            return
        pdf = responsiva_of(account, storage, renderer, mac_key=mac_key(settings))
        email = confirmation_email(settings, link_for(settings, account.id, intent.link_version), account, pdf)
        if applications.complete(intent.id, account.id, email, events=acceptance_events(intent, account.id)):
            outbox.notify()
            done.finished += 1
            log.info("conciliación: solicitud %s completada (cuenta %s)", intent.id, account.id)
    except Exception as exc:  # noqa: BLE001 — one intent's failure must not stop the round
        done.failed += 1
        log.warning("conciliación: la solicitud %s queda para la siguiente vuelta (%s)", intent.id,
                    type(exc).__name__)
