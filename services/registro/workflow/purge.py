"""SPEC §9: unconfirmed and incomplete applications expire and are purged, documents included.

An application in `pendiente_correo` older than EXPIRE_UNCONFIRMED_DAYS, or in
`pendiente_documentos` older than EXPIRE_INCOMPLETE_DAYS (both counted from
`fecha_registro`), is deleted: first every object under its S3 prefix, then its
Keycloak account. In that order a failure halfway leaves an account whose objects a
re-run deletes — never objects without an owner.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from ..adapters.identity import IdentityDirectory
from ..adapters.storage import ObjectStore
from ..config import Settings
from ..domain import status
from ..domain.application import Application
from ..domain.storage_keys import application_prefix
from .claims import Claims

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


def find_expired(identity: IdentityDirectory, settings: Settings, now: datetime) -> list[Application]:
    limits = {status.PENDIENTE_CORREO: timedelta(seconds=settings.expire_unconfirmed_s),
              status.PENDIENTE_DOCUMENTOS: timedelta(seconds=settings.expire_incomplete_s)}
    expired = []
    for current, max_age in limits.items():
        for account in list(identity.iter_by_attribute("estatus", current)):
            application = Application(account)
            if application.status == current and now - registered_at(application) > max_age:
                expired.append(application)
    return expired


def purge_expired(identity: IdentityDirectory, storage: ObjectStore, settings: Settings, *,
                  now: datetime | None = None, dry_run: bool = False) -> list[Expired]:
    """Deletes every expired application (or only lists them with `dry_run`). Returns what was found."""
    now = now or datetime.now(timezone.utc)
    done = []
    for application in find_expired(identity, settings, now):
        keys = storage.list_keys(application_prefix(application.id))
        if not dry_run:
            for key in keys:
                storage.delete(key)
            identity.delete_account(application.id)
            Claims(storage, identity).release_account(application.account, include_folio=True)
            log.info("solicitud expirada eliminada: solicitud=%s estatus=%s objetos=%d", application.id,
                     application.status, len(keys))
        done.append(Expired(application.id, application.status, registered_at(application), len(keys)))
    return done
