"""An applicant's documents: which may be uploaded when, storing them, replacing and removing them.

Ordering (no two-phase writes between the database and S3): the object is
written first, under a fresh service-built key; only then does the application's record
(`documentos`) point to it. If the content check refuses the file, or S3 or
the database fails, the new object is deleted (after its put has finished, whatever its
outcome), so nothing counts as a document. A replaced object is deleted only after the
record points to its successor; if that delete fails, the leftover object has no record
pointing to it and is removed with the application's prefix when the application is purged.

What overlaps (an upload's time is mostly waiting): once the type is known from the first
bytes, the S3 put and the sandboxed content check run at the same time in two helper
threads, each with its own reader of the spool, while this thread takes the edit lock and
reads the account; the record is written under that lock only when both have succeeded.
The replaced object's deletion starts right after the write and overlaps the lock's release.
Once the record is written, no failure deletes the new object any more.
"""
from __future__ import annotations

import logging
import re
import unicodedata
from concurrent.futures import Future
from dataclasses import replace
from datetime import date, datetime
from email.header import Header
from typing import BinaryIO, Callable, Iterable, TypeVar
from zoneinfo import ZoneInfo

from registro import filecheck
from registro.adapters.identity import IdentityDirectory
from registro.adapters.storage import ObjectStore, StorageUnavailable
from registro.domain import documents as docs
from registro.domain import filetypes, status
from registro.domain.application import Application, DocumentRecord, documents_attribute, now_iso
from registro.domain.storage_keys import document_key
from registro.documents import photo_intake
from registro.platform.process_pool import ProcessPool, settle
from registro.documents.spool import Upload
from registro.kernel.record_lock import update_record

log = logging.getLogger(__name__)

MEXICO_CITY = ZoneInfo("America/Mexico_City")
MAX_NAME_CHARS = 120
ID_KIND = "tipo_identificacion"
ID_EXPIRY = "vigencia"
CORRECTION_ROUND = "ronda_correccion"  # in a record's details: uploaded to answer that correction request
ELECTRONIC_CEDULA_REFUSED = ("No se aceptan cédulas profesionales electrónicas. Confirme que su cédula profesional "
                             "es física y con fotografía, o elija otra identificación.")


class DocumentNotAllowed(Exception):
    """This document cannot be uploaded or removed now; `message` is for the applicant."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SubmissionIncomplete(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def today() -> date:
    """The applicant's calendar day (Mexico City): what "not expired" is measured against."""
    return datetime.now(MEXICO_CITY).date()


# --- what may be done now -------------------------------------------------------------------
def flagged_documents(application: Application) -> dict[str, list[str]]:
    """The documents a reviewer asked to correct, with their reason codes (empty outside a correction)."""
    if application.status != status.REQUIERE_CORRECCION:
        return {}
    flagged = application.correction.get("documentos") or {}
    return {kind: list(reasons or []) for kind, reasons in flagged.items() if isinstance(kind, str)}


def may_change(application: Application, kind: str) -> bool:
    if kind not in docs.required_documents(application.es_extranjero):
        return False
    if application.status == status.PENDIENTE_DOCUMENTOS:
        return True
    if application.status == status.REQUIERE_CORRECCION:
        return kind in flagged_documents(application)
    return False


def check_may_change(application: Application, kind: str) -> None:
    if kind not in docs.required_documents(application.es_extranjero):
        raise DocumentNotAllowed("Ese documento no forma parte de su solicitud.")
    if application.status == status.EN_REVISION:
        raise DocumentNotAllowed("Sus documentos ya fueron enviados a validación; no es posible modificarlos "
                                 "mientras se revisan.")
    if application.status == status.REQUIERE_CORRECCION and kind not in flagged_documents(application):
        raise DocumentNotAllowed("Solo puede reemplazar los documentos que el revisor señaló para corrección.")
    if not may_change(application, kind):
        raise DocumentNotAllowed("En este momento no es posible modificar los documentos de su solicitud.")


def correction_round(application: Application) -> str:
    """Identifies the current correction request, so a replacement is told apart from the flagged original."""
    return str(application.correction.get("fecha") or "sin-fecha")


def id_details_problem(details: dict[str, str], es_extranjero: bool, on: date) -> str | None:
    """Why the official-ID details cannot be accepted, or None when they can."""
    allowed = {k.slug for k in docs.id_kinds_for(es_extranjero)}
    if details.get(ID_KIND) not in allowed:
        return "Seleccione el tipo de identificación."
    try:
        expiry = date.fromisoformat(details.get(ID_EXPIRY, ""))
    except ValueError:
        return "Indique la fecha de vigencia de su identificación."
    if expiry < on:
        return "La identificación está vencida. Cargue una identificación vigente."
    return None


def submission_problems(application: Application, on: date, checking: Iterable[str] = ()) -> list[str]:
    """What still keeps "Enviar a validación" from being allowed (empty when it is allowed).
    `checking`: documents whose direct upload is still being checked (documents/direct_uploads.py)."""
    if application.status not in status.UPLOADABLE:
        return ["Su solicitud no está en espera de documentos."]
    problems: list[str] = []
    present = application.documents
    checking = set(checking)
    for kind in docs.required_documents(application.es_extranjero):
        if kind in checking:
            problems.append(f"Espere a que termine la revisión del archivo de «{docs.DOCUMENT_LABELS[kind]}».")
        elif kind not in present:
            problems.append(f"Falta cargar: {docs.DOCUMENT_LABELS[kind]}.")
    identification = present.get(docs.IDENTIFICACION)
    if identification is not None:
        problem = id_details_problem(identification.details, application.es_extranjero, on)
        if problem:
            problems.append(problem)
    round_id = correction_round(application)
    for kind in flagged_documents(application):
        record = present.get(kind)
        if record is not None and record.details.get(CORRECTION_ROUND) != round_id:
            problems.append(f"Reemplace el documento señalado por el revisor: {docs.DOCUMENT_LABELS.get(kind, kind)}.")
    return problems


# --- storing -------------------------------------------------------------------------------
T = TypeVar("T")

# An upload's helpers (opening the application while the body arrives, the put, the content check, the
# replaced object's deletion): at most three at once per request thread, none waiting on another.
_HELPERS = ProcessPool(max_workers=32, name="subida")


def in_background(func: Callable[[], T]) -> Future[T]:
    """Runs `func` on this process's pool of upload helpers; its result or exception in the Future."""
    return _HELPERS.get().submit(func)


def store_document(identity: IdentityDirectory, storage: ObjectStore, application: Application, kind: str,
                   upload: Upload, details: dict[str, str] | None = None, *, stored_at: str | None = None,
                   still_wanted: Callable[[], bool] | None = None,
                   after_store: Callable[[Application, str, DocumentRecord], None] | None = None,
                   content_checked: str | None = None, recorded: Callable[[], None] | None = None) -> DocumentRecord:
    """Checks the content, stores the object, then points the application's record to it.

    `stored_at`: the object is already in S3 under that key (a browser's direct upload, whose bytes
    `upload` read back): nothing is put, and a refusal deletes that object. `still_wanted` is asked
    under the edit lock, before the record is written; False refuses (a newer upload of the same
    document was started meanwhile). `after_store` is called once the record points to the document.
    `content_checked`: the type these very bytes were checked as already (a direct upload's check runs as
    the object is read back); their content is then not checked again. `recorded` is called as soon as the
    record points to the document, before the object it replaced is deleted.

    Raises DocumentNotAllowed, filetypes.UnreadableFile, StorageUnavailable, ApplicationBusy or
    keycloak_ext.IdentityError.
    """
    check_may_change(application, kind)
    if upload.size == 0:
        raise filetypes.UnreadableFile("El archivo está vacío.")
    content_type = filetypes.detect(upload.stream)  # the first bytes: refused here costs no S3 call
    details = dict(details or {})
    if application.status == status.REQUIERE_CORRECCION:
        details[CORRECTION_ROUND] = correction_round(application)
    # A HEIC/HEIF photo becomes a JPEG (in the bounded child) before anything is stored (photo_intake.py).
    received_at, problems, quality = stored_at, None, None
    if content_type == filetypes.HEIF:
        upload, problems = photo_intake.converted(upload, kind, details)
        content_type, details[photo_intake.CONVERTED_FROM] = filetypes.JPEG, "HEIC"
        stored_at = photo_intake.converted_key(received_at) if received_at is not None else None
    name = sanitize_filename(upload.original_name, filetypes.EXTENSIONS[content_type])
    key = stored_at or document_key(application.id, kind)
    record = photo_intake.noted(DocumentRecord(key=key, sha256=upload.sha256, size=upload.size,
                                               content_type=content_type, original_name=name, uploaded_at=now_iso(),
                                               details=details), problems)
    metadata = {
        "sha256": upload.sha256,
        "size": str(upload.size),
        "detected-type": content_type,
        "original-name": metadata_text(name),
        "document-kind": kind,
        "application-id": application.id,
    }
    if content_checked is not None and content_checked != content_type:  # not these bytes: check them
        content_checked = None
    check_reader = None if content_checked else upload.second_reader()
    if check_reader is None and not content_checked:  # one reader only: check first, then put, one after the other
        filecheck.check_upload(upload.stream, content_type)
    checked = in_background(lambda: _verify(check_reader, content_type)) if check_reader is not None else None
    if problems is None and photo_intake.measured(kind, content_type):  # an ID photo's blur, glare, pixels: advice
        quality = in_background(lambda: photo_intake.assess(upload.second_reader(), kind, content_type, details))
    upload.stream.seek(0)
    if received_at is not None and stored_at != received_at:  # converted: the JPEG is a new object
        metadata["converted-from"] = filetypes.HEIF
    stored = None if stored_at is not None and stored_at == received_at else in_background(
        lambda: storage.put(key, upload.stream, content_type=content_type, metadata=metadata))
    try:
        replaced: list[DocumentRecord] = []

        def add(account) -> dict:
            nonlocal record
            # Checked on the record as read under the lock: another tab may have changed or submitted it.
            current = Application(account)
            check_may_change(current, kind)
            if checked is not None:
                checked.result()  # UnreadableFile: refused, nothing recorded
            if stored is not None:
                stored.result()  # the object is in S3 before the record points to it
            if still_wanted is not None and not still_wanted():
                raise DocumentNotAllowed("Se inició una carga más reciente de este documento.")
            if quality is not None:
                record = photo_intake.noted(record, photo_intake.settled_problems(quality))
            documents = current.documents
            replaced[:] = [documents[kind]] if kind in documents else []
            documents[kind] = record
            return {"attributes": {"documentos": documents_attribute(documents)}}

        written: list[bool] = []
        cleanup: list[Future] = []

        def delete_replaced() -> None:  # the record points to the new object: its deletion overlaps the release
            written.append(True)
            if recorded is not None:
                recorded()
            if replaced and replaced[0].key != key:
                old_key = replaced[0].key
                cleanup.append(in_background(lambda: delete_quietly(storage, old_key, "documento reemplazado")))
            if received_at is not None and received_at != key:  # the HEIC a direct upload left: now a JPEG
                cleanup.append(in_background(lambda: delete_quietly(storage, received_at, "foto HEIC convertida")))

        # `add` may wait for the put and the check, holding the application's lock meanwhile.
        update_record(identity, application.id, add, written=delete_replaced)
    except BaseException:
        if written:
            raise  # whatever failed after the write, the record points to the new object: it stays
        settle(stored)  # the put must be over before its object is deleted (and the spool closed)
        settle(checked)
        settle(quality)
        delete_quietly(storage, key, "documento nuevo sin registro")
        if received_at is not None and received_at != key:
            delete_quietly(storage, received_at, "foto HEIC sin registro")
        raise
    for job in cleanup:
        settle(job)  # done before answering: the page then lists exactly what is stored
    log.info("documento cargado: solicitud=%s tipo=%s bytes=%d formato=%s", application.id, kind, upload.size,
             content_type)
    if after_store is not None:  # e.g. the reading of the document (documents/readings.py), off this request
        after_store(application, kind, record)
    return record


def _verify(reader: BinaryIO, content_type: str) -> None:
    with reader:
        filecheck.check_upload(reader, content_type)


def _edit_document(identity: IdentityDirectory, application: Application, kind: str,
                   edit: Callable[[dict[str, DocumentRecord]], DocumentRecord | None]) -> DocumentRecord | None:
    """One change of the record's `kind` document under the application's lock, checked on the record as
    read there (another tab may have changed or submitted it). `edit` changes the documents in place and
    returns the record it dealt with, or None to write nothing; that record is returned."""
    check_may_change(application, kind)
    dealt: list[DocumentRecord] = []

    def change(account) -> dict:
        current = Application(account)
        check_may_change(current, kind)
        documents = current.documents
        record = edit(documents)
        if record is None:
            return {}
        dealt.append(record)
        return {"attributes": {"documentos": documents_attribute(documents) if documents else None}}

    update_record(identity, application.id, change)
    return dealt[0] if dealt else None


def remove_document(identity: IdentityDirectory, storage: ObjectStore, application: Application, kind: str) -> None:
    """Unlinks the document from the record first, then deletes its object."""
    removed = _edit_document(identity, application, kind, lambda documents: documents.pop(kind, None))
    if removed is not None:
        delete_quietly(storage, removed.key, "documento eliminado")


def keep_anyway(identity: IdentityDirectory, storage: ObjectStore, application: Application, kind: str,
                sha256: str) -> bool:
    """Records that the applicant keeps the photo whose SHA-256 the page showed (a photo replaced
    since is not the one they chose to keep). False when that photo is no longer the document."""
    def keep(documents: dict[str, DocumentRecord]) -> DocumentRecord | None:
        record = documents.get(kind)
        if record is None or record.sha256 != sha256:
            return None
        documents[kind] = replace(record, details={**record.details, photo_intake.QUALITY_KEPT: "si"})
        return record

    return _edit_document(identity, application, kind, keep) is not None


def delete_quietly(storage: ObjectStore, key: str, what: str) -> None:
    try:
        storage.delete(key)
    except StorageUnavailable:
        # Left without a record pointing to it; the purge of the application's prefix removes it.
        log.warning("no se pudo borrar %s en S3 (queda sin registro): %s", what, key)


# --- names ---------------------------------------------------------------------------------
_UNSAFE = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]+')


def sanitize_filename(raw: str, extension: str) -> str:
    """A display name from what the browser sent: no path, no control characters, bounded length."""
    name = unicodedata.normalize("NFC", raw or "")
    name = re.split(r"[/\\]", name)[-1]
    name = _UNSAFE.sub("_", name)
    name = " ".join(name.split()).strip(" .")
    if not name:
        name = f"documento{extension}"
    if len(name) > MAX_NAME_CHARS:
        stem, dot, ext = name.rpartition(".")
        ext = ext[:10] if dot else ""
        name = (stem if dot else name)[: MAX_NAME_CHARS - len(ext) - 1] + ("." + ext if ext else "")
    return name


def metadata_text(text: str) -> str:
    """S3 user metadata travels in HTTP headers: ASCII as is, anything else as an RFC 2047 encoded word."""
    if text.isascii() and text.isprintable():
        return text
    return Header(text, "utf-8").encode(maxlinelen=10**6)


# --- display -------------------------------------------------------------------------------
def human_size(size: int) -> str:
    """es-MX style sizes ("1.5 MB"); hand-written: three lines do not justify a locale library."""
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def local_time(iso: str) -> str:
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    return moment.astimezone(MEXICO_CITY).strftime("%d/%m/%Y %H:%M")

