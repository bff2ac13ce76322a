"""The QR code's rectangles in a filled responsiva: the same content stream as one pydyf `rectangle`
per run of dark modules (what the fill wrote before its numbers were formatted once per value)."""
from __future__ import annotations

import random

import pydyf
import pytest

from registro.adapters import pdf_form
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


@pytest.mark.parametrize("data", ["AU-2026-ABCDEFGH", "https://acceso.example/r/" + "x" * 120])
def test_a_code_given_as_bytes_rows_is_its_modules_and_is_drawn_the_same(data):
    """qr_matrix hands rows as bytes (runs found by bytes.find): the same modules as segno's own
    iteration with the quiet zone, drawn exactly as pydyf would draw them."""
    from registro.adapters.qr import BORDER, _make, qr_matrix

    rows = qr_matrix(data)
    modules = [[bool(m) for m in row] for row in _make(data).matrix_iter(border=BORDER)]
    assert [[bool(b) for b in row] for row in rows] == modules
    slot = _slot(412.5, 96.0, 90.0)
    content = pydyf.Stream()
    pdf_form._draw_squares(content, slot, rows)
    assert b"\n".join(content.stream) == _reference(slot, modules)
