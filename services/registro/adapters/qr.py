"""QR codes (segno): as inline SVG for documents WeasyPrint renders (vector, so sharp at any print
resolution, and inline so no URL fetcher is involved), or as the module matrix a filled PDF form
draws as rectangles (adapters/pdf_form.py). Both are the same code: same error correction and mask."""
from __future__ import annotations

import segno

MASK = 0
BORDER = 4  # modules of quiet zone, as the QR specification asks


def _make(data: str):
    # Error correction Q (25 %) survives a signature stroke or a fold across the code. A fixed mask
    # skips segno's evaluation of all eight (≈ 80 % of the code's cost, pure Python); the phone-photo
    # tests (tests/unit/test_responsiva_code.py) read codes made with it.
    return segno.make(data, error="q", micro=False, mask=MASK)


_DARK = bytes([0] + [1] * 255)  # any non-zero module value of segno's matrix is dark


def qr_matrix(data: str) -> list[bytes]:
    """Rows of modules (1 = dark, 0 = light), quiet zone included: bytes, so a row's runs are found by
    bytes.find (adapters/pdf_form.py) instead of module by module."""
    matrix = _make(data).matrix
    edge = bytes(BORDER)
    blank = bytes(len(matrix[0]) + 2 * BORDER)
    return [blank] * BORDER + [edge + bytes(row).translate(_DARK) + edge for row in matrix] + [blank] * BORDER


def qr_svg(data: str, *, size_mm: float = 28, label: str = "Código de verificación") -> str:
    svg = _make(data).svg_inline(border=BORDER, dark="#000", omitsize=True, svgclass="qr", lineclass=None,
                                 title=label)
    return svg.replace("<svg ", f'<svg width="{size_mm}mm" height="{size_mm}mm" role="img" ', 1)
