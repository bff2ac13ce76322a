"""A one-page form laid out once by WeasyPrint and filled per document: values drawn into the empty
slots the layout left, and a QR code drawn as vector rectangles.

Why: laying out the same page again for every document is WeasyPrint's pure-Python layout,
drawing and cascade (≈ 3.6× a one-page floor for the responsiva), although only a handful of short
values change. The form is rendered once with every value replaced by an empty fixed-size slot
(`<span data-campo="NAME">`, an inline-block whose size the stylesheet fixes); the layout tells each
slot's rectangle, font size, weight, colour and alignment. The form's PDF objects are serialised
once, its page's drawing cut where each slot is drawn; a fill writes them as they are plus, after
each cut, a small content stream that draws that slot's value (so text extraction reads every value
next to its label), one for the footer (in the page's own drawing space, which the page's last `Q`
has left), the information dictionary (its title) and the cross-reference table.

A slot is laid out as its value will be: an empty slot holds one invisible line of its own font
(the stylesheet's `.campo:empty::before`), so it is as tall as a line of its value and its first
baseline is where WeasyPrint puts the value's; a full render (`value_markup`: the same slot with
the value in it) then lays the page out exactly as the form, and the value lies where a fill draws it.

The values' glyphs come from the form's own embedded fonts: before the form is written, each font
of its slots is told about the glyphs of the form's charset (widths and Unicode mapping), so WeasyPrint
keeps them in its subset and writes their widths and ToUnicode entries (text extraction and copy/paste
work). A value with a character outside that charset, or too long for its slot at MIN_FONT, makes
`fill` return None: the caller renders that document the full way.

Every glyph a form can draw is embedded in every PDF filled from it (≈ 70 bytes a character, both
faces): a form for SPANISH weighs 34 KB, one for CHARSET 48 KB, against a full render's 16 KB. The
caller takes the narrowest charset that holds the document's values (`charset_for`), so the usual
responsiva, and the email that carries it, is the lighter one.

The placement (greedy word wrap on advance widths, shrink to fit, the text operators) is written
here by hand because no maintained library fills a fixed layout fast enough; WeasyPrint writes the
form and its fonts, pydyf the objects.
"""
from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import pydyf
from markupsafe import escape

from registro.adapters.qr import dark_runs

SLOT_ATTR = "data-campo"
MIN_FONT = 8.0  # px (6 pt): a value shrinks down to this size before the form gives up
# Characters a fill can draw: Basic Latin, Latin-1, Latin Extended-A and common punctuation. Names of
# other scripts (Greek, Cyrillic, Chinese…) take the full render, which has every fallback font.
# The soft hyphen is left out: a full render hides it (a hyphenation hint), a fill would print it.
_PUNCTUATION = list("‐‑‒–—―‘’‚‛“”„‟†‡•…‰‹›€™")
CHARSET = frozenset(
    [chr(c) for c in range(0x20, 0x7F)] + [chr(c) for c in range(0xA0, 0x180) if c != 0xAD] + _PUNCTUATION)
# What Mexican names, addresses and emails use: Basic Latin, the Spanish letters and signs, the same punctuation.
SPANISH = frozenset([chr(c) for c in range(0x20, 0x7F)] + list("áéíóúüñÁÉÍÓÚÜÑ¿¡ºª°·«»") + _PUNCTUATION)
CHARSETS = (SPANISH, CHARSET)  # narrowest first


def charset_for(texts) -> frozenset[str] | None:
    """The narrowest of CHARSETS holding every character of `texts`; None when none does."""
    used = set("".join(texts))
    return next((charset for charset in CHARSETS if charset.issuperset(used)), None)


_PAGE_WORD = re.compile(r"\S+")


class FormUnusable(Exception):
    """The HTML does not make a one-page form with the expected slots (the caller renders fully)."""


@dataclass(frozen=True)
class Face:
    """One embedded font of the form, as the fill uses it: its resource name, and per character its
    glyph id and advance width (thousandths of the font size, as the PDF's /W array says)."""
    resource: str
    glyphs: Mapping[str, int]
    widths: Mapping[str, int]

    def width(self, text: str, size: float) -> float:
        widths = self.widths
        return sum(widths[c] for c in text) * size / 1000

    def hex(self, text: str) -> str:
        glyphs = self.glyphs
        return "".join(f"{glyphs[c]:04x}" for c in text)


@dataclass(frozen=True)
class Slot:
    """A rectangle of the page in WeasyPrint's CSS px from the top-left corner (the form's own drawing
    space, where a fill draws). `baseline`: its first line's, as WeasyPrint laid out the slot's
    placeholder line (the bottom of its margin box when it has none, as for the QR code's)."""
    name: str
    x: float
    top: float
    width: float
    height: float
    baseline: float
    font_size: float
    line_height: float
    lines: int
    bold: bool
    color: tuple[float, float, float]
    align: str  # "left", "center" or "right"


@dataclass(frozen=True)
class Footer:
    """A page-margin text that names a value (the folio): drawn as prefix + value + suffix, right-aligned."""
    name: str
    prefix: str
    suffix: str
    right: float
    baseline: float
    font_size: float
    color: tuple[float, float, float]


@dataclass(frozen=True)
class Form:
    # The slots in the order the form's content stream reaches them: a fill draws each value there,
    # so text extraction (and copy/paste) reads the values next to their labels, as in a full render.
    slots: tuple[Slot, ...]
    restores: tuple[bytes, ...]  # per slot: the form's fill colour where the slot is drawn
    footers: tuple[Footer, ...]
    page_space: bytes  # the `cm` operators in force where the page draws its text, the page's last `Q` undid
    faces: Mapping[bool, Face]  # bold? → face
    title: str  # the document title, with each slot's markup where its value goes
    slot_markup: Mapping[str, str]
    head: bytes  # header and every object of the form, serialised
    xref: tuple[bytes, ...]  # cross-reference lines of those objects
    trailer_root: bytes
    info_items: bytes  # the information dictionary's entries other than the title
    first_number: int  # object number of the first per-fill content stream (one per slot, then the last)
    charset: frozenset[str] = CHARSET  # the characters its fonts were prepared for

    @property
    def names(self) -> frozenset[str]:
        return frozenset(slot.name for slot in self.slots)

    def fill(self, values: Mapping[str, str], squares: Sequence[bytes] | None = None,
             *, square_slot: str = "") -> bytes | None:
        """The form's PDF with `values` drawn into their slots (and `squares`, a QR code's modules with
        their quiet zone, into `square_slot`), or None when a value cannot be drawn here (a character
        outside the form's charset, too long for its slot): the caller then renders the document fully."""
        charset = self.charset
        for name in self.names:
            if name != square_slot and not charset.issuperset(str(values.get(name, ""))):
                return None
        parts = []
        for slot, restore in zip(self.slots, self.restores):
            part = pydyf.Stream(compress=slot.name == square_slot)  # the code's rectangles: ≈ 9 KB raw
            if slot.name == square_slot:
                if squares:
                    _draw_squares(part, slot, squares)
            elif not _draw_text(part, slot, self.faces[slot.bold], str(values.get(slot.name, ""))):
                return None
            part.stream.append(restore)
            parts.append(part)
        last = pydyf.Stream(compress=True)
        last.push_state()
        last.stream.append(self.page_space)
        for footer in self.footers:
            face = self.faces[False]
            text = f"{footer.prefix}{values.get(footer.name, '')}{footer.suffix}"
            if not charset.issuperset(text):
                return None
            _show(last, face, text, footer.font_size, footer.color,
                  footer.right - face.width(text, footer.font_size), footer.baseline)
        last.pop_state()
        parts.append(last)
        title = self.title
        for name, markup in self.slot_markup.items():
            title = title.replace(markup, str(values.get(name, "")))
        return self._serialise(parts, title)

    def _serialise(self, parts: list[pydyf.Stream], title: str) -> bytes:
        out = bytearray(self.head)
        xref = list(self.xref)
        for number, part in enumerate(parts, start=self.first_number):
            part.number = number
            xref.append(f"{len(out):010} 00000 n \n".encode())
            out += part.indirect + b"\n"
        info_number = len(xref)
        xref.append(f"{len(out):010} 00000 n \n".encode())
        out += (f"{info_number} 0 obj\n<<".encode() + self.info_items
                + b"/Title " + pydyf.String(title).data + b">>\nendobj\n")
        start = len(out)
        out += f"xref\n0 {len(xref)}\n".encode() + b"".join(xref)
        out += (f"trailer\n<</Size {len(xref)}/Root ".encode() + self.trailer_root
                + f"/Info {info_number} 0 R>>\nstartxref\n{start}\n%%EOF\n".encode())
        return bytes(out)


def _show(content: pydyf.Stream, face: Face, text: str, size: float, color, x: float, baseline: float) -> None:
    # In the form's space (y down, as WeasyPrint draws), so the text matrix flips the glyphs upright.
    # No q/Q around a slot's value: pypdf's text extraction then loses the line (it reads "Yo," and
    # the name on separate lines); the fill colour it changes is set back after the slot
    # (Form.restores), and WeasyPrint sets the font again at the start of every text object after an ET.
    content.set_color_rgb(*color)
    content.begin_text()
    content.set_font_size(face.resource, round(size, 4))
    content.set_text_matrix(1, 0, 0, -1, round(x, 3), round(baseline, 3))
    content.stream.append(f"<{face.hex(text)}> Tj".encode())
    content.end_text()


def _wrap(face: Face, text: str, size: float, width: float) -> list[str] | None:
    """Greedy word wrap on advance widths; None when a single word is wider than the line."""
    lines: list[str] = []
    current = ""
    for word in _PAGE_WORD.findall(text):
        candidate = f"{current} {word}" if current else word
        if face.width(candidate, size) <= width:
            current = candidate
            continue
        if face.width(word, size) > width:
            return None
        lines.append(current)
        current = word
    if current:
        lines.append(current)
    return lines


def _draw_text(content: pydyf.Stream, slot: Slot, face: Face, text: str) -> bool:
    text = " ".join(text.split())
    if not text:
        return True
    size = slot.font_size
    while True:
        lines = _wrap(face, text, size, slot.width) if slot.lines > 1 else [text]
        if lines is not None and len(lines) <= slot.lines and all(
                face.width(line, size) <= slot.width for line in lines):
            break
        if slot.lines == 1:  # one step straight to the size that fits
            fitting = size * slot.width / face.width(text, size) * 0.999
            size = min(fitting, size * 0.95)
        else:
            size *= 0.92
        if size < MIN_FONT:
            return False
    for number, line in enumerate(lines):
        line_width = face.width(line, size)
        offset = {"center": (slot.width - line_width) / 2, "right": slot.width - line_width}.get(slot.align, 0.0)
        _show(content, face, line, size, slot.color, slot.x + offset, slot.baseline + number * slot.line_height)
    return True


def _draw_squares(content: pydyf.Stream, slot: Slot, squares: Sequence[bytes]) -> None:
    """A QR code (its matrix including the quiet zone) as filled rectangles, one per run of dark
    modules in a row: vector, so sharp at any print resolution, and no image in the PDF."""
    count = len(squares)
    module = min(slot.width, slot.height) / count
    # A code has ≈ 300 runs but only `count` distinct columns, widths and rows: each number is
    # formatted once (as pydyf's `rectangle` writes it), not four times per run (half the fill's CPU).
    xs = [_number(round(slot.x + column * module, 3)) for column in range(count)]
    widths = [b""] + [_number(round(length * module, 3)) for length in range(1, count + 1)]
    height = _number(round(module, 3))
    content.push_state()
    content.set_color_rgb(0, 0, 0)
    for row, line in enumerate(squares):  # 1 = dark (adapters/qr.qr_matrix)
        runs = list(dark_runs(line))
        if not runs:
            continue  # a row of the quiet zone
        y = _number(round(slot.top + row * module, 3))
        for start, length in runs:
            content.stream.append(b" ".join((xs[start], y, widths[length], height, b"re")))
    content.fill()
    content.pop_state()


def _number(value: float) -> bytes:
    """A number as pydyf writes it in a content stream: an integral float without decimals, any other
    without trailing zeros."""
    if float(value).is_integer():
        return str(int(value)).encode("ascii")
    return f"{value:f}".rstrip("0").encode("ascii")


# --- building a form (WeasyPrint, with the renderer's lock held) ----------------------------------------
# Each slot has a background of its own marker colour, rgb(254, i // 256, i % 256) for the i-th name:
# found in the form's content stream, it says where WeasyPrint drew the slot (there a fill draws its
# value), and is then not painted.
_MARKER_RED = 254


def slot_markup(names: Sequence[str]) -> dict[str, str]:
    """The empty slot each value name is given in the form's HTML (its size comes from the stylesheet)."""
    return {name: f'<span class="campo campo-{name}" {SLOT_ATTR}="{name}" '
                  f'style="background-color: rgb({_MARKER_RED}, {i // 256}, {i % 256})"></span>'
            for i, name in enumerate(names)}


def value_markup(name: str, value: str) -> str:
    """The slot of `slot_markup` with its value in it, for a full render laid out as the form: the
    value where a fill would draw it, or — too long for the slot — wrapped onto more lines."""
    return f'<span class="campo campo-{name}">{escape(value)}</span>'


def _rgb(color) -> tuple[float, float, float]:
    return tuple(round(float(c), 4) for c in tuple(color)[:3])


def _walk(box):
    yield box
    for child in getattr(box, "children", ()):
        yield from _walk(child)


def _slots(page_box) -> dict[str, list[Slot]]:
    """Per value name, its slots in the order of the box tree."""
    slots: dict[str, list[Slot]] = {}
    seen: set[int] = set()
    for box in _walk(page_box):
        element = getattr(box, "element", None)
        if element is None or getattr(box, "element_tag", None) != "span" or not element.get(SLOT_ATTR):
            continue
        if id(element) in seen:  # the slot's own line box (its placeholder's), inside the slot
            continue
        seen.add(id(element))
        # Inline-level only: WeasyPrint paints a block's background before any text of the page, so
        # a block slot's cut would draw its value first in the text layer.
        if type(box).__name__ != "InlineBlockBox" or any(
                type(b).__name__ == "TextBox" and (b.text.strip() or b.style["visibility"] == "visible")
                for b in _walk(box)):
            raise FormUnusable("un campo no es un inline-block vacío")
        style = box.style
        size = style["font_size"]
        line_height = style["line_height"]
        if line_height == "normal":
            line_height = size * 1.2
        elif hasattr(line_height, "unit"):  # a length, in px
            line_height = line_height.value
        else:  # a number: a multiple of the font size
            line_height = line_height * size
        align = style["text_align_all"]
        placeholder = next((b for b in _walk(box) if type(b).__name__ == "LineBox"), None)
        baseline = (placeholder.position_y + placeholder.baseline if placeholder is not None
                    else box.position_y + box.margin_height())
        slots.setdefault(element.get(SLOT_ATTR), []).append(Slot(
            name=element.get(SLOT_ATTR), x=box.content_box_x(), top=box.content_box_y(), width=box.width,
            height=box.height, baseline=baseline, font_size=size,
            line_height=line_height, lines=max(1, round(box.height / line_height)),
            bold=style["font_weight"] >= 600, color=_rgb(style["color"]),
            align=align if align in ("center", "right") else "left"))
    return slots


def _footers(page_box, markers: Mapping[str, str]) -> tuple[list[Footer], list]:
    """Margin boxes whose text names a value (`markers`: value name → the text before it, e.g. the
    folio after "Folio "), drawn whole by each fill, and those boxes (to be taken out of the form)."""
    footers, margins = [], []
    for margin in [c for c in page_box.children if type(c).__name__ == "MarginBox"]:
        texts = [b for b in _walk(margin) if type(b).__name__ == "TextBox"]
        if len(texts) != 1:
            continue
        text = texts[0]
        for name, prefix in markers.items():
            if text.text.startswith(prefix):
                line = next(b for b in _walk(margin) if type(b).__name__ == "LineBox")
                footers.append(Footer(
                    name=name, prefix=prefix, suffix=" " + text.text[len(prefix):].lstrip(),
                    right=margin.content_box_x() + margin.width, baseline=line.position_y + line.baseline,
                    font_size=text.style["font_size"], color=_rgb(text.style["color"])))
                margins.append(margin)
                break
    return footers, margins


def _faces(document, bold_needed: set[bool], charset: frozenset[str]) -> dict[bool, Face]:
    """Tells the form's regular and bold fonts about `charset`'s glyphs (so WeasyPrint's subset keeps
    them, with their widths and ToUnicode entries) and returns how a fill draws with them."""
    from fontTools.ttLib import TTFont
    from weasyprint.text.fonts import get_hb_object_data

    faces: dict[bool, Face] = {}
    upright = [f for f in document.fonts.values() if not f.style and not f.bitmap and f.weight in (400, 700)]
    if len({f.family for f in upright}) > 1:  # which family a slot uses would be a guess: no form
        raise FormUnusable("el formulario mezcla familias tipográficas")
    for font in upright:
        bold = font.weight == 700
        ttfont = TTFont(io.BytesIO(get_hb_object_data(font.hb_face)), fontNumber=font.index, lazy=True)
        cmap, metrics, upem = ttfont.getBestCmap(), ttfont["hmtx"], ttfont["head"].unitsPerEm
        glyphs, widths = {}, {}
        for char in charset:
            name = cmap.get(ord(char))
            if name is None:
                continue
            glyph = ttfont.getGlyphID(name)
            font.widths.setdefault(glyph, round(metrics[name][0] * 1000 / upem))
            font.to_unicode.setdefault(glyph, char)
            glyphs[char], widths[char] = glyph, font.widths[glyph]
        if bold not in faces:
            faces[bold] = Face(resource=font.hash, glyphs=glyphs, widths=widths)
    missing = [c for face in faces.values() for c in charset if c not in face.glyphs]
    if set(bold_needed) - set(faces) or missing:
        raise FormUnusable("faltan fuentes o glifos")
    return faces


def build(html_document: str, *, render: Callable, slot_markup: Mapping[str, str],
          footer_markers: Mapping[str, str], charset: frozenset[str] = CHARSET) -> Form:
    """Lays the form out and serialises it. `render(html)` → a WeasyPrint Document (the caller's font
    configuration, stylesheets and URL fetcher); `slot_markup`: from `slot_markup(names)`, as the
    HTML has it (the title names values with it)."""
    from weasyprint.text.fonts import get_hb_object_data

    document = render(html_document)
    if len(document.pages) != 1:
        raise FormUnusable("el formulario ocupa más de una página")
    page_box = document.pages[0]._page_box  # WeasyPrint's layout (weasyprint is pinned in requirements.lock)
    slots = _slots(page_box)
    footers, margins = _footers(page_box, footer_markers)
    # A first drawing makes the document's fonts (WeasyPrint creates them while drawing); their glyph
    # lists are then completed with `charset` before the real write subsets them. The footers are still
    # drawn in it, so their font is among those _faces checks (a fill draws them in the slots' family).
    document.write_pdf()
    page_box.children = [c for c in page_box.children if not any(c is m for m in margins)]
    for font in document.fonts.values():
        font.file_content = get_hb_object_data(font.hb_face)
    faces = _faces(document, {s.bold for group in slots.values() for s in group}, charset)
    markers = {name: i for i, name in enumerate(slot_markup)}
    captured: dict[str, Form] = {}

    def finish(_document, pdf: pydyf.PDF) -> None:
        captured["form"] = _serialise_form(pdf, document.metadata.title or "", slots, markers, footers, faces,
                                           slot_markup, charset)

    document.write_pdf(finisher=finish)
    return captured["form"]


def _marker(op: bytes) -> int | None:
    if not op.endswith(b" rg"):
        return None
    try:
        red, green, blue = (round(float(v) * 255) for v in op.split()[:3])
    except ValueError:
        return None
    return green * 256 + blue if red == _MARKER_RED else None


def _page_space(ops: list[bytes]) -> bytes:
    """The transformations the page draws its text in that its drawing has undone by its end (WeasyPrint
    scales CSS px to pt inside a `q` it closes last): what a drawing appended after it must set again."""
    stack, current, at_text = [], [], None
    for op in ops:
        if op == b"q":
            stack.append(list(current))
        elif op == b"Q":
            current = stack.pop()
        elif op.endswith(b" cm"):
            current.append(op)
        elif op == b"BT" and at_text is None:
            at_text = list(current)
    at_text = at_text or current
    if at_text[:len(current)] != current:
        raise FormUnusable("el formulario termina en otro espacio de dibujo")
    return b"".join(op + b"\n" for op in at_text[len(current):])


def _split_at_slots(ops: list[bytes], slots: Mapping[str, list[Slot]], markers: Mapping[str, int]):
    """The form's page drawing cut where each slot is drawn, and the slots in that order. A fill's
    text goes right after the text drawn before its slot (outside the slot background's clip), in
    the page's own space: so the page must not change its transformation after its first lines."""
    transforms = [i for i, op in enumerate(ops) if op.endswith(b" cm")]
    first_text = next((i for i, op in enumerate(ops) if op == b"BT"), len(ops))
    if any(i > first_text for i in transforms):
        raise FormUnusable("el formulario transforma su espacio de dibujo")
    if any(op.split()[-1:] in ([b"g"], [b"k"], [b"cs"], [b"sc"], [b"scn"]) for op in ops):
        raise FormUnusable("el formulario usa colores que el relleno no sigue")
    by_marker = {index: list(slots.get(name, ())) for name, index in markers.items()}
    cuts: list[tuple[int, Slot, bytes]] = []
    after_text, at_text = (transforms[-1] + 1) if transforms else 0, None
    # The fill colour and transparency in force at each point (q saves them, Q restores them).
    state, saved = (b"0 0 0 rg", b""), []
    for i, op in enumerate(ops):
        if op == b"q":
            saved.append(state)
        elif op == b"Q":
            state = saved.pop()
        elif op.endswith(b" rg"):
            state = (op, state[1])
        elif op.endswith(b" gs"):
            state = (state[0], op)
        if op == b"ET":
            after_text, at_text = i + 1, state
        marker = _marker(op)
        if marker is None or marker not in by_marker:
            continue
        if not by_marker[marker]:
            raise FormUnusable("un campo se dibuja más veces de las que aparece")
        colour, alpha = at_text or state
        if alpha not in (b"", b"/a1.0 gs"):
            raise FormUnusable("un campo se dibuja con transparencia")
        cuts.append((after_text, by_marker[marker].pop(0), colour))
        paint = next(j for j in range(i + 1, len(ops)) if ops[j] == b"f")
        ops[paint] = b"n"  # the marker's fill becomes an empty path: the slot stays unpainted
    if any(by_marker.values()):
        raise FormUnusable("un campo no se dibujó")
    segments, start = [], 0
    for cut, _slot, _colour in cuts:
        segments.append(ops[start:cut])
        start = cut
    segments.append(ops[start:])
    return segments, tuple(slot for _cut, slot, _colour in cuts), tuple(colour for _cut, _slot, colour in cuts)


def _serialise_form(pdf: pydyf.PDF, title: str, slots, markers, footers, faces, slot_markup, charset) -> Form:
    kids = pdf.pages["Kids"]
    page = pdf.objects[kids[0]]  # pydyf lists the kids as number, 0, "R"
    drawing = pdf.objects[int(bytes(page["Contents"]).split()[0])]
    page_space = _page_space(list(drawing.stream))
    segments, ordered, restores = _split_at_slots(list(drawing.stream), slots, markers)
    drawing.stream = segments[0]
    contents = [drawing.reference]
    for segment in segments[1:]:
        stream = pydyf.Stream(segment, compress=drawing.compress)
        pdf.add_object(stream)
        contents.append(stream.reference)
    first_number = len(pdf.objects)
    # Each segment is followed by the fill's drawing of the slot it ends at; the last by the footer.
    page["Contents"] = pydyf.Array([ref for i, segment_ref in enumerate(contents)
                                    for ref in (segment_ref, f"{first_number + i} 0 R".encode())])
    head = bytearray(b"%PDF-1.7\n%\xf0\x9f\x96\xa4\n")
    xref = [b"0000000000 65535 f \n"]
    for obj in pdf.objects[1:]:
        xref.append(f"{len(head):010} 00000 n \n".encode())
        head += obj.indirect + b"\n"
    info_items = b"".join(b"/" + pydyf._to_bytes(key) + b" " + pydyf._to_bytes(value)
                          for key, value in pdf.info.items() if key != "Title")
    return Form(slots=ordered, restores=restores, footers=tuple(footers), page_space=page_space, faces=faces,
                title=title, slot_markup=dict(slot_markup),
                head=bytes(head), xref=tuple(xref), trailer_root=pdf.catalog.reference, info_items=info_items,
                first_number=first_number, charset=charset)
