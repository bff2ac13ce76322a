"""Files for upload tests: real PDFs (pypdf) and images (Pillow), and the bad ones we must refuse."""
from __future__ import annotations

import io
import os

from PIL import Image
from pypdf import PdfWriter
from pypdf.generic import DecodedStreamObject, NameObject

MiB = 1024 * 1024


def pdf_bytes(pages: int = 1, *, padding: int = 0) -> bytes:
    """A valid PDF; `padding` random bytes go into an unfiltered stream the catalog points to
    (not an embedded file: those are refused as active content)."""
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=612, height=792)
    if padding:
        stream = DecodedStreamObject()
        stream.set_data(os.urandom(padding))
        writer._root_object[NameObject("/PiezaRelleno")] = writer._add_object(stream)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def pdf_of_size(size: int) -> bytes:
    """A valid PDF of exactly `size` bytes (the padding is adjusted until it fits)."""
    overhead = len(pdf_bytes(padding=1)) - 1
    padding = size - overhead
    for _ in range(5):
        data = pdf_bytes(padding=padding)
        if len(data) == size:
            return data
        padding += size - len(data)
    raise AssertionError(f"no se pudo generar un PDF de {size} bytes")


def jpeg_bytes(width: int = 640, height: int = 400) -> bytes:
    image = Image.new("RGB", (width, height), (105, 28, 50))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85)
    return out.getvalue()


def png_bytes(width: int = 320, height: int = 200) -> bytes:
    image = Image.new("RGB", (width, height), (188, 149, 92))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


# --- what must be refused -----------------------------------------------------------------
def elf_bytes() -> bytes:
    """The start of a Linux executable (what an `.exe` renamed `.pdf` looks like on this OS)."""
    return b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + os.urandom(4096)


def truncated_pdf() -> bytes:
    data = pdf_bytes(pages=2, padding=4096)
    return data[: len(data) // 2]


def png_header_on_garbage() -> bytes:
    return b"\x89PNG\r\n\x1a\n" + os.urandom(4096)


def html_bytes() -> bytes:
    return b"<!DOCTYPE html><html><head><title>x</title></head><body><script>alert(1)</script></body></html>"
