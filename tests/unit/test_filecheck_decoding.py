"""The content check reads names, strings and images as readers do (issue 21, item 12): what a reader
decodes — a hex string, an escaped literal string, a UTF-16 string, an object inside an object stream,
every coefficient of a JPEG — is what the check judges. Beside the corpus (tests/support/hostile_files.py),
the variations a raw scan would miss, and the honest features that must still pass."""
from __future__ import annotations

import io

import pytest

from registro import filecheck
from registro.domain import filetypes
from tests.support import files
from tests.support import hostile_files as hostile

_PAGE = hostile._page()


def _verdict(data: bytes) -> str:
    try:
        filecheck.inspect(io.BytesIO(data))
    except filetypes.UnreadableFile as exc:
        return exc.message
    return "aceptado"


def _orphan(body: bytes) -> bytes:
    """`body` as an object no cross-reference entry lists (a reader rebuilding the table finds it)."""
    data = hostile.hand_pdf([hostile._CATALOG, hostile._PAGES, _PAGE])
    return data.replace(b"xref\n", b"9 0 obj\n" + body + b"\nendobj\nxref\n", 1)


@pytest.mark.parametrize("data", [
    _orphan(b"<< /S /URI /URI <" + b"javascript:alert(1)".hex().encode() + b">>>"),  # hex string, then ">>"
    _orphan(b"<< /S /URI /URI <FEFF" + "javascript:alert(1)".encode("utf-16-be").hex().encode() + b"> >>"),
    _orphan(b"<< /S /URI /URI (java\\tscript:alert\\(1\\)) >>"),  # a tab a browser drops
    hostile._uri_link_page(b"<FEFF" + "JavaScript:alert(1)".encode("utf-16-be").hex().encode() + b">"),
    hostile._uri_link_page(b"(file:///C:/Windows/System32/calc.exe)"),
    hostile._uri_link_page(b"( \\001vbscript:msgbox)"),
], ids=["orphan-hex", "orphan-utf16", "orphan-tab", "utf16", "file-uri", "vbscript"])
def test_script_and_local_file_links_are_refused_however_they_are_written(data):
    assert hostile.ACTIVE in _verdict(data)


def test_html_in_an_uncompressed_stream_no_table_lists_is_refused():
    body = b"<!doctype html><body><script>alert(1)</script>"
    assert hostile.POLYGLOT in _verdict(_orphan(hostile._stream(body)))


@pytest.mark.parametrize("data", [
    hostile._uri_link_page(b"(https://www.anam.gob.mx/)"),
    hostile._uri_link_page(b"<" + b"mailto:usuarios.externos@anam.gob.mx".hex().encode() + b">"),
    hostile._uri_link_page(b"(tel:+525555555555)"),
    hostile._uri_link_page(b"(documentos/responsiva.pdf)"),  # relative, resolved against the /Base
    hostile.hand_pdf([b"<< /Type /Catalog /Pages 2 0 R /URI << /Base (https://www.anam.gob.mx/) >> >>",
                      hostile._PAGES, _PAGE]),
    hostile.hand_pdf([hostile._CATALOG, hostile._PAGES, hostile._page(b"/Contents 4 0 R"),
                      hostile._stream(b"BT 72 720 Td (Metadata: la firma <b>no</b> se omite) Tj ET")]),
], ids=["https", "mailto-hex", "tel", "relative", "catalog-base", "uncompressed-text"])
def test_honest_links_and_uncompressed_text_pass(data):
    assert _verdict(data) == "aceptado"


@pytest.mark.parametrize("fraction", [0.3, 0.9, 0.99])
def test_a_jpeg_cut_anywhere_is_refused_even_with_an_end_marker(fraction):
    data = files.jpeg_bytes(640, 480)
    assert "está dañada o incompleta" in _verdict(data[:int(len(data) * fraction)] + b"\xff\xd9")


def test_progressive_grey_and_cmyk_jpegs_pass():
    from PIL import Image

    for mode, options in (("RGB", {"progressive": True}), ("L", {}), ("CMYK", {})):
        out = io.BytesIO()
        Image.linear_gradient("L").resize((900, 700)).convert(mode).save(out, format="JPEG", **options)
        assert _verdict(out.getvalue()) == "aceptado", mode
