"""HEIC/HEIF photos (what iPhones take by default) turned into JPEG, inside the bounded child.

The decoder is libheif with libde265 (HEVC), as bundled in pillow-heif's wheels (PyPI); the
JPEG is written by Pillow. EXIF orientation is applied to the pixels, so the JPEG stands the
way the photo was taken, and metadata (location, device) is left behind.
"""
from __future__ import annotations

import io

from PIL import Image, ImageOps

HEIF = "image/heif"
# ISO BMFF: bytes 4-7 "ftyp", then a brand naming HEIF content (HEVC images and image sequences).
_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1")
JPEG_QUALITY = 90
MAX_PIXELS = 50_000_000  # as for JPEG and PNG uploads (filecheck.parsers.MAX_IMAGE_PIXELS)


def is_heif(head: bytes) -> bool:
    return len(head) >= 12 and head[4:8] == b"ftyp" and head[8:12] in _BRANDS


def to_jpeg(data: bytes) -> bytes:
    """The photo as JPEG. Raises on anything libheif cannot decode or on more than MAX_PIXELS."""
    import pillow_heif

    heif = pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=True)
    width, height = heif.size
    if width * height > MAX_PIXELS:
        raise ValueError("too many pixels")
    image = ImageOps.exif_transpose(heif.to_pillow()).convert("RGB")
    out = io.BytesIO()
    image.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return out.getvalue()
