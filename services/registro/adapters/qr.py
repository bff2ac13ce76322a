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


def qr_matrix(data: str) -> list[list[bool]]:
    """Rows of modules (True = dark), quiet zone included."""
    return [[bool(m) for m in row] for row in _make(data).matrix_iter(border=BORDER)]


def qr_svg(data: str, *, size_mm: float = 28, label: str = "Código de verificación") -> str:
    svg = _make(data).svg_inline(border=BORDER, dark="#000", omitsize=True, svgclass="qr", lineclass=None,
                                 title=label)
    return svg.replace("<svg ", f'<svg width="{size_mm}mm" height="{size_mm}mm" role="img" ', 1)
