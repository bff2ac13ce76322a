"""The parses themselves: run only inside the sandbox's child (see sandbox.py).

Each function takes the file's bytes and returns a small picklable verdict. They may raise
anything on hostile input (RecursionError, MemoryError, pypdf's and Pillow's own errors): the
sandbox turns that into a refusal, so no list of "expected" exceptions has to be complete.
"""
from __future__ import annotations

import io
import re
import warnings
import zipfile

from PIL import Image
from pypdf import PdfReader
from pypdf.errors import LimitReachedError
from pypdf.filters import decode_stream_data
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, NameObject, StreamObject

# --- verdict codes (mapped to Spanish messages in the parent) ----------------------------------
OK = "ok"
ENCRYPTED = "encrypted"
NO_PAGES = "no-pages"
ACTIVE = "active"          # JavaScript, actions, launch, embedded files, rich media, XFA
POLYGLOT = "polyglot"      # also a ZIP, or carries HTML/script markup, or a PDF inside an image
TOO_COMPLEX = "too-complex"
TOO_LARGE = "too-large"    # image dimensions

# Phone cameras of 2024-2026 save 12 to 50 megapixel photos (8000 x 6000 = 48 Mpx, some
# 8064 x 6048); they must pass. Above this the file is refused before any pixel is decoded.
MAX_IMAGE_PIXELS = 50_000_000
MAX_IMAGE_SIDE = 20_000

# Names whose presence means content that acts when the file is opened, or carries other files.
# /URI links are not on the list: generated PDFs carry them and a viewer asks before following.
# /OpenAction is judged by its value (a destination array is harmless, an action is not).
_ACTIVE_NAMES = frozenset({
    "JavaScript", "JS", "AA", "Launch", "EmbeddedFile", "EmbeddedFiles", "FileAttachment",
    "RichMedia", "RichMediaContent", "XFA", "SubmitForm", "ImportData", "GoToR", "GoToE", "Rendition",
    "Movie", "Sound", "3D", "ResetForm", "Hide", "SetOCGState",
})
# A signed form or a scanned ID has tens to hundreds of objects; a 300-page book tens of thousands.
_MAX_OBJECTS = 50_000
# Every stream but images is inflated once (and dropped) to find Flate bombs: pypdf's own
# per-stream cap (75 MB) would otherwise only make text extraction silently return nothing.
# Images are left encoded: JPEG, CCITT and JBIG2 scans are not expanded by pypdf anyway.
_MAX_INFLATED_BYTES = 100_000_000
_TEXT_PAGES = 3

_NAME = re.compile(rb"/([^\s/<>\[\]()%{}]+)")
_HEX = re.compile(rb"#([0-9A-Fa-f]{2})")
# Markup a browser would run if the file were ever sniffed as HTML, in any position. Only
# tokens of five or more bytes: shorter ones (e.g. "<svg") turn up by chance in megabytes of
# compressed pixels and would refuse honest photos.
_MARKUP = re.compile(rb"<\s*(script|html|iframe|object|embed|body)\b|<\?php|javascript:", re.IGNORECASE)


# --- PDF --------------------------------------------------------------------------------------
def check_pdf(data: bytes) -> tuple[str, str | None]:
    """(verdict, text of the first pages or None). The text is what the review page shows and
    compares; it is extracted by the very parse that decides the file is acceptable."""
    outside = _outside_streams(data)
    if _is_zip(data) or _MARKUP.search(outside):
        return POLYGLOT, None
    if _raw_active(outside):
        return ACTIVE, None
    reader = PdfReader(io.BytesIO(data), strict=True)
    if reader.is_encrypted:
        return ENCRYPTED, None
    verdict = _walk(reader)
    if verdict != OK:
        return verdict, None
    pages = reader.pages
    if len(pages) < 1:
        return NO_PAGES, None
    text = "".join((page.extract_text() or "") for page in list(pages)[:_TEXT_PAGES])
    return OK, (text if text.strip() else None)


def _outside_streams(data: bytes) -> bytes:
    """The file without its stream bodies: compressed data is random bytes and would match any
    short token by chance; what a viewer interprets as objects is outside them. (bytes.find,
    not a regular expression: a lazy `.*?` over 10 MB of random bytes costs half a second.)"""
    parts: list[bytes] = []
    pos = 0
    while True:
        start = data.find(b"stream", pos)
        if start < 0:
            parts.append(data[pos:])
            break
        after = start + 6
        if data[start - 3:start] == b"end" or data[after:after + 1] not in (b"\r", b"\n"):
            parts.append(data[pos:after])  # "endstream", or the word inside something else
            pos = after
            continue
        end = data.find(b"endstream", after)
        if end < 0:
            parts.append(data[pos:])  # unterminated: scan the rest too
            break
        parts.append(data[pos:start] + b"stream endstream")
        pos = end + 9
    return b"".join(parts)


def _raw_active(outside: bytes) -> bool:
    """Active names anywhere outside streams, also in objects no cross-reference table lists
    (a viewer that rebuilds a broken table finds them; pypdf would not)."""
    for match in _NAME.finditer(outside):
        name = _HEX.sub(lambda m: bytes([int(m.group(1), 16)]), match.group(1))
        if name.decode("latin-1") in _ACTIVE_NAMES:
            return True
    return False


def _walk(reader: PdfReader) -> str:
    """Every object the file defines, including those inside object streams, each visited once
    (so self-references end), iteratively (so nesting depth costs no stack). What the document
    uses (reachable from the trailer) must parse; objects only the cross-reference table lists
    are inspected too, but one that does not parse is skipped (sloppy writers leave such
    leftovers; the raw scan above still sees the uncompressed ones)."""
    state = {"seen": set(), "visited": 0, "inflated": 0}
    verdict = _visit([reader.trailer], state, tolerant=False)
    if verdict != OK:
        return verdict
    listed: list = []
    for generation, entries in reader.xref.items():
        listed += [IndirectObject(num, generation, reader) for num in entries]
    listed += [IndirectObject(num, 0, reader) for num in reader.xref_objStm]
    return _visit(listed, state, tolerant=True)


_FATAL = (LimitReachedError, RecursionError, MemoryError)


def _visit(pending: list, state: dict, *, tolerant: bool) -> str:
    seen: set = state["seen"]
    while pending:
        obj = pending.pop()
        try:
            if isinstance(obj, IndirectObject):
                key = (obj.idnum, obj.generation)
                if key in seen:
                    continue
                seen.add(key)
                obj = obj.get_object()
            state["visited"] += 1
            if state["visited"] > _MAX_OBJECTS:
                return TOO_COMPLEX
            if isinstance(obj, StreamObject) and "/Filter" in obj and obj.get("/Subtype") != "/Image":
                # (pypdf's decode_stream_data fails on a stream without /Filter: those are already raw)
                state["inflated"] += len(decode_stream_data(obj))  # raises LimitReachedError past 75 MB
                if state["inflated"] > _MAX_INFLATED_BYTES:
                    return TOO_COMPLEX
            if isinstance(obj, DictionaryObject):
                for key, value in obj.items():
                    if str(key)[1:] in _ACTIVE_NAMES:
                        return ACTIVE
                    if key == "/OpenAction" and isinstance(value.get_object(), DictionaryObject):
                        return ACTIVE  # an action run on opening, whatever its kind
                    pending.append(value)
            elif isinstance(obj, ArrayObject):
                pending.extend(obj)
            elif isinstance(obj, NameObject) and str(obj)[1:] in _ACTIVE_NAMES:
                return ACTIVE
        except _FATAL:
            raise
        except Exception:  # noqa: BLE001 - an unused leftover that does not parse
            if not tolerant:
                raise
    return OK


# --- images -------------------------------------------------------------------------------------
_PIL_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG"}
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"


def check_image(data: bytes, content_type: str) -> tuple[str, tuple[int, int] | None]:
    """(verdict, (width, height)). Dimensions come from the header before anything is decoded;
    the decode that proves the pixel data is sound is bounded: JPEG at 1/8 scale (DCT draft),
    so a 48-megapixel photo costs a 0.75-megapixel bitmap."""
    if _is_zip(data) or _MARKUP.search(data) or b"%PDF-" in data:
        return POLYGLOT, None
    # This child is single-threaded: changing the warning filter here is safe (in a gunicorn
    # worker with threads, warnings.catch_warnings() is not). Our own cap below decides.
    warnings.simplefilter("ignore", Image.DecompressionBombWarning)
    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    fmt = [_PIL_FORMATS[content_type]]
    try:
        with Image.open(io.BytesIO(data), formats=fmt) as probe:
            width, height = probe.size
            if width * height > MAX_IMAGE_PIXELS or max(width, height) > MAX_IMAGE_SIDE:
                return TOO_LARGE, (width, height)
            probe.verify()  # structure and checksums, without decoding
    except Image.DecompressionBombError:
        return TOO_LARGE, None
    with Image.open(io.BytesIO(data), formats=fmt) as image:
        if image.format == "JPEG":
            image.draft("RGB", (max(1, width // 8), max(1, height // 8)))
        image.load()
    if content_type == "image/png" and not data.endswith(_PNG_END):
        return POLYGLOT, None  # it decoded, so anything after IEND is another file riding along
    return OK, (width, height)


def _is_zip(data: bytes) -> bool:
    """A ZIP (also JAR, DOCX, APK) hidden at the end: unzip tools find its directory there."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return bool(archive.namelist())
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, NotImplementedError):
        return False


def echo(data: bytes) -> int:  # the sandbox's own cost (benchmark, warm-up)
    return len(data)
