"""What an uploaded file really is: decided by its bytes, never by its name or the browser's word.

Only three types are accepted (SPEC §6): PDF, JPEG and PNG. The signatures are three
fixed byte prefixes, so they are written here by hand; whether the file is *readable*
is then decided by the libraries that read those formats (pypdf, Pillow).
"""
from __future__ import annotations

import warnings
from typing import BinaryIO

from PIL import Image, UnidentifiedImageError
from pypdf import PdfReader
from pypdf.errors import PyPdfError

PDF = "application/pdf"
JPEG = "image/jpeg"
PNG = "image/png"

EXTENSIONS = {PDF: ".pdf", JPEG: ".jpg", PNG: ".png"}
LABELS = {PDF: "PDF", JPEG: "JPEG", PNG: "PNG"}

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", PDF),
    (b"\xff\xd8\xff", JPEG),
    (b"\x89PNG\r\n\x1a\n", PNG),
)
SNIFF_BYTES = 16
_PIL_FORMATS = {JPEG: "JPEG", PNG: "PNG"}

# Decompression-bomb guard: a scanned A4 page at 600 dpi is about 35 megapixels. Pillow
# refuses (DecompressionBombError) images over twice this and warns over it; the warning is
# turned into a refusal below, so nothing over this is ever decoded.
MAX_IMAGE_PIXELS = 40_000_000
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS


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
    return None


def inspect(stream: BinaryIO) -> str:
    """Detects the type from the content and checks the file really parses. Returns the type.

    Raises UnreadableFile with a Spanish message for the applicant. Leaves the stream at 0.
    """
    stream.seek(0)
    head = stream.read(SNIFF_BYTES)
    stream.seek(0)
    if not head:
        raise UnreadableFile("El archivo está vacío.")
    content_type = sniff(head)
    if content_type is None:
        raise UnreadableFile("El archivo debe ser PDF, JPEG o PNG. El tipo se revisa por su contenido, "
                             "no por el nombre del archivo.")
    try:
        if content_type == PDF:
            _check_pdf(stream)
        else:
            _check_image(stream, content_type)
    finally:
        stream.seek(0)
    return content_type


def _check_pdf(stream: BinaryIO) -> None:
    damaged = UnreadableFile("El archivo PDF está dañado o incompleto y no se puede abrir. Genérelo de nuevo.")
    try:
        reader = PdfReader(stream, strict=True)
        if reader.is_encrypted:
            raise UnreadableFile("El archivo PDF está protegido con contraseña. Cargue una versión sin protección.")
        if len(reader.pages) < 1:
            raise damaged
    except UnreadableFile:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, IndexError, AttributeError, RecursionError,
            OSError, AssertionError) as exc:
        # pypdf signals malformed input with its own errors and, for some structures, with plain
        # Python ones; any of them means "does not parse".
        raise damaged from exc


def _check_image(stream: BinaryIO, content_type: str) -> None:
    damaged = UnreadableFile(f"La imagen {LABELS[content_type]} está dañada o incompleta y no se puede abrir.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            formats = [_PIL_FORMATS[content_type]]  # only the format the bytes announced is tried
            with Image.open(stream, formats=formats) as probe:
                probe.verify()  # structure and checksums, without decoding
            stream.seek(0)
            with Image.open(stream, formats=formats) as image:
                if image.format == "JPEG":
                    # Decoding at reduced DCT scale proves the data decodes without a full-size bitmap.
                    image.draft(image.mode, (1024, 1024))
                image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise UnreadableFile("La imagen tiene dimensiones demasiado grandes. Cargue una imagen de menor resolución.") from exc
    except UnreadableFile:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError) as exc:
        raise damaged from exc
