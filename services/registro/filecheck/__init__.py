"""The one way the service reads an uploaded file: bounded in time and memory, every failure caught.

The upload check (`check_upload`) and the review page (`pdf_text`) both go through the same
parse in `parsers.check_pdf`, so they agree on what is readable: a file the upload accepted is
a file the review page can read, and a file the review page cannot read was never accepted.
"""
from __future__ import annotations

import logging
from typing import BinaryIO, Iterable

from registro.domain.filetypes import LABELS, PDF, UnreadableFile, detect
from registro.filecheck import parsers, sandbox

log = logging.getLogger(__name__)

MAX_IMAGE_PIXELS = parsers.MAX_IMAGE_PIXELS

PDF_DAMAGED = "El archivo PDF está dañado o incompleto y no se puede abrir. Genérelo de nuevo."
PDF_MESSAGES = {
    parsers.ENCRYPTED: "El archivo PDF está protegido con contraseña. Cargue una versión sin protección.",
    parsers.NO_PAGES: PDF_DAMAGED,
    parsers.ACTIVE: ("El archivo PDF contiene código, acciones automáticas o archivos incrustados, que no se "
                     "aceptan por seguridad. Imprímalo o guárdelo de nuevo como PDF (por ejemplo, con "
                     "\u201cImprimir a PDF\u201d) y cárguelo otra vez."),
    parsers.POLYGLOT: ("El archivo contiene, además del documento, otro tipo de contenido (por ejemplo, un "
                       "archivo comprimido o código de página web), que no se acepta por seguridad. "
                       "Genere el archivo de nuevo y cárguelo otra vez."),
    parsers.TOO_COMPLEX: ("El archivo PDF tiene una estructura demasiado compleja para revisarlo. "
                          "Imprímalo o guárdelo de nuevo como PDF y cárguelo otra vez."),
}
IMAGE_TOO_LARGE = ("La imagen tiene dimensiones demasiado grandes (más de 50 megapíxeles). "
                   "Cargue una imagen de menor resolución.")
BUSY = "En este momento se están revisando muchos archivos. Espere un momento y cárguelo de nuevo."
UNCHECKABLE = ("No fue posible revisar el archivo: su contenido excede los límites de seguridad o está "
               "dañado. Genérelo de nuevo y cárguelo otra vez.")


class CheckBusy(UnreadableFile):
    """No slot freed up in time: the file was not judged, the applicant should retry."""


def check_upload(stream: BinaryIO, content_type: str) -> None:
    """Raises UnreadableFile (Spanish message) unless the file of the sniffed `content_type`
    parses within the limits and carries nothing active. Leaves the stream at 0."""
    stream.seek(0)
    try:
        return _check(stream, content_type)
    finally:
        stream.seek(0)


def inspect(stream: BinaryIO) -> str:
    """Detects the type from the content (domain.filetypes.detect) and checks the file really parses.
    Returns the type. Raises UnreadableFile with a Spanish message for the applicant. Leaves the stream at 0."""
    content_type = detect(stream)
    check_upload(stream, content_type)
    return content_type


def check_chunks(chunks: Iterable[bytes], content_type: str) -> str:
    """`check_upload` of a file arriving in chunks: the child receives them as they are yielded, and hashes
    them meanwhile. Returns the file's SHA-256 (hex)."""
    return _check(chunks, content_type, digest=True)


def _check(stream: BinaryIO | Iterable[bytes], content_type: str, digest: bool = False):
    if content_type == PDF:
        (verdict, _), sha256 = _digested(checked_run(parsers.check_pdf, stream, damaged=PDF_DAMAGED,
                                                     exhausted=PDF_MESSAGES[parsers.TOO_COMPLEX], digest=digest),
                                         digest)
        if verdict != parsers.OK:
            raise UnreadableFile(PDF_MESSAGES[verdict])
        return sha256
    damaged = f"La imagen {LABELS[content_type]} está dañada o incompleta y no se puede abrir."
    (verdict, _), sha256 = _digested(checked_run(parsers.check_image, stream, content_type, damaged=damaged,
                                                 exhausted=UNCHECKABLE, digest=digest), digest)
    if verdict == parsers.TOO_LARGE:
        raise UnreadableFile(IMAGE_TOO_LARGE)
    if verdict == parsers.POLYGLOT:
        raise UnreadableFile(PDF_MESSAGES[parsers.POLYGLOT])
    if verdict != parsers.OK:
        raise UnreadableFile(damaged)
    return sha256


def _digested(outcome, digest: bool):
    return outcome if digest else (outcome, None)


def acceptable(data: bytes, content_type: str) -> bool:
    """Whether a stored file passes the upload check today: for whoever shows stored files to a
    reviewer (files stored before this check existed, or under an older rule, are not served).
    False also when no slot frees up in time: nothing unchecked goes out."""
    import io

    try:
        check_upload(io.BytesIO(data), content_type)
    except UnreadableFile:
        return False
    return True


def pdf_text(data: bytes) -> str | None:
    """Text of the first pages of a stored PDF, or None: a scan, or a file the upload check
    would refuse (then nothing of it is read further). Never raises."""
    try:
        verdict, text = sandbox.run(parsers.check_pdf, data)
    except sandbox.SandboxFailed as exc:
        log.warning("texto de PDF no disponible: %s", exc.reason)
        return None
    return text if verdict == parsers.OK else None


# A parser that gave up on a limit (pypdf's decompression caps, the stack, the memory cap)
# met a bomb or an absurd structure, not a merely damaged file.
_EXHAUSTED = frozenset({"LimitReachedError", "RecursionError", "MemoryError"})


def checked_run(func, *args, damaged: str, exhausted: str, limits: sandbox.Limits | None = None,
                digest: bool = False):
    """`sandbox.run` of a check whose failure is the applicant's answer: UnreadableFile(`damaged`) when the
    child could not read the file, (`exhausted`) when it met a limit, CheckBusy when no slot freed up."""
    try:
        return sandbox.run(func, *args, limits=limits or sandbox.Limits(), digest=digest)
    except sandbox.SandboxFailed as exc:
        if exc.reason == "busy":
            raise CheckBusy(BUSY) from exc
        if exc.reason == "crashed":
            raise UnreadableFile(exhausted if exc.error in _EXHAUSTED else damaged) from exc
        log.warning("revisión de archivo fallida: %s", exc.reason)  # no content, no name: only the cause
        raise UnreadableFile(UNCHECKABLE) from exc
