"""Retention of the documents of decided applications (issue 14 §4), applied by the daily maintenance
command (`python -m registro.ops.purge`).

RETENTION_APPROVED_DAYS / RETENTION_REJECTED_DAYS (counted from the decision) say how long the
documents of approved and rejected applications are kept; abandoned applications (never confirmed
or never submitted) are deleted whole by the purge after EXPIRE_UNCONFIRMED_DAYS /
EXPIRE_INCOMPLETE_DAYS. When the period is over, every object under the application's S3 prefix is
deleted (uploaded documents and the generated responsiva); the audit trail first receives an event
with the documents' SHA-256, and the account's `documentos` attribute (keys and hashes) stays, so the
decision remains verifiable. Running it again finds nothing left to delete.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from registro.adapters.identity import IdentityDirectory
from registro.adapters.storage import ObjectStore
from registro.config import Settings
from registro.domain import status
from registro.domain.application import Application
from registro.domain.storage_keys import application_prefix
from registro.kernel.audit import DOCUMENTS_RETIRED, AuditLog, AuditTrail
from registro.kernel.document_traces import DocumentTraces, erase_documents

log = logging.getLogger(__name__)

SYSTEM_ACTOR = "sistema:conservacion"


@dataclass(frozen=True)
class Retired:
    account_id: str
    status: str
    decided_at: datetime
    objects: int


def decided_at(application: Application) -> datetime | None:
    raw = str(application.decision.get("fecha", "") or "")
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def apply_retention(identity: IdentityDirectory, storage: ObjectStore, settings: Settings, *,
                    audit: AuditLog, traces: DocumentTraces = DocumentTraces(), now: datetime | None = None,
                    dry_run: bool = False) -> list[Retired]:
    now = now or datetime.now(timezone.utc)
    periods = {status.APROBADO: settings.retention_approved_days, status.RECHAZADO: settings.retention_rejected_days}
    done: list[Retired] = []
    for current, days in periods.items():
        if days <= 0:
            continue  # 0 (or less) keeps the documents of that outcome indefinitely
        for account in list(identity.iter_by_attribute("estatus", current)):
            application = Application(account)
            when = decided_at(application)
            if application.status != current or when is None or now - when <= timedelta(days=days):
                continue
            keys = storage.list_keys(application_prefix(account.id))
            if not keys:
                continue
            if not dry_run:
                AuditTrail(audit).record(
                    DOCUMENTS_RETIRED, account.id, actor_id=SYSTEM_ACTOR, actor_username=SYSTEM_ACTOR,
                    status_before=current, status_after=current,
                    documents_sha256={k: r.sha256 for k, r in application.documents.items()},
                    details={"folio": application.folio, "objetos_eliminados": len(keys), "plazo_dias": days})
                erase_documents(storage, account.id, keys, traces)
                log.info("documentos eliminados por conservación: solicitud=%s estatus=%s objetos=%d",
                         account.id, current, len(keys))
            done.append(Retired(account.id, current, when, len(keys)))
    return done
