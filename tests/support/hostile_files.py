"""The hostile-file corpus: files built here, byte by byte, that the upload check must refuse.

No opaque blobs: every file is generated from its description, so a reader sees what each
one attacks. `CORPUS` maps a name to (bytes, a fragment of the Spanish message expected).
Built lazily and cached: some (the Flate bomb) take a moment to compress.
"""
from __future__ import annotations

import functools
import io
import struct
import zipfile
import zlib

from PIL import Image
from pypdf import PdfWriter
from pypdf.generic import (ArrayObject, DictionaryObject, NameObject, NumberObject,
                           TextStringObject)

from tests.support import files

ACTIVE = "código, acciones automáticas o archivos incrustados"
DAMAGED = "PDF está dañado"
POLYGLOT = "otro tipo de contenido"
TOO_LARGE = "dimensiones demasiado grandes"
COMPLEX = "estructura demasiado compleja"
DAMAGED_IMAGE = "está dañada o incompleta"


# --- building blocks ------------------------------------------------------------------------------
def _written(writer: PdfWriter) -> bytes:
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _writer() -> PdfWriter:
    writer = PdfWriter()
    writer.add_blank_page(width=612, height=792)
    return writer


def _with_open_action(action: dict) -> bytes:
    writer = _writer()
    writer._root_object[NameObject("/OpenAction")] = writer._add_object(DictionaryObject(
        {NameObject(k): v for k, v in action.items()}))
    return _written(writer)


def hand_pdf(objects: list[bytes], root: int = 1, trailer_extra: bytes = b"") -> bytes:
    """A PDF from numbered object bodies (1-based), with a correct cross-reference table."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root %d 0 R %s>>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, root, trailer_extra, xref)
    return bytes(out)


_CATALOG = b"<< /Type /Catalog /Pages 2 0 R >>"
_PAGES = b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>"


def _page(extra: bytes = b"") -> bytes:
    return b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] " + extra + b" >>"


def _stream(data: bytes, extra: bytes = b"") -> bytes:
    return b"<< /Length %d %s>>\nstream\n" % (len(data), extra) + data + b"\nendstream"


def _png(width: int, height: int, idat: bytes, trailer: bytes = b"", chunks: bytes = b"") -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grey
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunks + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
            + trailer)


def _png_text(keyword: bytes, text: bytes) -> bytes:
    body = keyword + b"\x00" + text
    return struct.pack(">I", len(body)) + b"tEXt" + body + struct.pack(">I", zlib.crc32(b"tEXt" + body))


def _zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("carga.js", "WScript.Shell.Run('calc')")
    return out.getvalue()


def _jpeg_with_dimensions(width: int, height: int) -> bytes:
    """A real small JPEG whose frame header (SOF0) is rewritten to claim other dimensions."""
    data = bytearray(files.jpeg_bytes(64, 64))
    sof = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, height, width)
    return bytes(data)


def _jpeg_with_comment(comment: bytes) -> bytes:
    data = files.jpeg_bytes(64, 64)
    return data[:2] + b"\xff\xfe" + struct.pack(">H", len(comment) + 2) + comment + data[2:]


# --- active PDFs ----------------------------------------------------------------------------------
def open_action_javascript() -> bytes:
    return _with_open_action({"/S": NameObject("/JavaScript"), "/JS": TextStringObject("app.alert('hola')")})


def launch_action() -> bytes:
    return _with_open_action({"/S": NameObject("/Launch"), "/F": TextStringObject("cmd.exe")})


def document_javascript() -> bytes:
    """Document-level JavaScript in the catalog's /Names tree (runs when the file opens)."""
    catalog = b"<< /Type /Catalog /Pages 2 0 R /Names << /JavaScript << /Names [(x) 4 0 R] >> >> >>"
    action = b"<< /S /JavaScript /JS (this.exportDataObject({cName: 'x', nLaunch: 2});) >>"
    return hand_pdf([catalog, _PAGES, _page(), action])


def embedded_executable() -> bytes:
    writer = _writer()
    writer.add_attachment("factura.exe", files.elf_bytes())
    return _written(writer)


def rich_media_annotation() -> bytes:
    annot = b"<< /Type /Annot /Subtype /RichMedia /Rect [0 0 100 100] /RichMediaContent << /Assets << >> >> >>"
    return hand_pdf([_CATALOG, _PAGES, _page(b"/Annots [4 0 R]"), annot])


def xfa_form() -> bytes:
    catalog = b"<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [] /XFA 4 0 R >> >>"
    return hand_pdf([catalog, _PAGES, _page(), _stream(b"<xdp:xdp xmlns:xdp='http://ns.adobe.com/xdp/'/>")])


def page_additional_action() -> bytes:
    return hand_pdf([_CATALOG, _PAGES, _page(b"/AA << /O << /S /JavaScript /JS (app.alert(1)) >> >>")])


def hex_escaped_javascript() -> bytes:
    """`/J#61vaScript` is `/JavaScript` to every reader: the escape must not hide it."""
    catalog = b"<< /Type /Catalog /Pages 2 0 R /OpenAction << /S /J#61vaScript /J#53 (app.alert(1)) >> >>"
    return hand_pdf([catalog, _PAGES, _page()])


def orphan_javascript_object() -> bytes:
    """An action no cross-reference entry lists: a viewer rebuilding the table would find it."""
    data = hand_pdf([_CATALOG, _PAGES, _page()])
    return data.replace(b"xref\n", b"9 0 obj\n<< /S /JavaScript /JS (app.alert(1)) >>\nendobj\nxref\n", 1)


def javascript_in_object_stream() -> bytes:
    """The action lives compressed inside an object stream, invisible to a scan of raw bytes."""
    inner = b"<< /S /JavaScript /JS (app.alert(1)) >>"
    header = b"5 0 "
    body = zlib.compress(header + inner)
    objstm = _stream(body, b"/Type /ObjStm /N 1 /First %d /Filter /FlateDecode " % len(header))
    catalog = b"<< /Type /Catalog /Pages 2 0 R /OpenAction 5 0 R >>"
    # Cross-reference stream: object 5 is entry 0 of object stream 4.
    rows = [(0, 0, 65535), (1, 0, 0), (1, 0, 0), (1, 0, 0), (1, 0, 0), (2, 4, 0), (1, 0, 0)]
    out = bytearray(b"%PDF-1.7\n")
    offsets = {}
    for number, body_ in ((1, catalog), (2, _PAGES), (3, _page()), (4, objstm)):
        offsets[number] = len(out)
        out += b"%d 0 obj\n" % number + body_ + b"\nendobj\n"
    offsets[6] = len(out)
    rows = [(0, 0, 65535)] + [(1, offsets[n], 0) for n in (1, 2, 3, 4)] + [(2, 4, 0), (1, offsets[6], 0)]
    table = b"".join(struct.pack(">BIH", *row) for row in rows)
    xref = _stream(table, b"/Type /XRef /Size 7 /W [1 4 2] /Root 1 0 R ")
    out += b"6 0 obj\n" + xref + b"\nendobj\n"
    out += b"startxref\n%d\n%%%%EOF\n" % offsets[6]
    return bytes(out)


def _uri_link_page(uri: bytes) -> bytes:
    """A page whose link annotation runs the /URI action `uri` (a PDF string, written as given) on a click."""
    annot = b"<< /Type /Annot /Subtype /Link /Rect [0 0 612 792] /A << /S /URI /URI " + uri + b" >> >>"
    return hand_pdf([_CATALOG, _PAGES, _page(b"/Annots [4 0 R]"), annot])


def javascript_uri_as_hex_string() -> bytes:
    """`javascript:` in a /URI action written as a hex string: no byte of the file spells it, every reader
    decodes it (issue 21: this passed the check)."""
    return _uri_link_page(b"<" + b"javascript:app.alert(1)".hex().encode() + b">")


def javascript_uri_escaped_in_a_literal_string() -> bytes:
    """The same written with octal escapes and a line continuation inside a literal string."""
    return _uri_link_page(rb"(\152ava" + b"\\\n" + rb"script\072app.alert\(1\))")


def javascript_uri_in_an_object_stream() -> bytes:
    """The link's action compressed inside an object stream (issue 21: this passed the check)."""
    inner = b"<< /S /URI /URI (javascript:app.alert(1)) >>"
    header = b"5 0 "
    objstm = _stream(zlib.compress(header + inner), b"/Type /ObjStm /N 1 /First %d /Filter /FlateDecode " % len(header))
    annot = b"<< /Type /Annot /Subtype /Link /Rect [0 0 612 792] /A 5 0 R >>"
    out = bytearray(b"%PDF-1.7\n")
    offsets = {}
    for number, body in ((1, _CATALOG), (2, _PAGES), (3, _page(b"/Annots [6 0 R]")), (4, objstm), (6, annot)):
        offsets[number] = len(out)
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    offsets[7] = len(out)
    rows = [(0, 0, 65535)] + [(1, offsets[n], 0) for n in (1, 2, 3, 4)] + [(2, 4, 0), (1, offsets[6], 0),
                                                                          (1, offsets[7], 0)]
    xref = _stream(b"".join(struct.pack(">BIH", *row) for row in rows), b"/Type /XRef /Size 8 /W [1 4 2] /Root 1 0 R ")
    out += b"7 0 obj\n" + xref + b"\nendobj\n"
    out += b"startxref\n%d\n%%%%EOF\n" % offsets[7]
    return bytes(out)


def html_page_in_an_uncompressed_stream() -> bytes:
    """A whole HTML page with a script as the bytes of an unfiltered stream: a browser sniffing the file
    reads it as a page (issue 21: stream bodies were not scanned at all)."""
    page = b"<!DOCTYPE html><html><body><script>fetch('/revision').then(r=>r.text())</script></body></html>"
    return hand_pdf([_CATALOG, _PAGES, _page(b"/Contents 4 0 R"), _stream(b"BT ET\n%" + page + b"\n")])


def jpeg_claiming_more_than_its_data() -> bytes:
    """A frame header claiming 8000 x 6000 (48 Mpx, under the cap) over the data of a 64 x 64 image:
    a lenient decoder fills the rest with grey (issue 21: this passed the check)."""
    return _jpeg_with_dimensions(8_000, 6_000)


def jpeg_cut_with_an_end_marker() -> bytes:
    """A real photo cut at 30 % of its bytes with the end-of-image marker appended, so nothing looks
    truncated to a reader of markers (issue 21: this passed the check)."""
    data = files.jpeg_bytes(640, 480)
    return data[:int(len(data) * 0.3)] + b"\xff\xd9"


# --- broken structure and bombs ---------------------------------------------------------------------
def page_tree_cycle() -> bytes:
    """A page tree whose only kid is the tree itself: a naive reader loops forever."""
    return hand_pdf([_CATALOG, b"<< /Type /Pages /Kids [2 0 R] /Count 1 >>"])


def self_referencing_length() -> bytes:
    """A stream whose /Length is the stream object itself."""
    return hand_pdf([_CATALOG, _PAGES, _page(b"/Contents 4 0 R"),
                     b"<< /Length 4 0 R >>\nstream\nBT ET\nendstream"])


def deeply_nested_arrays(depth: int = 100_000) -> bytes:
    return hand_pdf([_CATALOG, _PAGES, _page(b"/Nested " + b"[" * depth + b"]" * depth)])


def flate_bomb(megabytes: int = 300) -> bytes:
    """A page whose content stream inflates from about 300 KB to 300 MB of spaces."""
    packer = zlib.compressobj(9)
    chunk = b" " * (1024 * 1024)
    body = b"".join(packer.compress(chunk) for _ in range(megabytes)) + packer.flush()
    return hand_pdf([_CATALOG, _PAGES, _page(b"/Contents 4 0 R"), _stream(body, b"/Filter /FlateDecode ")])


def many_objects(count: int = 60_000) -> bytes:
    """Sixty thousand tiny objects: far more than any signed form or scan needs."""
    array = b"[" + b" ".join(b"%d 0 R" % n for n in range(5, count + 5)) + b"]"
    return hand_pdf([_CATALOG, _PAGES, _page(b"/Junk 4 0 R"), array] + [b"0"] * count)


def png_bomb() -> bytes:
    """A PNG header announcing 60000 x 60000 pixels (3.6 gigapixels) over a few bytes of data."""
    return _png(60_000, 60_000, zlib.compress(b"\x00" * 60_001 * 4))


def jpeg_bomb() -> bytes:
    """A JPEG frame header announcing 65000 x 65000 pixels."""
    return _jpeg_with_dimensions(65_000, 65_000)


def huge_width_png() -> bytes:
    """One row 40000 pixels wide: few pixels, but no ID card or photo is shaped like that."""
    return _png(40_000, 1, zlib.compress(b"\x00" * 40_001))


def huge_jpeg_over_cap() -> bytes:
    """64 megapixels (9240 x 6930), just over the cap a phone photo stays under."""
    return _jpeg_with_dimensions(9_240, 6_930)


# --- polyglots ----------------------------------------------------------------------------------------
def pdf_with_zip() -> bytes:
    return files.pdf_bytes() + _zip()


def jpeg_with_zip() -> bytes:
    return files.jpeg_bytes() + _zip()


def png_with_html_text_chunk() -> bytes:
    img = io.BytesIO()
    Image.new("L", (8, 8)).save(img, format="PNG")
    data = img.getvalue()
    at = data.index(b"IDAT") - 4
    return data[:at] + _png_text(b"Comment", b"<html><script>alert(document.cookie)</script></html>") + data[at:]


def jpeg_with_script_comment() -> bytes:
    return _jpeg_with_comment(b"<script>alert(document.cookie)</script>")


def png_with_pdf_after_iend() -> bytes:
    return files.png_bytes() + files.pdf_bytes()


def jpeg_with_pdf_inside() -> bytes:
    return files.jpeg_bytes() + files.pdf_bytes()


def pdf_with_html_outside_streams() -> bytes:
    data = files.pdf_bytes()
    return data.replace(b"\n", b"\n%<html><body><script>alert(1)</script></body></html>\n", 1)


CORPUS_BUILDERS = {
    "openaction_javascript": (open_action_javascript, ACTIVE),
    "launch_action": (launch_action, ACTIVE),
    "document_javascript": (document_javascript, ACTIVE),
    "embedded_executable": (embedded_executable, ACTIVE),
    "rich_media_annotation": (rich_media_annotation, ACTIVE),
    "xfa_form": (xfa_form, ACTIVE),
    "page_additional_action": (page_additional_action, ACTIVE),
    "hex_escaped_javascript": (hex_escaped_javascript, ACTIVE),
    "orphan_javascript_object": (orphan_javascript_object, ACTIVE),
    "javascript_in_object_stream": (javascript_in_object_stream, ACTIVE),
    "javascript_uri_as_hex_string": (javascript_uri_as_hex_string, ACTIVE),
    "javascript_uri_escaped_in_a_literal_string": (javascript_uri_escaped_in_a_literal_string, ACTIVE),
    "javascript_uri_in_an_object_stream": (javascript_uri_in_an_object_stream, ACTIVE),
    "page_tree_cycle": (page_tree_cycle, DAMAGED),
    "self_referencing_length": (self_referencing_length, COMPLEX),
    "deeply_nested_arrays": (deeply_nested_arrays, DAMAGED),
    "flate_bomb": (flate_bomb, COMPLEX),
    "many_objects": (many_objects, COMPLEX),
    "png_bomb": (png_bomb, TOO_LARGE),
    "jpeg_bomb": (jpeg_bomb, TOO_LARGE),
    "huge_width_png": (huge_width_png, TOO_LARGE),
    "huge_jpeg_over_cap": (huge_jpeg_over_cap, TOO_LARGE),
    "pdf_with_zip": (pdf_with_zip, POLYGLOT),
    "jpeg_with_zip": (jpeg_with_zip, POLYGLOT),
    "png_with_html_text_chunk": (png_with_html_text_chunk, POLYGLOT),
    "jpeg_with_script_comment": (jpeg_with_script_comment, POLYGLOT),
    "png_with_pdf_after_iend": (png_with_pdf_after_iend, POLYGLOT),
    "jpeg_with_pdf_inside": (jpeg_with_pdf_inside, POLYGLOT),
    "pdf_with_html_outside_streams": (pdf_with_html_outside_streams, POLYGLOT),
    "html_page_in_an_uncompressed_stream": (html_page_in_an_uncompressed_stream, POLYGLOT),
    "jpeg_claiming_more_than_its_data": (jpeg_claiming_more_than_its_data, DAMAGED_IMAGE),
    "jpeg_cut_with_an_end_marker": (jpeg_cut_with_an_end_marker, DAMAGED_IMAGE),
}


@functools.cache
def build(name: str) -> bytes:
    return CORPUS_BUILDERS[name][0]()


def expected_message(name: str) -> str:
    return CORPUS_BUILDERS[name][1]


# --- what must pass: honest files of the sizes people really upload -------------------------------------
def phone_photo(megapixels: int) -> bytes:
    """A JPEG of a phone camera's size (4:3), with some detail so it is not trivially small."""
    width = int((megapixels * 1_000_000 * 4 / 3) ** 0.5)
    height = megapixels * 1_000_000 // width
    image = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=80)
    return out.getvalue()


def big_scan_png(side: int = 6_300) -> bytes:
    """A 6300 x 6300 grey PNG (39.7 megapixels): a large scan, within the cap."""
    out = io.BytesIO()
    Image.linear_gradient("L").resize((side, side)).save(out, format="PNG")
    return out.getvalue()


def pdf_with_link_and_destination() -> bytes:
    """Honest features that must not be mistaken for active content: a /URI link annotation and
    an /OpenAction that is only a destination (open at page 1, fit)."""
    writer = _writer()
    page = writer.pages[0]
    link = DictionaryObject({
        NameObject("/Type"): NameObject("/Annot"), NameObject("/Subtype"): NameObject("/Link"),
        NameObject("/Rect"): ArrayObject([NumberObject(0), NumberObject(0), NumberObject(100), NumberObject(20)]),
        NameObject("/A"): DictionaryObject({NameObject("/S"): NameObject("/URI"),
                                            NameObject("/URI"): TextStringObject("https://www.anam.gob.mx/")}),
    })
    page[NameObject("/Annots")] = ArrayObject([writer._add_object(link)])
    writer._root_object[NameObject("/OpenAction")] = ArrayObject([page.indirect_reference, NameObject("/Fit")])
    return _written(writer)


