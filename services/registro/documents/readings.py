""""Lectura automática" (issue 23): after an upload of an INE/passport photo or a CURP document is
accepted, the machine reads it off the request path and keeps what it found for the reviewer.

- What is read: the ID when its declared kind is INE or passport and it is a photo (JPEG/PNG; a
  HEIC arrives here as JPEG): its MRZ (documents/reading/service.read_identity_document); the CURP
  document when it is a PDF with text (read_curp_document). Anything else is shown as "no se pudo
  leer" with why, without running anything (a photo under 290 dpi cannot hold a readable MRZ).
- Where it runs: one reading at a time per process (OCR takes a core for about a second), on this
  module's own pool, the image work in the bounded child with its own limits.
- What is kept: the comparison with what the applicant declared, as a small JSON object in S3 at
  `reading_key(document key)`, inside the application's prefix (purged with it) and named after
  the document (a replaced document is read again, its old reading ignored).
- Never a decision: the reviewer sees ✔/✘ per field and the suggested correction reasons.
"""
from __future__ import annotations

import json
import logging
import threading
from concurrent.futures import Future
from dataclasses import asdict
from datetime import date

from registro.adapters.storage import ObjectMissing, ObjectStore, StorageUnavailable
from registro.documents.reading.problems import TOO_SMALL
from registro.domain import documents as docs
from registro.domain import filetypes
from registro.domain.application import Application, DocumentRecord, now_iso
from registro.documents.service import ID_EXPIRY, ID_KIND
from registro.documents.photo_intake import QUALITY
from registro.platform.process_pool import ProcessPool

log = logging.getLogger(__name__)

VERSION = "v1"  # bump when what is kept changes: older readings are then read again
MRZ_KINDS = ("ine", "pasaporte")  # the declared ID kinds that carry a machine-readable zone

_POOL = ProcessPool(max_workers=1, name="lectura")


def reading_key(document_key: str) -> str:
    """solicitudes/<id>/lecturas/v1/<kind>/<token>.json for solicitudes/<id>/documentos/<kind>/<token> (no
    "/documentos/" in it: whoever lists an application's documents by that part does not take it for one)."""
    head, account_id, folder, kind, token = (document_key.split("/") + [""] * 5)[:5]
    if head != "solicitudes" or folder != "documentos" or not (account_id and kind and token):
        raise ValueError("solo documentos de una solicitud")
    return f"solicitudes/{account_id}/lecturas/{VERSION}/{kind}/{token}.json"


def not_readable(kind: str, record: DocumentRecord) -> str | None:
    """Why this document is not read by the machine (shown to the reviewer as "no se pudo leer"), or
    None when it is read."""
    if kind == docs.IDENTIFICACION:
        if record.details.get(ID_KIND) not in MRZ_KINDS:
            return "El tipo de identificación registrado no lleva zona de lectura mecánica."
        if record.content_type not in (filetypes.JPEG, filetypes.PNG):
            return "La identificación se cargó en PDF; la lectura automática lee fotos (JPEG, PNG o HEIC)."
        if TOO_SMALL in record.details.get(QUALITY, "").split(","):
            return "La foto tiene muy pocos píxeles para leer la zona de lectura mecánica."
        return None
    if kind == docs.CURP:
        return None if record.content_type == filetypes.PDF else "La constancia de CURP se cargó como imagen, no como PDF con texto."
    return "Este documento no se lee automáticamente."


def declared_of(application: Application, record: DocumentRecord):
    from registro.documents.reading.compare import Declared

    account = application.account
    return Declared(nombre=account.first_name or "", apellidos=account.last_name or "", curp=account.attr("curp"),
                    pasaporte=account.attr("pasaporte"), pais=account.attr("pais"),
                    es_extranjero=application.es_extranjero,
                    tipo_identificacion=record.details.get(ID_KIND, ""), vigencia=record.details.get(ID_EXPIRY, ""))


def read_now(storage: ObjectStore, application: Application, kind: str, record: DocumentRecord,
             today: date) -> dict:
    """Reads the stored document and keeps the outcome; returns what was kept. Never raises for the
    document's content (an unreadable one is "no se pudo leer"); raises StorageUnavailable / ObjectMissing."""
    from registro.documents.reading import service

    data = storage.get(record.key)
    if kind == docs.IDENTIFICACION:
        comparison = service.read_identity_document(data, declared_of(application, record), today)
    else:
        comparison = service.read_curp_document(data, application.account.attr("curp"))
    kept = {"version": VERSION, "documento": record.key, "sha256": record.sha256, "fecha": now_iso(),
            "leido": comparison.read, "motivos": list(comparison.reasons),
            "campos": [asdict(f) for f in comparison.fields]}
    key = reading_key(record.key)
    storage.put(key, json.dumps(kept, ensure_ascii=False).encode(), content_type="application/json")
    for earlier in storage.list_keys(key.rsplit("/", 1)[0] + "/"):  # a replaced document's reading: personal data
        if earlier != key:
            storage.delete(earlier)
    log.info("lectura automática: solicitud=%s tipo=%s leido=%s no_coinciden=%d", application.id, kind,
             comparison.read, len(comparison.mismatches))  # no value read: they are personal data
    return kept


class DocumentReadings:
    """Starts readings in the background and finds the kept ones. One per process (the container's)."""

    def __init__(self, storage: ObjectStore, today=None) -> None:
        self.storage = storage
        self._today = today
        self._running: dict[str, Future] = {}
        self._lock = threading.Lock()

    def today(self) -> date:
        if self._today is not None:
            return self._today()
        from registro.documents.service import today

        return today()

    def start(self, application: Application, kind: str, record: DocumentRecord) -> Future | None:
        """Reads the document off the request path (once per document key at a time); None when it is
        not read by the machine."""
        if not_readable(kind, record) is not None:
            return None
        with self._lock:
            running = self._running.get(record.key)
            if running is not None and not running.done():
                return running
            job = _POOL.get().submit(self._read, application, kind, record)
            self._running[record.key] = job
            job.add_done_callback(lambda _: self._forget(record.key, job))
            return job

    def _forget(self, key: str, job: Future) -> None:
        with self._lock:
            if self._running.get(key) is job:
                del self._running[key]

    def _read(self, application: Application, kind: str, record: DocumentRecord) -> dict | None:
        try:
            return read_now(self.storage, application, kind, record, self.today())
        except (StorageUnavailable, ObjectMissing) as exc:  # a replaced document, or S3 away: read again later
            log.warning("lectura automática no realizada: solicitud=%s tipo=%s (%s)", application.id, kind,
                        type(exc).__name__)
        except Exception:  # noqa: BLE001 - a background job: logged; the reviewer sees it as pending
            log.exception("lectura automática: falla inesperada: solicitud=%s tipo=%s", application.id, kind)
        return None

    def kept(self, record: DocumentRecord) -> dict | None:
        """The reading kept for this very document (its key and SHA-256), or None."""
        try:
            found = json.loads(self.storage.get(reading_key(record.key)))
        except (ObjectMissing, ValueError):
            return None
        if found.get("documento") != record.key or found.get("sha256") != record.sha256:
            return None
        return found

    def running(self) -> list[Future]:
        """The readings started and not yet ended (for tests and a graceful stop)."""
        with self._lock:
            return [job for job in self._running.values() if not job.done()]


def after_upload(readings: DocumentReadings | None, application: Application, kind: str,
                 record: DocumentRecord) -> None:
    """What store_document calls once the record points to a new document: never fails the upload."""
    if readings is None:
        return
    try:
        readings.start(application, kind, record)
    except Exception:  # noqa: BLE001 - the upload is done; a reading not started is started by the review page
        log.exception("lectura automática no iniciada: solicitud=%s tipo=%s", application.id, kind)
