"""The QR code's rectangles in a filled responsiva: the same content stream as one pydyf `rectangle`
per run of dark modules (what the fill wrote before its numbers were formatted once per value); the code
itself (adapters/qr): its rows read back, and its SVG is the same modules."""
from __future__ import annotations

import random
import re

import pydyf
import pytest
import zxingcpp
from PIL import Image

from registro.adapters import pdf_form
from registro.adapters.qr import BORDER, qr_matrix, qr_svg
from registro.adapters.pdf_form import Slot


def _slot(x: float, top: float, side: float) -> Slot:
    return Slot(name="codigo", x=x, top=top, width=side, height=side + 3.5, baseline=top + side, font_size=10,
                line_height=12, lines=1, bold=False, color=(0, 0, 0), align="left")


def _reference(slot: Slot, squares) -> bytes:
    content = pydyf.Stream()
    count = len(squares)
    module = min(slot.width, slot.height) / count
    content.push_state()
    content.set_color_rgb(0, 0, 0)
    for row, modules in enumerate(squares):
        column = 0
        while column < count:
            if not modules[column]:
                column += 1
                continue
            start = column
            while column < count and modules[column]:
                column += 1
            content.rectangle(round(slot.x + start * module, 3), round(slot.top + row * module, 3),
                              round((column - start) * module, 3), round(module, 3))
    content.fill()
    content.pop_state()
    return b"\n".join(content.stream)


@pytest.mark.parametrize("seed, slot", [(1, _slot(412.5, 96.0, 90.0)), (2, _slot(400.0, 100.0, 87.0)),
                                        (3, _slot(13.337, 0.0, 29.0)), (4, _slot(0.0, 0.0, 0.0004))])
def test_the_code_is_drawn_as_one_rectangle_per_run_exactly_as_pydyf_writes_them(seed, slot):
    rng = random.Random(seed)
    count = 29 + seed * 4
    squares = [bytes(rng.random() < 0.5 for _ in range(count)) for _ in range(count)]
    squares[0] = bytes([1]) * count  # a run the whole row long
    content = pydyf.Stream()
    pdf_form._draw_squares(content, slot, squares)
    assert b"\n".join(content.stream) == _reference(slot, squares)


def _image(rows: list[bytes], scale: int = 6) -> Image.Image:
    """The modules as a grey image, `scale` pixels a module (what a scanner sees of the printed code)."""
    side = len(rows)
    image = Image.frombytes("L", (side, side), b"".join(rows).translate(bytes([255] + [0] * 255)))
    return image.resize((side * scale, side * scale), Image.NEAREST)


def _svg_modules(svg: str) -> list[bytes]:
    """The modules an SVG of adapters/qr draws: one stroke one module wide along each run's row."""
    side = int(re.search(r'viewBox="0 0 (\d+) \1"', svg).group(1))
    rows = [bytearray(side) for _ in range(side)]
    for x, y, length in re.findall(r"M(\d+) (\d+)\.5h(\d+)", re.search(r' d="([^"]+)"', svg).group(1)):
        rows[int(y)][int(x):int(x) + int(length)] = bytes([1]) * int(length)
    return [bytes(row) for row in rows]


@pytest.mark.parametrize("data", ["AU-2026-ABCDEFGH", "https://acceso.example/r/" + "x" * 120])
def test_a_code_given_as_bytes_rows_reads_back_and_is_drawn_the_same(data):
    """qr_matrix hands rows as bytes (runs found by bytes.find), quiet zone included, at error correction Q:
    a reader gets the data back, and the fill draws them exactly as pydyf would draw them."""
    rows = qr_matrix(data)
    side = len(rows)
    assert all(len(row) == side for row in rows) and set(b"".join(rows)) == {0, 1}
    assert rows[:BORDER] == [bytes(side)] * BORDER == rows[-BORDER:]
    assert all(row[:BORDER] == row[-BORDER:] == bytes(BORDER) for row in rows)
    (read,) = zxingcpp.read_barcodes(_image(rows))
    assert read.text == data and read.ec_level == "Q"
    slot = _slot(412.5, 96.0, 90.0)
    content = pydyf.Stream()
    pdf_form._draw_squares(content, slot, rows)
    assert b"\n".join(content.stream) == _reference(slot, [[bool(b) for b in row] for row in rows])


def test_the_svg_and_the_rows_are_the_same_code_and_the_title_is_escaped():
    data = "ANAM-AU:1:AU-2026-7K3M9QX2:" + "A" * 24
    svg = qr_svg(data, size_mm=40, label="Código <QR> & más")
    assert _svg_modules(svg) == qr_matrix(data)
    assert 'width="40mm" height="40mm" role="img"' in svg and "<title>Código &lt;QR&gt; &amp; más</title>" in svg
