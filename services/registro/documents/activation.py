"""The personal link: which application it opens, confirming the email, and "Enviar a validación".

The application is identified only by the signed token (never by anything else in the
request), and every request re-verifies it: a link opens its own application and nothing else.
"""
from __future__ import annotations

import logging
from datetime import date

from keycloak_ext import AccountNotFound

from registro.adapters.identity import IdentityDirectory
from registro.adapters.storage import ObjectStore
from registro.config import Settings
from registro.domain import status
from registro.domain.application import Application, now_iso
from registro.kernel.links import LinkInvalid
from registro.kernel.confirmation_links import signer
from registro.documents.direct_uploads import UploadMarkers, checking
from registro.documents.service import SubmissionIncomplete, submission_problems
from registro.kernel.record_lock import update_record

log = logging.getLogger(__name__)


class ApplicationGone(Exception):
    """The link was genuine but its application no longer exists (expired and purged, or deleted)."""

    def __init__(self, account_id: str = "") -> None:
        super().__init__(account_id)
        self.account_id = account_id


class ApplicationClosed(Exception):
    """The application was already decided (aprobado / rechazado): the link has nothing left to do."""

    def __init__(self, current: str) -> None:
        super().__init__(current)
        self.status = current


def open_application(identity: IdentityDirectory, settings: Settings, token: str) -> Application:
    """The application a link opens. Raises LinkInvalid / LinkExpired / LinkSuperseded, ApplicationGone,
    ApplicationClosed; DatabaseUnavailable when the record cannot be read."""
    links = signer(settings)
    claims = links.read(token)  # signature and age first: nothing is looked up for a bad token
    try:
        account = identity.get_account(claims.account_id)
    except AccountNotFound as exc:
        raise ApplicationGone(claims.account_id) from exc
    if not account.attr("estatus"):
        raise LinkInvalid()  # not an application (e.g. a staff account): nothing to show
    links.verify_current(token, account.attr("enlace_version"))
    application = Application(account)
    if application.status not in status.OPEN:
        raise ApplicationClosed(application.status)
    return application


def confirm_email(identity: IdentityDirectory, application: Application, storage: ObjectStore) -> Application:
    """Opening a valid link proves the address: emailVerified and pendiente_correo → pendiente_documentos,
    under the application's edit lock."""
    if application.status != status.PENDIENTE_CORREO:
        return application
    status.check_transition(application.status, status.PENDIENTE_DOCUMENTOS)

    def confirm(account) -> dict:
        if account.attr("estatus") != status.PENDIENTE_CORREO:
            return {}  # another tab confirmed it first
        return {"email_verified": True, "attributes": {"estatus": status.PENDIENTE_DOCUMENTOS,
                                                       "fecha_confirmacion": now_iso()}}  # status page timeline

    account = update_record(identity, application.id, confirm)
    log.info("correo confirmado: solicitud=%s", application.id)
    return Application(account)


def submit_for_review(identity: IdentityDirectory, storage: ObjectStore, application: Application,
                      on: date, *, marks: UploadMarkers | None = None) -> Application:
    """"Enviar a validación": every required document in, ID not expired → en_revision, queued by fecha_envio
    (the queue is a query over the record: nothing else to write). `marks`: the direct uploads' markers
    (None: a caller with no browser uploads to wait for)."""
    # A document sent straight to S3 whose check is still running: its outcome decides what is submitted.
    pending = checking(marks, application) if marks is not None else []

    def submit(account) -> dict:
        # Checked on the record as it is now, not as the page showed it: an upload may be finishing.
        current = Application(account)
        problems = submission_problems(current, on, pending)
        if problems:
            raise SubmissionIncomplete(problems)
        status.check_transition(current.status, status.EN_REVISION)
        return {"attributes": {
            "estatus": status.EN_REVISION,
            "fecha_envio": now_iso(),
            "motivos_correccion": None,  # the reviewer's audit trail keeps what was asked
        }}

    account = update_record(identity, application.id, submit)
    log.info("solicitud enviada a validación: solicitud=%s", application.id)
    return Application(account)
