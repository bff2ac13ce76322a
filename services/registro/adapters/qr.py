"""QR codes as inline SVG (segno), for documents WeasyPrint renders: vector, so sharp at any
print resolution, and inline so no URL fetcher is involved."""
from __future__ import annotations

import segno

MASK = 0


def qr_svg(data: str, *, size_mm: float = 28, label: str = "Código de verificación") -> str:
    # Error correction Q (25 %) survives a signature stroke or a fold across the code. A fixed mask
    # skips segno's evaluation of all eight (≈ 80 % of the code's cost, pure Python); the phone-photo
    # tests (tests/unit/test_responsiva_code.py) read codes made with it.
    code = segno.make(data, error="q", micro=False, mask=MASK)
    svg = code.svg_inline(border=4, dark="#000", omitsize=True, svgclass="qr", lineclass=None,
                          title=label)
    return svg.replace("<svg ", f'<svg width="{size_mm}mm" height="{size_mm}mm" role="img" ', 1)
