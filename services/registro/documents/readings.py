""""Lectura automática" (issue 23): after an upload of an INE/passport photo or a CURP document is
accepted, the machine reads it off the request path and keeps what it found for the reviewer.

- What is read: the ID when its declared kind is INE or passport and it is a photo (JPEG/PNG; a
  HEIC arrives here as JPEG): its MRZ (documents/reading/service.read_identity_document); the CURP
  document when it is a PDF with text (read_curp_document). Anything else is shown as "no se pudo
  leer" with why, without running anything (a photo under 290 dpi cannot hold a readable MRZ).
- Where it runs: one reading at a time per process (OCR takes a core for about a second), on this
  module's own pool, the image work in the bounded child with its own limits.
- What is kept: the comparison with what the applicant declared, as a row of registro's PostgreSQL
  (`document_readings`, one per application and document kind: S3 keeps bytes only, issue 20 §3),
  naming the document it read (its key and SHA-256): a replaced document's reading is not shown,
  and is replaced by the next one's. It holds personal data (what was read): it goes wherever the
  application's documents go (purge, retention, deletion on request: `forget`).
- Never a decision: the reviewer sees ✔/✘ per field and the suggested correction reasons.
"""
from __future__ import annotations

import logging
import threading
from concurrent.futures import Future
from dataclasses import asdict
from datetime import date
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert

from registro.adapters.storage import ObjectMissing, ObjectStore, StorageUnavailable
from registro.documents.reading.problems import TOO_SMALL
from registro.domain import documents as docs
from registro.domain import filetypes
from registro.domain.application import Application, DocumentRecord, now_iso
from registro.domain.storage_keys import document_owner
from registro.documents.service import ID_EXPIRY, ID_KIND
from registro.documents.photo_intake import QUALITY
from registro.platform.db import Database, DatabaseUnavailable
from registro.platform.db.schema import document_readings
from registro.platform.process_pool import ProcessPool

log = logging.getLogger(__name__)

VERSION = "v1"  # bump when what is kept changes: older readings are then read again
MRZ_KINDS = ("ine", "pasaporte")  # the declared ID kinds that carry a machine-readable zone

_POOL = ProcessPool(max_workers=1, name="lectura")


@runtime_checkable
class ReadingStore(Protocol):
    """Where readings are kept: `PgReadingStore` here, `FakeReadingStore` in tests/fakes.py, both held to
    tests/support/reading_contract.py. Raises DatabaseUnavailable."""

    def keep(self, account_id: str, kind: str, reading: dict[str, Any]) -> None:
        """The reading of the application's `kind` document, replacing any earlier one of that kind."""
        ...

    def get(self, account_id: str, kind: str) -> dict[str, Any] | None: ...

    def forget(self, account_id: str) -> int:
        """Deletes the application's readings (its documents are being deleted); how many."""
        ...


class PgReadingStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def keep(self, account_id: str, kind: str, reading: dict[str, Any]) -> None:
        t = document_readings
        row = {"account_id": account_id, "kind": kind, "document_key": reading["documento"],
               "sha256": reading["sha256"], "reading": reading}
        with self.db.transaction() as conn:
            conn.execute(insert(t).values(**row).on_conflict_do_update(
                index_elements=[t.c.account_id, t.c.kind],
                set_={"document_key": row["document_key"], "sha256": row["sha256"], "reading": reading}))

    def get(self, account_id: str, kind: str) -> dict[str, Any] | None:
        t = document_readings
        with self.db.transaction() as conn:
            return conn.execute(select(t.c.reading).where(t.c.account_id == account_id, t.c.kind == kind)
                                ).scalar_one_or_none()

    def forget(self, account_id: str) -> int:
        with self.db.transaction() as conn:
            return conn.execute(delete(document_readings).where(document_readings.c.account_id == account_id)
                                ).rowcount


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


def read_now(storage: ObjectStore, store: ReadingStore, application: Application, kind: str,
             record: DocumentRecord, today: date) -> dict:
    """Reads the stored document and keeps the outcome; returns what was kept. Never raises for the
    document's content (an unreadable one is "no se pudo leer"); raises StorageUnavailable / ObjectMissing
    (reading the document), DatabaseUnavailable (keeping what was read)."""
    from registro.documents.reading import service

    data = storage.get(record.key)
    if kind == docs.IDENTIFICACION:
        comparison = service.read_identity_document(data, declared_of(application, record), today)
    else:
        comparison = service.read_curp_document(data, application.account.attr("curp"))
    kept = {"version": VERSION, "documento": record.key, "sha256": record.sha256, "fecha": now_iso(),
            "leido": comparison.read, "motivos": list(comparison.reasons),
            "campos": [asdict(f) for f in comparison.fields]}
    store.keep(*document_owner(record.key), kept)  # a replaced document's reading (personal data) goes with it
    log.info("lectura automática: solicitud=%s tipo=%s leido=%s no_coinciden=%d", application.id, kind,
             comparison.read, len(comparison.mismatches))  # no value read: they are personal data
    return kept


class DocumentReadings:
    """Starts readings in the background and finds the kept ones. One per process (the container's)."""

    def __init__(self, storage: ObjectStore, store: ReadingStore, today=None) -> None:
        self.storage = storage
        self.store = store
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
            return read_now(self.storage, self.store, application, kind, record, self.today())
        except (StorageUnavailable, ObjectMissing, DatabaseUnavailable) as exc:  # replaced, or S3/PG away: later
            log.warning("lectura automática no realizada: solicitud=%s tipo=%s (%s)", application.id, kind,
                        type(exc).__name__)
        except Exception:  # noqa: BLE001 - a background job: logged; the reviewer sees it as pending
            log.exception("lectura automática: falla inesperada: solicitud=%s tipo=%s", application.id, kind)
        return None

    def kept(self, record: DocumentRecord) -> dict | None:
        """The reading kept for this very document (its key and SHA-256, this VERSION), or None. Raises
        DatabaseUnavailable."""
        found = self.store.get(*document_owner(record.key))
        if (found is None or found.get("documento") != record.key or found.get("sha256") != record.sha256
                or found.get("version") != VERSION):
            return None
        return found

    def forget(self, account_id: str) -> int:
        """The application's readings go with its documents (purge, retention, deletion on request)."""
        return self.store.forget(account_id)

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
