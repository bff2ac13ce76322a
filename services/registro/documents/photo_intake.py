"""Photos as they arrive (issue 23): HEIC/HEIF turned into JPEG, and an ID photo's quality measured,
both inside registro.filecheck's bounded child, for the form upload and the direct upload alike
(documents/service.store_document calls this).

- HEIC/HEIF (iPhones' default) is converted before anything is stored: the stored object, its
  SHA-256, size and type are the JPEG's, and the record points to it. A direct upload's HEIC is
  already in S3 under the receipt's key: the JPEG goes under `converted_key` of it (derived, so a
  replayed receipt finds the record naming its upload) and the HEIC is deleted once recorded.
- An ID photo found blurry, glared or too small is still stored: the record's details say what
  was found (`calidad`), the page answers beside the field at once ("La foto está borrosa…") and
  offers to keep it anyway (`calidad_conservada`) or to upload another. Nothing is lost either way.
"""
from __future__ import annotations

import hashlib
import io
import logging
from concurrent.futures import Future
from dataclasses import replace

from registro import filecheck
from registro.documents.reading import photo_answer
from registro.domain import documents as docs
from registro.domain import filetypes
from registro.domain.application import DocumentRecord
from registro.filecheck import sandbox
from registro.documents.spool import Upload

log = logging.getLogger(__name__)

QUALITY = "calidad"  # in a record's details: the problems found, comma-separated (quality.BLURRY…)
QUALITY_KEPT = "calidad_conservada"  # the applicant chose to keep the photo all the same
CONVERTED_FROM = "convertido_de"  # "HEIC": the stored JPEG was converted from the applicant's file
ID_KIND = "tipo_identificacion"
HEIC_DAMAGED = "La foto HEIC está dañada o incompleta y no se puede abrir. Tómela de nuevo o guárdela como JPEG."

# A photo's conversion (HEIC → JPEG) and quality measure decode the whole picture: a 48-megapixel HEIC is
# 144 MiB of RGB, and libheif's and OpenCV's own buffers come on top of the parsers' 100 MiB.
PHOTO_LIMITS = sandbox.Limits(memory_bytes=1024 * 1024 * 1024, cpu_seconds=15, timeout_seconds=45)
PHOTO_CHECK = sandbox.Task("registro.documents.reading.child", "photo_check")  # OpenCV: loaded by the child only


def photo_check(stream, id_kind: str = "", *, damaged: str = filecheck.UNCHECKABLE) -> dict:
    """A photo's quality (documents/reading/quality.py), converted first to JPEG when it is HEIC/HEIF:
    {"jpeg": bytes or None, "problems": [...], ...}. Raises UnreadableFile(`damaged`) when the child
    could not decode it (CheckBusy when no slot frees up). Leaves a stream at 0."""
    if hasattr(stream, "seek"):
        stream.seek(0)
    try:
        return filecheck.checked_run(PHOTO_CHECK, stream, id_kind, damaged=damaged, exhausted=filecheck.UNCHECKABLE,
                                     limits=PHOTO_LIMITS)
    finally:
        if hasattr(stream, "seek"):
            stream.seek(0)


def converted_key(key: str) -> str:
    """Where the JPEG of a HEIC stored at `key` goes: beside it, a 32-hex name like document_key's
    (the viewer's URLs carry it), derived from `key` so that it is found again from the receipt."""
    head, _, name = key.rpartition("/")
    return f"{head}/{hashlib.sha256(f'{name}:jpeg'.encode()).hexdigest()[:32]}"


def names_upload(record_key: str, upload_key: str) -> bool:
    """Whether a record pointing to `record_key` records the upload stored at `upload_key`."""
    return record_key in (upload_key, converted_key(upload_key))


def converted(upload, kind: str, details: dict[str, str]):
    """(the JPEG as an Upload, the quality problems when `kind` is the ID) of a HEIC/HEIF upload.
    Raises UnreadableFile when libheif cannot decode it (in the child)."""
    answer = photo_check(upload.stream, details.get(ID_KIND, "") if kind == docs.IDENTIFICACION else "",
                         damaged=HEIC_DAMAGED)
    jpeg = answer.get("jpeg")
    if not jpeg:
        raise filetypes.UnreadableFile(HEIC_DAMAGED)
    stem = upload.original_name.rsplit(".", 1)[0] if "." in upload.original_name else upload.original_name
    problems = list(answer.get("problems") or []) if kind == docs.IDENTIFICACION else []
    return Upload(stream=io.BytesIO(jpeg), size=len(jpeg), sha256=hashlib.sha256(jpeg).hexdigest(),
                  original_name=f"{stem or 'foto'}.jpg"), problems


def measured(kind: str, content_type: str) -> bool:
    """Whether an upload's quality is measured: photos (JPEG/PNG) of the ID."""
    return kind == docs.IDENTIFICACION and content_type in (filetypes.JPEG, filetypes.PNG)


def assess(reader, kind: str, content_type: str, details: dict[str, str]) -> list[str] | None:
    """The quality problems of an ID photo read from `reader` (closed here), None when it is not one
    or when it could not be measured: an advice only, so a failure here never refuses what the content
    check accepts."""
    if reader is None:
        return None
    with reader:
        if not measured(kind, content_type):
            return None
        try:
            return list(photo_check(reader, details.get(ID_KIND, "")).get("problems") or [])
        except filetypes.UnreadableFile as exc:
            log.info("calidad de la foto no medida: %s", type(exc).__name__)
            return None


def noted(record: DocumentRecord, problems: list[str] | None) -> DocumentRecord:
    """The record with what the quality check found (nothing when the photo is fine)."""
    if not problems:
        return record
    return replace(record, details={**record.details, QUALITY: ",".join(problems)})


def settled_problems(job: Future | None) -> list[str] | None:
    if job is None:
        return None
    try:
        return job.result()
    except Exception:  # noqa: BLE001 - an advice: its failure is no refusal
        return None


# --- what the page shows, and "Conservar esta foto de todos modos" -------------------------------------
def advice(record: DocumentRecord | None) -> list[str]:
    """The messages to show beside the field for a stored photo, until it is kept or replaced."""
    if record is None or record.details.get(QUALITY_KEPT):
        return []
    problems = [p for p in record.details.get(QUALITY, "").split(",") if p]
    return photo_answer.advice(problems)
