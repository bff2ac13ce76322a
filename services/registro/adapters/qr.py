"""QR codes (zxing-cpp, the library that also reads them back from scans): as inline SVG for documents
WeasyPrint renders and pages show (vector, so sharp at any print resolution, and inline so no URL fetcher
is involved), or as the module rows a filled PDF form draws as rectangles (adapters/pdf_form.py). Both are
drawn from the same modules, so they are the same code.

zxing-cpp encodes in C++ and picks the mask the QR specification's penalty rules prefer: a responsiva's
code in 0.08 ms (its SVG 0.19 ms), against 0.55 ms (0.86 ms) for segno in pure Python even with its mask
fixed (timeit, best of 5, this host). The SVG's path is written here from the modules (a line per run of
dark modules): zxing-cpp's own SVG carries a document header and a white background, which an inline code
does not want, and no title, which it needs."""
from __future__ import annotations

from html import escape
from typing import Iterator

import zxingcpp

BORDER = 4  # modules of quiet zone, as the QR specification asks
# Error correction Q (25 %) survives a signature stroke or a fold across the code.
ERROR_CORRECTION = "Q"
_DARK = bytes([1] + [0] * 255)  # zxing-cpp's image: 0 is a dark module, 255 a light one


def _modules(data: str) -> list[bytes]:
    """The code's rows without the quiet zone: one byte per module, 1 = dark."""
    image = zxingcpp.create_barcode(data, zxingcpp.BarcodeFormat.QRCode, ec_level=ERROR_CORRECTION) \
        .to_image(scale=1, add_quiet_zones=False)
    view = memoryview(image)
    height, width = view.shape
    flat = view.tobytes().translate(_DARK)
    return [flat[row * width:(row + 1) * width] for row in range(height)]


def qr_matrix(data: str) -> list[bytes]:
    """Rows of modules (1 = dark, 0 = light), quiet zone included: bytes, so a row's runs are found by
    bytes.find (adapters/pdf_form.py) instead of module by module."""
    rows = _modules(data)
    edge = bytes(BORDER)
    blank = bytes(len(rows[0]) + 2 * BORDER)
    return [blank] * BORDER + [edge + row + edge for row in rows] + [blank] * BORDER


def dark_runs(row: bytes) -> Iterator[tuple[int, int]]:
    """(start, length) of each run of dark modules in a row of `qr_matrix` (found by bytes.find): what the
    SVG's path and a filled PDF form's rectangles (adapters/pdf_form.py) draw."""
    start = row.find(1)
    while start != -1:
        end = row.find(0, start)
        end = len(row) if end == -1 else end
        yield start, end - start
        start = row.find(1, end)


def qr_svg(data: str, *, size_mm: float = 28, label: str = "Código de verificación") -> str:
    rows = qr_matrix(data)
    side = len(rows)
    # A stroke one module wide along the middle of each run's row: one path, no seams between modules.
    path = "".join(f"M{x} {y}.5h{length}" for y, row in enumerate(rows) for x, length in dark_runs(row))
    return (f'<svg width="{size_mm}mm" height="{size_mm}mm" role="img" viewBox="0 0 {side} {side}" class="qr">'
            f'<title>{escape(label, quote=False)}</title><path stroke="#000" d="{path}"/></svg>')
