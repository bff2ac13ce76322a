"""What an uploaded file really is: decided by its bytes, never by its name or the browser's word.

Accepted (SPEC §6): PDF, JPEG and PNG, and HEIC/HEIF photos (what iPhones take by default; issue
23), which are converted to JPEG in the bounded child before anything is stored, so a stored
document is always one of the first three. The signatures are fixed byte prefixes (HEIF: an ISO
BMFF "ftyp" box naming a HEIF brand), so they are written here by hand; whether the file is
*readable* is then decided by the libraries that read those formats (pypdf, Pillow, libheif),
always through `registro.filecheck` (check_upload, check_chunks, inspect), which runs them in a bounded
child process.
"""
from __future__ import annotations

from typing import BinaryIO

PDF = "application/pdf"
JPEG = "image/jpeg"
PNG = "image/png"
HEIF = "image/heif"  # received only: converted to JPEG before it is stored (documents/photo_intake.py)

EXTENSIONS = {PDF: ".pdf", JPEG: ".jpg", PNG: ".png", HEIF: ".heic"}
LABELS = {PDF: "PDF", JPEG: "JPEG", PNG: "PNG", HEIF: "HEIC"}
# ISO BMFF: bytes 4-7 "ftyp", then the major brand (HEVC images and sequences, and the generic HEIF ones).
_HEIF_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1")

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", PDF),
    (b"\xff\xd8\xff", JPEG),
    (b"\x89PNG\r\n\x1a\n", PNG),
)
SNIFF_BYTES = 16


class UnreadableFile(Exception):
    """The file is not one of the accepted types or does not parse; `message` is for the applicant."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def sniff(head: bytes) -> str | None:
    """The content type the first bytes announce, or None when they announce none we accept."""
    for signature, content_type in _SIGNATURES:
        if head.startswith(signature):
            return content_type
    if len(head) >= 12 and head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return HEIF
    return None


def detect(stream: BinaryIO) -> str:
    """The accepted type the first bytes announce (reads only those). Raises UnreadableFile with a
    Spanish message for the applicant. Leaves the stream at 0."""
    stream.seek(0)
    head = stream.read(SNIFF_BYTES)
    stream.seek(0)
    if not head:
        raise UnreadableFile("El archivo está vacío.")
    content_type = sniff(head)
    if content_type is None:
        raise UnreadableFile("El archivo debe ser PDF, JPEG o PNG (o una foto HEIC de iPhone). El tipo se revisa por "
                             "su contenido, no por el nombre del archivo.")
    return content_type
