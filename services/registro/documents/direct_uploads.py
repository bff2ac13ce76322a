"""Documents a browser sends straight to S3 (a presigned PUT), checked by the service afterwards.

The bytes of a 10 MiB document then cross the network once, not twice (browser → service → S3),
and no request thread waits for them (only, briefly, for the check's outcome). Three calls:
1. `issue`: the link's application may change this document, the size is within the limit and
   the details are valid → a fresh document key, a PUT presigned for exactly that size that S3
   refuses once the key exists (so the URL cannot overwrite what the check will have read), and a
   receipt signed by the service naming key, document, size, name and details.
2. The browser PUTs the file to S3.
3. `confirm`: the receipt (ours, for this application, not expired) → the check starts in the
   background. It marks the document "revisando" under the application's prefix, reads the object
   back and checks its type and content as for any upload while it arrives (the bounded child
   receives each piece as S3 sends it, hashes it and scans it), and points the record to it under the
   edit lock (documents.store_document with `stored_at`). Refused, the object is deleted and the marker
   says why, in the applicant's words; the page shows it. The confirmation waits for the outcome up to
   DIRECT_UPLOAD_WAIT_SECONDS (told as soon as the record is written) and answers it; a check that
   takes longer is answered "revisando", and the script polls `state_of` its own upload (named by a
   small signed token: the receipt, which holds the file's name and the ID's details, stays out of URLs
   and logs).

The markers (one row per application and document in PostgreSQL's `upload_markers`, behind `UploadMarkers`:
`PgUploadMarkers` here, an in-memory twin in tests/fakes.py, both checked by tests/support/state_contract.py)
are what the page and "Enviar a validación" read: a document still being checked keeps
the application from being submitted. A marker left "revisando" by a process that died is taken up
again by the next view of the page after STALE_S (the check is idempotent: same key, same record).
The form upload through the service (documents/views.py) stays the path without JavaScript.
"""
from __future__ import annotations

import hashlib
import itertools
import logging
import queue
import threading
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Callable, Protocol, runtime_checkable

from itsdangerous import BadData, URLSafeTimedSerializer
from keycloak_ext import IdentityError
from sqlalchemy import and_, delete, literal, select, update
from sqlalchemy.dialects.postgresql import insert

from registro import filecheck
from registro.adapters.identity import IdentityDirectory
from registro.adapters.storage import ObjectMissing, ObjectStore, PresignedPut, StorageUnavailable
from registro.config import Settings
from registro.domain import documents as docs
from registro.domain.application import Application, DocumentRecord, now_iso
from registro.domain import filetypes
from registro.domain.filetypes import UnreadableFile
from registro.domain.storage_keys import document_key
from registro.platform.db import Database, DatabaseUnavailable
from registro.platform.db.schema import upload_markers
from registro.documents.spool import SPOOL_IN_MEMORY, CountingSpool, FileTooLarge
from registro.documents.service import DocumentNotAllowed, Upload, delete_quietly, human_size, in_background, store_document
from registro.documents.service import in_background as _helper  # the check's own helpers (the check itself: in_background)
from registro.documents import photo_intake
from registro.documents.photo_intake import names_upload  # a HEIC's record names the JPEG converted from it
from registro.platform.process_pool import settle
from registro.kernel.record_lock import ApplicationBusy

log = logging.getLogger(__name__)

_SALT = "acceso-unico/subida-directa"
PUT_TTL_S = 15 * 60  # a slow phone's 10 MiB
RECEIPT_TTL_S = 60 * 60
STALE_S = 120  # a check still "revisando" after this was lost with its process: the page restarts it

CHECKING, REFUSED, DONE = "revisando", "rechazado", "cargado"
SUPERSEDED = "reemplazado"  # a later upload of the same document took over before this one was checked
NOT_RECEIVED = "No se recibió el archivo. Cárguelo de nuevo."
TEMPORARY_FAILURE = "No fue posible guardar el archivo por una falla temporal del sistema. Cárguelo de nuevo."


GRANT_TTL_S = 60 * 60
SUPERSEDED_LINK = ("Este enlace fue reemplazado por uno más reciente. Use el enlace del último correo que recibió y "
                   "cargue el archivo de nuevo.")


# Called once a checked upload is recorded (documents.store_document's `after_store`: its reading).
AfterStore = Callable[[Application, str, DocumentRecord], None]


class ReceiptInvalid(Exception):
    """Not a receipt this service issued for this application and document, or too old."""


@dataclass(frozen=True)
class Grant:
    """What the page knew when it drew a document's form, signed into it (`grant_token`): the URL is then
    issued without reading the record. The check re-reads the application under its row lock and refuses
    what is no longer allowed (a submitted application, a replaced link), so a grant only saves a read."""

    account_id: str
    kind: str
    es_extranjero: bool
    locale: str
    link_version: str

    @classmethod
    def of(cls, application: Application, kind: str, link_version: str) -> Grant:
        return cls(application.id, kind, application.es_extranjero, application.account.attr("locale") or "",
                   link_version)


def grant_token(settings: Settings, grant: Grant) -> str:
    return _serializer(settings).dumps({"g": [grant.account_id, grant.kind, grant.es_extranjero, grant.locale,
                                              grant.link_version]})


def read_grant(settings: Settings, token: str, account_id: str, link_version: str, kind: str) -> Grant | None:
    """The grant, if it is ours, recent, and for this link and document; else None (read the application)."""
    try:
        grant = Grant(*_serializer(settings).loads(token, max_age=GRANT_TTL_S)["g"])
    except (BadData, TypeError, KeyError, ValueError):
        return None
    if (grant.account_id, grant.kind, grant.link_version) != (account_id, kind, link_version):
        return None
    return grant


@dataclass(frozen=True)
class Receipt:
    account_id: str
    kind: str
    key: str
    size: int
    name: str
    details: dict[str, str] = field(default_factory=dict)
    issued: str = ""  # when the URL was issued (microseconds): of two uploads of a document, the later wins
    link_version: str = ""  # the link it was issued under: a link replaced since makes the check refuse it


@dataclass(frozen=True)
class Marker:
    """The state of a document's latest direct upload (a row of `upload_markers`)."""

    state: str
    receipt: Receipt
    since: str  # when the check began (or was taken up again)
    message: str = ""  # why it was refused, for the applicant

    def to_dict(self) -> dict[str, Any]:
        return {"estado": self.state, "recibo": asdict(self.receipt), "desde": self.since, "mensaje": self.message}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Marker:
        return cls(state=raw["estado"], receipt=Receipt(**raw["recibo"]), since=raw["desde"],
                   message=raw.get("mensaje", ""))

    def age_s(self, now: datetime | None = None) -> float:
        try:
            began = datetime.fromisoformat(self.since)
        except ValueError:
            return float("inf")
        return ((now or datetime.now(timezone.utc)) - began).total_seconds()


# What `UploadMarkers.mark` found: this upload now holds the marker; a later-issued upload holds it; this very
# upload held it already (another confirmation of the same receipt got there first).
MARKED, LATER, ALREADY = "marcada", "posterior", "ya-marcada"


@runtime_checkable
class UploadMarkers(Protocol):
    def get(self, account_id: str, kind: str) -> Marker | None:
        ...

    def of_account(self, account_id: str) -> list[Marker]:
        ...

    def mark(self, marker: Marker) -> str:
        """Writes `marker` (state "revisando") unless the document's marker names a later-issued upload (LATER)
        or this very upload (ALREADY); else MARKED. Of two uploads marking at once, the later-issued wins,
        whatever order they run in."""

    def finish(self, receipt: Receipt, state: str, message: str) -> bool:
        """Sets the outcome if the marker still names this upload; False when it does not."""

    def renew(self, marker: Marker, since: str) -> bool:
        """Moves `since` on if the marker is still exactly `marker` (same upload, same `since`): of two views
        taking a lost check up again, one does."""

    def forget(self, account_id: str) -> int:
        """Deletes the application's markers (its documents are being deleted); how many."""


class PgUploadMarkers:
    def __init__(self, db: Database) -> None:
        self.db = db

    @staticmethod
    def _of(account_id: str, kind: str):
        return and_(upload_markers.c.account_id == account_id, upload_markers.c.kind == kind)

    @staticmethod
    def _names(key: str):
        return upload_markers.c.marker["recibo"]["key"].astext == key

    def get(self, account_id: str, kind: str) -> Marker | None:
        with self.db.transaction() as conn:
            row = conn.execute(select(upload_markers.c.marker).where(self._of(account_id, kind))).first()
        return Marker.from_dict(row.marker) if row else None

    def of_account(self, account_id: str) -> list[Marker]:
        query = (select(upload_markers.c.marker).where(upload_markers.c.account_id == account_id)
                 .order_by(upload_markers.c.kind))
        with self.db.transaction() as conn:
            return [Marker.from_dict(row.marker) for row in conn.execute(query)]

    def mark(self, marker: Marker) -> str:
        receipt = marker.receipt
        new = insert(upload_markers).values(account_id=receipt.account_id, kind=receipt.kind, state=marker.state,
                                            issued=receipt.issued, marker=marker.to_dict(), since=_moment(marker.since))
        # Issue times compare as the strings they are (ISO-8601, UTC), byte by byte whatever the collation.
        takes_over = and_(upload_markers.c.issued.collate("C") <= new.excluded.issued.collate("C"),
                          ~self._names(receipt.key))
        upsert = new.on_conflict_do_update(
            index_elements=[upload_markers.c.account_id, upload_markers.c.kind],
            set_={"state": new.excluded.state, "issued": new.excluded.issued, "marker": new.excluded.marker,
                  "since": new.excluded.since},
            where=takes_over).returning(literal(1))
        with self.db.transaction() as conn:
            if conn.execute(upsert).first() is not None:
                return MARKED
            # Not taken over: the conflicting row is locked by the upsert, so this reads what refused it.
            current = conn.execute(select(upload_markers.c.marker)
                                   .where(self._of(receipt.account_id, receipt.kind))).first()
        return ALREADY if current and Marker.from_dict(current.marker).receipt.key == receipt.key else LATER

    def finish(self, receipt: Receipt, state: str, message: str) -> bool:
        changes = upload_markers.c.marker.op("||")({"estado": state, "mensaje": message})
        with self.db.transaction() as conn:
            return conn.execute(update(upload_markers)
                                .where(self._of(receipt.account_id, receipt.kind), self._names(receipt.key))
                                .values(state=state, marker=changes)).rowcount == 1

    def renew(self, marker: Marker, since: str) -> bool:
        receipt = marker.receipt
        with self.db.transaction() as conn:
            return conn.execute(update(upload_markers)
                                .where(self._of(receipt.account_id, receipt.kind), self._names(receipt.key),
                                       upload_markers.c.marker["desde"].astext == marker.since)
                                .values(since=_moment(since),
                                        marker=upload_markers.c.marker.op("||")({"desde": since}))).rowcount == 1

    def forget(self, account_id: str) -> int:
        with self.db.transaction() as conn:
            return conn.execute(delete(upload_markers).where(upload_markers.c.account_id == account_id)).rowcount


def _moment(iso: str) -> datetime:
    try:
        return datetime.fromisoformat(iso)
    except ValueError:
        return datetime.now(timezone.utc)


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.signing_keys, salt=_SALT)  # the previous key too, during a rotation


# --- 1. the URL ---------------------------------------------------------------------------------
def issue(storage: ObjectStore, settings: Settings, grant: Grant, size: int, name: str,
          details: dict[str, str]) -> tuple[PresignedPut, str]:
    """The presigned PUT and the receipt to confirm it with. Raises UnreadableFile (empty), FileTooLarge or
    StorageUnavailable (browsers have no way to S3). Whether the document may change was decided by whoever
    made the grant (the page, or the view after reading the application), and again by the check."""
    if size <= 0:
        raise UnreadableFile("El archivo está vacío.")
    if size > settings.upload_max_bytes:
        raise FileTooLarge(settings.upload_max_bytes)
    receipt = Receipt(account_id=grant.account_id, kind=grant.kind, key=document_key(grant.account_id, grant.kind),
                      size=size, name=name[:1000], details=dict(details), issued=datetime.now(timezone.utc).isoformat(),
                      link_version=grant.link_version)
    put = storage.presigned_put(receipt.key, size, PUT_TTL_S)
    return put, _serializer(settings).dumps(asdict(receipt))


def read_receipt(settings: Settings, token: str, account_id: str, kind: str) -> Receipt:
    try:
        receipt = Receipt(**_serializer(settings).loads(token, max_age=RECEIPT_TTL_S))
    except (BadData, TypeError) as exc:
        raise ReceiptInvalid() from exc
    if receipt.account_id != account_id or receipt.kind != kind:
        raise ReceiptInvalid()
    return receipt


# --- 3. the check --------------------------------------------------------------------------------
def confirm(identity: IdentityDirectory, storage: ObjectStore, marks: UploadMarkers, settings: Settings,
            receipt: Receipt, *, after_store: AfterStore | None = None) -> Future[str]:
    """Starts the check; the returned Future ends with the upload's outcome as soon as its marker says it
    (a recorded document: right after the record's write, while the object it replaced is still being
    deleted). The check's first step marks the document "revisando" (what the page and the submission
    read), and until then `state_of` already answers "revisando" for this upload."""
    outcome: Future[str] = Future()
    said = threading.Lock()

    def tell(state: str) -> None:
        with said:
            if not outcome.done():
                outcome.set_result(state)

    job = in_background(lambda: check(identity, storage, marks, settings, receipt, mark=True,
                                      after_store=after_store, on_outcome=tell))
    if job is not None:
        # The check's own end (a replay, a later upload holding the marker…); one that died: its marker decides.
        job.add_done_callback(lambda done: tell(_outcome(done) or _state_or_checking(marks, receipt)))
    return outcome


def outcome_within(outcome: Future[str] | None, wait_s: float) -> str:
    """The upload's outcome (what its marker says, as the page's polling reads it) if it is told within
    `wait_s`; else CHECKING: the answer says "still checking" and the page polls `state_of`."""
    if outcome is None or wait_s <= 0:
        return CHECKING
    try:
        return outcome.result(timeout=wait_s)
    except FutureTimeout:
        return CHECKING


def state_token(settings: Settings, receipt: Receipt) -> str:
    """Names one upload for `state_of` without anything personal (it travels in a URL)."""
    return _serializer(settings).dumps({"a": receipt.account_id, "d": receipt.kind, "k": receipt.key,
                                        "t": receipt.issued})


def read_state_token(settings: Settings, token: str, account_id: str, kind: str) -> Receipt:
    """The upload a state token names, as a Receipt carrying only what `state_of` reads."""
    try:
        raw = _serializer(settings).loads(token, max_age=RECEIPT_TTL_S)
        receipt = Receipt(account_id=raw["a"], kind=raw["d"], key=raw["k"], size=0, name="", issued=raw["t"])
    except (BadData, TypeError, KeyError) as exc:
        raise ReceiptInvalid() from exc
    if receipt.account_id != account_id or receipt.kind != kind:
        raise ReceiptInvalid()
    return receipt


def state_of(marks: UploadMarkers, receipt: Receipt, recorded: Callable[[], bool] | None = None) -> str:
    """This upload's state for the page's script: CHECKING until its check has ended (including before
    its marker is written, while the marker still names an earlier upload), else the outcome;
    SUPERSEDED once a later-issued upload of the document holds the marker.
    `recorded` (read only while the marker says CHECKING): whether the application's record names the
    upload. The confirmation is answered DONE at the record's write, before the marker's own write
    (`check`): asked by any replica meanwhile, the state is the answer's, never an earlier one."""
    marker = marks.get(receipt.account_id, receipt.kind)
    if marker is None:
        return CHECKING
    if marker.receipt.key == receipt.key:
        if marker.state == CHECKING and recorded is not None and recorded():
            return DONE
        return marker.state
    return SUPERSEDED if marker.receipt.issued > receipt.issued else CHECKING


def names_recorded(identity: IdentityDirectory, receipt: Receipt) -> bool:
    """Whether the application's record names this upload (False when it cannot be read: still checking)."""
    try:
        record = Application(identity.get_account(receipt.account_id)).documents.get(receipt.kind)
    except (DatabaseUnavailable, IdentityError):
        return False
    return record is not None and names_upload(record.key, receipt.key)


def check(identity: IdentityDirectory, storage: ObjectStore, marks: UploadMarkers, settings: Settings,
          receipt: Receipt, *, mark: bool = False, after_store: AfterStore | None = None,
          on_outcome: Callable[[str], None] | None = None) -> str:
    """Reads the object back, checks it and records it; returns the marker's final state. `mark`: first
    marks the document "revisando" (a confirmation; a check taken up again is marked already).

    A confirmation is idempotent per receipt: a receipt whose check was started already (the marker
    names it) starts nothing and deletes nothing — a replayed receipt once deleted the document its first
    confirmation had recorded. Whatever fails, an object the application's record names is never deleted.
    `on_outcome` hears the final state once the marker holds it."""
    finished: list[str] = []

    def finish(state: str, message: str = "", *, written: bool = False) -> str:
        if not finished:
            finished.append(state)
            if written and on_outcome is not None:
                # This check's own write made the record name the upload, the marker naming it under the
                # record's lock (`still_wanted`): the page shows the document whatever the marker says
                # (`markers`), so the answer need not wait for the marker's write. (A replayed receipt
                # whose document was recorded before is answered with what the marker says, below.)
                on_outcome(DONE)
            holds = _finish(marks, receipt, state, message)
            if on_outcome is not None:  # what the marker says, as the page's polling reads it
                on_outcome(state if holds else _state_or_checking(marks, receipt))
        return finished[0]

    marking = opening = None
    if mark:
        # The read-back starts while the marker is read: a confirmation seen before is the exception.
        opening = _helper(lambda: iter(storage.open(receipt.key, READ_BACK_CHUNK)))
        found = marks.get(receipt.account_id, receipt.kind)
        if found is not None and found.receipt.key == receipt.key:
            settle(opening)  # left unread: its connection is dropped with it
            return found.state
        marking = _helper(lambda: marks.mark(Marker(CHECKING, receipt, since=now_iso())))
    try:
        if not _record(identity, storage, marks, settings, receipt, marking, after_store=after_store,
                       recorded=lambda: finish(DONE, written=True), opening=opening):
            return SUPERSEDED
    except _CheckedElsewhere:  # a second confirmation of this receipt, at the same time as the first
        return state_of(marks, receipt)
    except (UnreadableFile, DocumentNotAllowed) as exc:
        return finish(REFUSED, exc.message)
    except FileTooLarge:
        limit = human_size(settings.upload_max_bytes).replace(".0 ", " ")
        return finish(REFUSED, f"El archivo excede el tamaño máximo permitido de {limit}.")
    except ObjectMissing:
        return finish(REFUSED, NOT_RECEIVED)
    except (StorageUnavailable, DatabaseUnavailable, IdentityError, ApplicationBusy) as exc:
        if finished:
            return finished[0]  # failed after the record's write (the replaced object's deletion): recorded
        log.warning("subida directa sin registrar por una falla temporal: solicitud=%s tipo=%s (%s)",
                    receipt.account_id, receipt.kind, type(exc).__name__)
        return finish(REFUSED, TEMPORARY_FAILURE)
    except Exception:  # noqa: BLE001 - a background job: logged, and the applicant is told to retry
        # Not deleted here: every step before the write deletes it itself, and after the write it is recorded.
        log.exception("subida directa: falla inesperada en la revisión: solicitud=%s tipo=%s",
                      receipt.account_id, receipt.kind)
        return finished[0] if finished else finish(REFUSED, TEMPORARY_FAILURE)
    return finish(DONE)


class _CheckedElsewhere(Exception):
    """Another check of this very receipt holds the marker: this one changes nothing."""


def _outcome(job: Future | None):
    """A finished job's result, None when it failed (or there is none)."""
    if job is None:
        return None
    try:
        return job.result()
    except Exception:  # noqa: BLE001 - its failure is the caller's other path
        return None


def _discard(storage: ObjectStore, receipt: Receipt, marked: str | None, account) -> None:
    """Deletes the upload's object unless the record may name it. Read the record (`account`), it decides.
    Unread (the database failing), only an upload that took the marker from an earlier one is deleted: no
    check of it ever reached the record; a later one's marker, or a check taken up again, may hide a
    recorded document, which then stays (a leftover until the application is purged beats a hole)."""
    if account is not None:
        record = Application(account).documents.get(receipt.kind)
        if record is not None and names_upload(record.key, receipt.key):
            return
    elif marked != MARKED:
        log.warning("subida directa: objeto conservado (no se pudo leer la solicitud): solicitud=%s tipo=%s",
                    receipt.account_id, receipt.kind)
        return
    delete_quietly(storage, receipt.key, "subida directa sin registro")


def _record(identity: IdentityDirectory, storage: ObjectStore, marks: UploadMarkers, settings: Settings,
            receipt: Receipt, marking: Future[str] | None, after_store: AfterStore | None = None,
            recorded: Callable[[], None] | None = None, opening: Future | None = None) -> bool:
    """False when a later upload of the document holds the marker (this one is then deleted, unless the
    record names it: a replayed receipt of a recorded document). Raises _CheckedElsewhere when another
    check of this receipt holds the marker.

    The marker's write and the account's read overlap the object's download. Every refusal or failure
    before the record points to the object deletes it: the applicant is told to upload again (a
    temporary failure, too: a check cannot wait for the database or S3 to come back)."""
    reading = _helper(lambda: identity.get_account(receipt.account_id))
    spool = CountingSpool(limit=settings.upload_max_bytes, hashing=False)  # hashed by _read_back_and_check
    try:
        try:
            checked_as, sha256 = _read_back_and_check(storage, receipt.key, spool, opening, kind=receipt.kind)
            marked = marking.result() if marking is not None else None
            if marked == ALREADY:
                settle(reading)
                raise _CheckedElsewhere()
            application = Application(reading.result())
            current = application.documents.get(receipt.kind)
            if current is not None and names_upload(current.key, receipt.key):
                return True  # already recorded: a replayed receipt, or a check taken up again past the write
            if marked == LATER:
                delete_quietly(storage, receipt.key, "subida directa sin registro")
                return False
            if receipt.link_version and application.account.attr("enlace_version") != receipt.link_version:
                raise DocumentNotAllowed(SUPERSEDED_LINK)
        except _CheckedElsewhere:
            raise
        except BaseException:  # too large, missing, S3 or the database failing: nothing recorded, nothing kept
            settle(marking)
            settle(reading)
            marked = _outcome(marking)
            if marked == ALREADY:
                raise _CheckedElsewhere() from None
            _discard(storage, receipt, marked, _outcome(reading))
            raise
        if spool.size != receipt.size:  # S3 refuses another size than the signed one; checked all the same
            delete_quietly(storage, receipt.key, "subida directa sin registro")
            raise UnreadableFile("El archivo recibido no coincide con el enviado. Cárguelo de nuevo.")
        spool.seek(0)
        try:
            # store_document deletes the object itself when S3 or the database fail before the write.
            store_document(identity, storage, application, receipt.kind,
                           Upload(stream=spool, size=spool.size, sha256=sha256, original_name=receipt.name),
                           receipt.details, stored_at=receipt.key,
                           still_wanted=lambda: _names(marks, receipt), after_store=after_store,
                           content_checked=checked_as, recorded=recorded)
        except (UnreadableFile, DocumentNotAllowed):  # refused (never after the write): some before S3 is touched
            delete_quietly(storage, receipt.key, "subida directa sin registro")
            raise
    finally:
        spool.close()
    return True


READ_BACK_CHUNK = 1024 * 1024  # a 10 MiB object in ten reads: ≈ 13 ms from a local S3 against 22 in 64 KiB pieces
_STREAMED_CHECKS = frozenset({filetypes.PDF, filetypes.JPEG, filetypes.PNG})  # a HEIC is converted first


def _read_back_and_check(storage: ObjectStore, key: str, spool: CountingSpool,
                         opening: Future | None = None, *, kind: str = "") -> tuple[str | None, str]:
    """Reads the object into `spool` (counted, bounded) and, when its first bytes announce a PDF, JPEG or
    PNG, checks its content at the same time: the bounded child receives each piece as S3 sends it (and
    hashes it, on its own core), so the verdict comes soon after the last byte instead of a download and a
    check one after the other; the spool is written by a thread of its own meanwhile (which hashes what no
    child checks). Returns (the type checked or None: not checked here, store_document detects and
    checks; the file's SHA-256).
    When the check streams the content and nothing after it reads past the first bytes (what
    store_document detects the type from: every checked type but an ID photo, whose quality is measured
    on the whole picture — `kind` says which document it is), the spool keeps the file's beginning in
    memory and only counts the rest (`CountingSpool.count`): 10 MiB less to copy to disk through a thread
    while the check runs.
    `opening`: the object's read, started already. Raises UnreadableFile (refused), FileTooLarge,
    ObjectMissing, StorageUnavailable."""
    pieces = opening.result() if opening is not None else iter(storage.open(key, READ_BACK_CHUNK))
    first = next(pieces, b"")
    content_type = filetypes.sniff(first[:filetypes.SNIFF_BYTES]) if first else None
    streamed = content_type in _STREAMED_CHECKS
    if streamed and not photo_intake.measured(kind, content_type):
        head = first[:SPOOL_IN_MEMORY]  # kept in memory: the detection reads 16 bytes
        spool.write(head)
        spool.count(len(first) - len(head))

        def counted():
            yield first
            for piece in pieces:
                spool.count(len(piece))
                yield piece

        return content_type, filecheck.check_chunks(counted(), content_type)
    with _SpoolWriter(spool, hashing=not streamed) as writer:
        def spooled():
            for piece in itertools.chain((first,), pieces):
                writer.write(piece)
                yield piece

        if not streamed:
            for _ in spooled():
                pass
        else:
            sha256 = filecheck.check_chunks(spooled(), content_type)
    return (content_type, sha256) if streamed else (None, writer.sha256)


class _SpoolWriter:
    """Writes pieces into a spool on a thread of its own, in order; the size limit is enforced as they are
    handed over (FileTooLarge at once), a failure of the write itself when the writer is closed."""

    def __init__(self, spool: CountingSpool, *, hashing: bool) -> None:
        self.spool, self.queued = spool, 0
        self._hash = hashlib.sha256() if hashing else None
        self._pieces: queue.SimpleQueue = queue.SimpleQueue()
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="subida-spool", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (piece := self._pieces.get()) is not None:
            if self._failure is None:
                try:
                    self.spool.write(piece)
                    if self._hash is not None:
                        self._hash.update(piece)
                except BaseException as exc:  # noqa: BLE001 - re-raised by close()
                    self._failure = exc

    def write(self, piece: bytes) -> None:
        self.queued += len(piece)
        if self.queued > self.spool.limit:
            raise FileTooLarge(self.spool.limit)
        self._pieces.put(piece)

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def __enter__(self) -> _SpoolWriter:
        return self

    def __exit__(self, *exc_info) -> None:
        self._pieces.put(None)
        self._thread.join()
        if self._failure is not None and exc_info[1] is None:
            raise self._failure


def _names(marks: UploadMarkers, receipt: Receipt) -> bool:
    """Whether the document's marker still names this upload (no newer one was confirmed since)."""
    found = marks.get(receipt.account_id, receipt.kind)
    return found is None or found.receipt.key == receipt.key


def _finish(marks: UploadMarkers, receipt: Receipt, state: str, message: str) -> bool:
    """Writes the outcome into the marker unless a newer upload of the document took it over; whether the
    marker now holds it."""
    try:
        holds = marks.finish(receipt, state, message)
    except DatabaseUnavailable:
        # Left "revisando": the page takes the check up again after STALE_S; it ends the same way.
        log.warning("subida directa: no se pudo anotar el resultado (%s): solicitud=%s tipo=%s", state,
                    receipt.account_id, receipt.kind)
        holds = False
    if state == REFUSED:
        log.info("subida directa rechazada: solicitud=%s tipo=%s motivo=%s", receipt.account_id, receipt.kind, message)
    return holds


def _state_or_checking(marks: UploadMarkers, receipt: Receipt) -> str:
    try:
        return state_of(marks, receipt)
    except DatabaseUnavailable:
        return CHECKING


# --- what the page and the submission read ------------------------------------------------------------
def restarter(identity: IdentityDirectory, storage: ObjectStore, marks: UploadMarkers, settings: Settings, *,
              after_store: AfterStore | None = None) -> Callable[[Receipt], None]:
    """What `markers` calls to start a lost check again (in the background)."""
    def restart(receipt: Receipt) -> None:
        in_background(lambda: check(identity, storage, marks, settings, receipt, after_store=after_store))
    return restart


def markers(marks: UploadMarkers, application: Application, *,
            restart: Callable[[Receipt], None] | None = None) -> dict[str, Marker]:
    """The documents whose latest direct upload is being checked or was refused (not yet answered by
    a document recorded after it). With `restart`, a check left behind by a dead process (still
    "revisando" after STALE_S) is started again, by one view only."""
    found: dict[str, Marker] = {}
    for marker in marks.of_account(application.id):
        kind = marker.receipt.kind
        if marker.receipt.account_id != application.id or kind not in docs.DOCUMENT_LABELS:
            continue
        record = application.documents.get(kind)
        if marker.state == DONE or (record is not None and names_upload(record.key, marker.receipt.key)):
            continue
        if marker.state == REFUSED and record is not None and _not_before(record.uploaded_at, marker.since):
            continue  # a document uploaded since (through the form) answers the refusal
        if marker.state == CHECKING and restart is not None and marker.age_s() > STALE_S:
            renewed = replace(marker, since=now_iso())
            if marks.renew(marker, renewed.since):
                log.warning("subida directa: se retoma una revisión interrumpida: solicitud=%s tipo=%s",
                            application.id, kind)
                restart(marker.receipt)
            marker = renewed
        found[kind] = marker
    return found


def _not_before(recorded_at: str, since: str) -> bool:
    """Whether a record's time (whole seconds) is not before the marker's: the same second counts as after."""
    try:
        return datetime.fromisoformat(recorded_at) >= datetime.fromisoformat(since).replace(microsecond=0)
    except ValueError:
        return False


def checking(marks: UploadMarkers, application: Application) -> list[str]:
    """The documents still being checked: "Enviar a validación" waits for them."""
    return [kind for kind, marker in markers(marks, application).items() if marker.state == CHECKING]
