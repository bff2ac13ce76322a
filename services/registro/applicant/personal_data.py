"""ARCO rights of one applicant (issue 14 §4): export everything held about them; cancel the personal data
of an application that was not approved. Used by `python -m registro.ops.datos` (operators only).

Export: one ZIP with the Keycloak account (attributes included), every object under the application's
S3 prefix (documents, responsiva) and the audit trail (PostgreSQL). Cancellation: the audit trail keeps the
decisions and the documents' SHA-256 (an event records them before anything is deleted); every
document and the Keycloak account (its personal attributes) are deleted. Both leave an audit event
naming the operator. Order of cancellation — audit event, S3 objects, account — so a failure halfway
leaves an account whose re-run completes the job, never objects without an owner.
"""
from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

from keycloak_ext import Account, AccountNotFound

from registro.adapters.identity import IdentityDirectory
from registro.adapters.storage import ObjectStore
from registro.domain import status
from registro.domain.application import Application, now_iso
from registro.domain.storage_keys import application_prefix
from registro.kernel.applications import ApplicationStore
from registro.kernel.audit import DATA_CANCELLED, DATA_EXPORTED, AuditLog, AuditTrail
from registro.kernel.document_traces import DocumentTraces, erase_documents

FOLIO_PREFIX = "AU-"


class HolderNotFound(Exception):
    """No application with that folio or username."""


class CancellationRefused(Exception):
    """An approved account is in use: its cancellation is a different procedure (disable, then delete)."""


@dataclass(frozen=True)
class Operator:
    name: str  # who ran the command (the audit event names them)


def find_holder(identity: IdentityDirectory, applications: ApplicationStore | None, folio_or_username: str) -> Account:
    wanted = folio_or_username.strip()
    if wanted.upper().startswith(FOLIO_PREFIX):
        folio = wanted.upper()
        # Through registro's database; only an account made before it existed needs Keycloak's
        # attribute search, slow on a large realm.
        account_id = applications.account_of_folio(folio) if applications is not None else None
        if account_id is not None:
            try:
                return identity.get_account(account_id)
            except AccountNotFound:
                pass
        matches = [a for a in identity.find_by_attribute("folio", folio, max_results=2) if a.attr("folio") == folio]
        if matches:
            return matches[0]
    account = identity.find_by_username(wanted.lower())
    if account is None or not account.attr("estatus"):
        raise HolderNotFound(wanted)
    return account


def _account_record(account: Account) -> dict:
    return {"id": account.id, "usuario": account.username, "correo": account.email, "nombre": account.first_name,
            "apellidos": account.last_name, "habilitada": account.enabled, "correo_verificado": account.email_verified,
            "creada_ms": account.created_ms, "atributos": dict(sorted(account.attributes.items()))}


def export(identity: IdentityDirectory, storage: ObjectStore, folio_or_username: str, target: Path,
           operator: Operator, *, audit: AuditLog, applications: ApplicationStore | None = None) -> Path:
    """Writes the ZIP to `target` (a file) and records the export. Returns the path written."""
    account = find_holder(identity, applications, folio_or_username)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("cuenta.json", json.dumps(_account_record(account), ensure_ascii=False, indent=2))
        prefix = application_prefix(account.id)
        for key in storage.list_keys(prefix):
            archive.writestr("objetos/" + key[len(prefix):], storage.get(key))
        trail = AuditTrail(audit)
        archive.writestr("auditoria.json", json.dumps([asdict(e) for e in trail.history(account.id)],
                                                      ensure_ascii=False, indent=2))
        archive.writestr("LEAME.txt", "Datos personales de una solicitud de Acceso Único (ANAM), exportados el "
                                      f"{now_iso()} por {operator.name}.\ncuenta.json: la cuenta en Keycloak y sus "
                                      "atributos; objetos/: documentos y responsiva tal como se guardaron; "
                                      "auditoria.json: el registro de auditoría de la solicitud.\n")
    data = buffer.getvalue()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    trail.record(DATA_EXPORTED, account.id, actor_id=f"operador:{operator.name}", actor_username=operator.name,
                 status_before=account.attr("estatus"), status_after=account.attr("estatus"),
                 details={"folio": account.attr("folio"), "archivo_sha256": hashlib.sha256(data).hexdigest()})
    return target


def cancel(identity: IdentityDirectory, storage: ObjectStore, folio_or_username: str, operator: Operator,
           *, audit: AuditLog, traces: DocumentTraces = DocumentTraces(),
           applications: ApplicationStore | None = None) -> dict:
    """Deletes the documents and the account of a non-approved application; the audit keeps the hashes.
    The person's identifiers are freed (they may apply again) and the application leaves the review
    queue with its record (the queue is a query over it)."""
    account = find_holder(identity, applications, folio_or_username)
    application = Application(account)
    if application.status == status.APROBADO:
        raise CancellationRefused(account.id)
    keys = [k for k in storage.list_keys(application_prefix(account.id))]
    hashes = {kind: record.sha256 for kind, record in application.documents.items()}
    AuditTrail(audit).record(DATA_CANCELLED, account.id, actor_id=f"operador:{operator.name}",
                               actor_username=operator.name, status_before=application.status,
                               status_after="cancelado", documents_sha256=hashes,
                               details={"folio": application.folio, "objetos_eliminados": len(keys),
                                        "decision": application.decision.get("decision", "")})
    erase_documents(storage, account.id, keys, traces)
    # The identity port's delete (kernel/records.RecordedIdentity): the account, the record's personal data and
    # undelivered emails; the application cancelled and its identifiers released, in one transaction.
    identity.delete_account(account.id)
    return {"solicitud": account.id, "folio": application.folio, "objetos": len(keys), "documentos": hashes}

