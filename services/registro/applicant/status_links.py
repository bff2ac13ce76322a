"""A new link to "Consultar mi solicitud" (kernel/status_links.py), sent by email to whoever knows both
the folio and the registered address; the answer never tells whether they matched (see
applicant/status_views.py).
"""
from __future__ import annotations

import logging
import secrets
import threading
from typing import Callable

from keycloak_ext import AccountNotFound, IdentityError

from registro.adapters.identity import IdentityDirectory
from registro.adapters.mail import OutgoingEmail
from registro.adapters.storage import StorageUnavailable
from registro.config import Settings
from registro.domain.application import Application
from registro.kernel.applications import ApplicationStore
from registro.kernel.status_links import status_url
from registro.platform.db import DatabaseUnavailable
from registro.platform.outbox import Outbox

log = logging.getLogger(__name__)

def _same_address(a: str, b: str) -> bool:
    return secrets.compare_digest(a.strip().lower().encode(), b.strip().lower().encode())


def status_link_email(identity: IdentityDirectory, applications: ApplicationStore, settings: Settings, folio: str,
                      email: str, compose) -> OutgoingEmail | None:
    """The email carrying a new status link when `folio` and `email` belong to one application, else None.
    The folio is found in registro's database (an indexed unique column), then the application by its id
    (kernel/records.py: the database too): no Keycloak call, no attribute search, which grows with the realm (62 ms at 20,000 accounts, 1.6 s at
    200,000) on a page anyone can call. `compose` is emails.compose (passed in: the workflow
    stays free of Flask)."""
    folio = folio.strip().upper()
    if not folio or not email.strip():
        return None
    account_id = applications.account_of_folio(folio)
    account = None
    try:
        if account_id:
            account = identity.get_account(account_id)  # one indexed read of registro's database
        else:  # an unknown folio makes the same one indexed read: the same work whatever the folio
            identity.find_by_attribute("folio", folio, max_results=1)
    except AccountNotFound:
        account = None
    return _composed_either_way(settings, account, folio, email, compose)


# An account id no account has (Keycloak ids are UUIDs): what the email composed for no match names.
_NOBODY = "00000000-0000-4000-8000-000000000000"


def _composed_either_way(settings: Settings, account, folio: str, email: str, compose) -> OutgoingEmail | None:
    """The email, when the folio's account has this address; else None — after composing one all the same.
    The lookup runs in a thread beside the request's own: the CPU it takes slows the answer, so work done
    only for a matching folio (rendering three templates, signing the link) made it answer 1.5–3.5 ms
    later than an unknown one (issue 21, item 13). Measured in benchmarks/bench_status_link.py."""
    matched = account is not None and bool(account.email) and _same_address(account.email, email)
    if matched:
        name, to, locale, account_id = Application(account).full_name, account.email, account.attr("locale"), account.id
    else:
        name, to, locale, account_id = folio.title(), email.strip(), None, _NOBODY
    message = compose("consulta", to, {"nombre": name, "folio": folio}, locale=locale,
                      consulta=status_url(settings, account_id))
    return message if matched else None


def deliver_in_background(outbox: Outbox, message: Callable[[], OutgoingEmail | None]) -> threading.Thread:
    """Looks the application up and queues the email off the request path, so the answer, and the time
    it takes, are the same whether or not folio and email match (or the folio exists at all). Queued
    in the outbox, the email survives an SMTP outage."""
    def send() -> None:
        try:
            email = message()
            if email is not None:
                outbox.enqueue(email, kind="enlace_estado")
        except (IdentityError, StorageUnavailable, DatabaseUnavailable) as exc:
            log.warning("enlace de consulta no enviado (%s)", type(exc).__name__)
    thread = threading.Thread(target=send, name="consulta-correo", daemon=True)
    thread.start()
    return thread
