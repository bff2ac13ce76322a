"""SPEC §9: unconfirmed and incomplete applications expire and are purged, documents included.

An application in `pendiente_correo` older than EXPIRE_UNCONFIRMED_DAYS, or in
`pendiente_documentos` older than EXPIRE_INCOMPLETE_DAYS (both counted from
`fecha_registro`), or in `requiere_correccion` EXPIRE_INCOMPLETE_DAYS after the reviewer asked for
the correction (documents not submitted either: without it an application — or a squat of someone
else's CURP — was held for ever by never answering), is deleted: first every object under its S3
prefix, then its Keycloak account. In that order a failure halfway leaves an account whose objects a
re-run deletes — never objects without an owner.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from keycloak_ext import AccountNotFound

from registro.adapters.identity import IdentityDirectory
from registro.adapters.storage import ObjectStore
from registro.config import Settings
from registro.domain import status
from registro.domain.application import Application
from registro.domain.storage_keys import application_prefix
from registro.kernel.document_traces import DocumentTraces, erase_documents
from registro.kernel.record_lock import ApplicationBusy, editing

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Expired:
    account_id: str
    status: str
    registered_at: datetime
    objects: int


def registered_at(application: Application) -> datetime:
    """`fecha_registro`, or Keycloak's creation time when the attribute is missing or unreadable."""
    raw = application.account.attr("fecha_registro")
    try:
        moment = datetime.fromisoformat(raw)
        return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    except ValueError:
        return datetime.fromtimestamp(application.account.created_ms / 1000, timezone.utc)


def waiting_since(application: Application) -> datetime:
    """When the applicant's turn began: the correction's request for `requiere_correccion` (its
    `fecha`; the registration when unreadable), the registration otherwise."""
    if application.status == status.REQUIERE_CORRECCION:
        try:
            moment = datetime.fromisoformat(str(application.correction.get("fecha", "")))
            return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
        except ValueError:
            pass
    return registered_at(application)


def _limits(settings: Settings) -> dict[str, timedelta]:
    incomplete = timedelta(seconds=settings.expire_incomplete_s)
    return {status.PENDIENTE_CORREO: timedelta(seconds=settings.expire_unconfirmed_s),
            status.PENDIENTE_DOCUMENTOS: incomplete, status.REQUIERE_CORRECCION: incomplete}


def find_expired(identity: IdentityDirectory, settings: Settings, now: datetime) -> list[Application]:
    expired = []
    for current, max_age in _limits(settings).items():
        for account in list(identity.iter_by_attribute("estatus", current)):
            application = Application(account)
            if application.status == current and now - waiting_since(application) > max_age:
                expired.append(application)
    return expired


def _still_expired(application: Application, settings: Settings, now: datetime) -> bool:
    limit = _limits(settings).get(application.status)
    return limit is not None and now - waiting_since(application) > limit


def _application_keys(storage: ObjectStore, account_id: str) -> list[str]:
    return storage.list_keys(application_prefix(account_id))


def purge_expired(identity: IdentityDirectory, storage: ObjectStore, settings: Settings, *,
                  now: datetime | None = None, dry_run: bool = False,
                  traces: DocumentTraces = DocumentTraces()) -> list[Expired]:
    """Deletes every expired application (or only lists them with `dry_run`). Returns what was found.

    The search result is only a candidate list: between it and the deletion the applicant may have
    confirmed, uploaded or submitted. Each deletion therefore holds the application's row lock (the
    one every applicant-side change takes) and re-reads the application under it; an application that
    is no longer expired, or is being changed right now, is left for the next run."""
    now = now or datetime.now(timezone.utc)
    done = []
    for candidate in find_expired(identity, settings, now):
        if dry_run:
            keys = _application_keys(storage, candidate.id)
            done.append(Expired(candidate.id, candidate.status, registered_at(candidate), len(keys)))
            continue
        try:
            with editing(identity, candidate.id) as held:
                application = Application(held.account)
                if not _still_expired(application, settings, now):
                    log.info("solicitud omitida: cambió durante la depuración: solicitud=%s estatus=%s",
                             application.id, application.status)
                    continue
                keys = _application_keys(storage, application.id)
                erase_documents(storage, application.id, keys, traces)
                # The account and the application's personal data go; its identifiers are released.
                held.delete_account()
        except AccountNotFound:
            continue  # deleted meanwhile (another purge run)
        except ApplicationBusy:
            log.info("solicitud omitida: tiene un cambio en curso: solicitud=%s", candidate.id)
            continue
        log.info("solicitud expirada eliminada: solicitud=%s estatus=%s objetos=%d", application.id,
                 application.status, len(keys))
        done.append(Expired(application.id, application.status, registered_at(application), len(keys)))
    return done
