"""The page renderer's worker: one short-lived process per document, started by
adapters/page_render.py, that turns an uploaded PDF or image into page images.

It is the only code that parses an applicant's file for the viewer, so it runs apart from the
service, under its own limits set on itself before reading the file (address space, CPU seconds,
no files written), and its parent kills it after a wall-clock deadline. What leaves it is only
images it encoded itself (the reviewer's browser never receives the applicant's bytes) and the
text of any QR code found.

Protocol: the document on stdin; argv `--type T --max-pages N --max-width W --dpi D [--codes]`;
on stdout a sequence of frames (4-byte big-endian length + bytes): first a JSON header
{"paginas": total, "mostradas": n, "codigos": [...]} or {"error": "..."}, then n images.
Exit code 0 when rendered, 3 when the document cannot be rendered (the header says why).
"""
from __future__ import annotations

import io
import json
import os
import resource
import struct
import sys
from dataclasses import dataclass, field

# JPEG: encoded in ≈ 4 ms a page where WebP took ≈ 150 ms (benchmarks/bench_viewer.py), at about twice
# the size (≈ 230 KiB a letter page at 150 dpi), which a reviewer's network carries easily.
IMAGE_FORMAT = "JPEG"
IMAGE_MIME = "image/jpeg"
IMAGE_QUALITY = 85
MAX_PIXELS_PER_PAGE = 6_000_000  # after scaling: a letter page at 150 dpi is 2.1 Mpx
MAX_SOURCE_PIXELS = 60_000_000  # an image larger than this is refused before it is decoded
CODE_PREFIX = "ANAM-AU:"  # only codes that look like ours are reported (see domain/responsiva_code.py)
UNRENDERABLE = 3


class Unrenderable(Exception):
    """The document cannot be shown; `args[0]` is a short reason for logs (no personal data)."""


@dataclass
class Result:
    total_pages: int = 0
    pages: list[bytes] = field(default_factory=list)
    codes: list[str] = field(default_factory=list)


# Page images are background work (rendered at submission, read later by a reviewer):
# the worker yields the CPU to the service's requests, whose applicants are waiting. A render costs
# ≈ 250 ms of CPU for a one-page responsiva with its QR search; on 2 cores it slowed uploads ≈ 2×.
NICENESS = 10


def limit_self(memory_bytes: int, cpu_seconds: int) -> None:
    """Applied by the worker to itself before it touches the document."""
    os.nice(NICENESS)
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _encode(image) -> bytes:
    out = io.BytesIO()
    image.save(out, format=IMAGE_FORMAT, quality=IMAGE_QUALITY)
    return out.getvalue()


def _fit_scale(width_pt: float, height_pt: float, dpi: int, max_width: int) -> float:
    scale = dpi / 72
    if width_pt * scale > max_width:
        scale = max_width / width_pt
    if width_pt * height_pt * scale * scale > MAX_PIXELS_PER_PAGE:
        scale = (MAX_PIXELS_PER_PAGE / (width_pt * height_pt)) ** 0.5
    return max(scale, 0.05)


def _codes_in(image) -> list[str]:
    import zxingcpp
    from PIL import ImageOps

    formats = zxingcpp.BarcodeFormat.QRCode
    found = [b.text for b in zxingcpp.read_barcodes(image, formats=formats)]
    if not any(t.startswith(CODE_PREFIX) for t in found):
        # Phone photos of paper: dim, low-contrast, uneven light. A stretched grey version helps
        # the binarizer; it is only tried when the plain image gave nothing of ours.
        grey = ImageOps.autocontrast(ImageOps.grayscale(image), cutoff=2)
        found += [b.text for b in zxingcpp.read_barcodes(grey, formats=formats)]
    return [t for t in dict.fromkeys(found) if t.startswith(CODE_PREFIX)]


def render_pdf(data: bytes, *, max_pages: int, max_width: int, dpi: int, codes: bool) -> Result:
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        raise Unrenderable(f"pdfium: {exc}") from exc
    try:
        result = Result(total_pages=len(pdf))
        if result.total_pages == 0:
            raise Unrenderable("pdf sin páginas")
        for index in range(min(result.total_pages, max_pages)):
            page = pdf[index]
            try:
                width, height = page.get_size()
                scale = _fit_scale(width, height, dpi, max_width)
                image = page.render(scale=scale, may_draw_forms=True).to_pil().convert("RGB")
            finally:
                page.close()
            result.pages.append(_encode(image))
            if codes and not result.codes:
                result.codes = _codes_in(image)
                if not result.codes and index == 0:
                    # A small or blurred code on a scan: one more look at twice the resolution.
                    page = pdf[index]
                    try:
                        big = page.render(scale=min(scale * 2, _fit_scale(width, height, 2 * dpi, 2 * max_width)))
                        result.codes = _codes_in(big.to_pil().convert("RGB"))
                    finally:
                        page.close()
        return result
    except pdfium.PdfiumError as exc:
        raise Unrenderable(f"pdfium: {exc}") from exc
    finally:
        pdf.close()


def render_image(data: bytes, *, max_width: int, codes: bool) -> Result:
    from PIL import Image, ImageOps, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = MAX_SOURCE_PIXELS  # larger raises DecompressionBombError (refused below)
    try:
        source = Image.open(io.BytesIO(data))
        if source.width * source.height > MAX_SOURCE_PIXELS:
            raise Unrenderable("imagen demasiado grande")
        source.load()
        # Phone photos are stored sideways with an EXIF orientation: show them upright.
        upright = ImageOps.exif_transpose(source).convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise Unrenderable(f"imagen: {type(exc).__name__}") from exc
    shown = upright
    if upright.width > max_width or upright.width * upright.height > MAX_PIXELS_PER_PAGE:
        scale = min(max_width / upright.width, (MAX_PIXELS_PER_PAGE / (upright.width * upright.height)) ** 0.5)
        shown = upright.resize((max(1, int(upright.width * scale)), max(1, int(upright.height * scale))),
                               Image.Resampling.LANCZOS)
    result = Result(total_pages=1, pages=[_encode(shown)])  # re-encoded: no EXIF (location) leaves
    if codes:
        result.codes = _codes_in(shown) or (_codes_in(upright) if upright is not shown else [])
    return result


def render(data: bytes, content_type: str, *, max_pages: int, max_width: int, dpi: int, codes: bool) -> Result:
    if content_type == "application/pdf":
        return render_pdf(data, max_pages=max_pages, max_width=max_width, dpi=dpi, codes=codes)
    if content_type in ("image/jpeg", "image/png"):
        return render_image(data, max_width=max_width, codes=codes)
    raise Unrenderable(f"tipo no admitido: {content_type}")


def _frame(out, payload: bytes) -> None:
    out.write(struct.pack(">I", len(payload)))
    out.write(payload)


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="page_render_worker")
    parser.add_argument("--type", required=True)
    parser.add_argument("--max-pages", type=int, required=True)
    parser.add_argument("--max-width", type=int, required=True)
    parser.add_argument("--dpi", type=int, required=True)
    parser.add_argument("--memory-mib", type=int, required=True)
    parser.add_argument("--cpu-seconds", type=int, required=True)
    parser.add_argument("--codes", action="store_true")
    args = parser.parse_args(argv)
    # Libraries are loaded before the limits so only the document's own work counts against them;
    # only those this document needs (each import costs start-up time).
    from PIL import Image, JpegImagePlugin, PngImagePlugin  # noqa: F401

    if args.type == "application/pdf":
        import pypdfium2  # noqa: F401
    if args.codes:
        import zxingcpp  # noqa: F401

    data = sys.stdin.buffer.read()
    limit_self(args.memory_mib * 1024 * 1024, args.cpu_seconds)
    out = sys.stdout.buffer
    try:
        result = render(data, args.type, max_pages=args.max_pages, max_width=args.max_width, dpi=args.dpi,
                        codes=args.codes)
    except Unrenderable as exc:
        _frame(out, json.dumps({"error": str(exc)[:200]}).encode())
        return UNRENDERABLE
    except MemoryError:
        _frame(out, json.dumps({"error": "memoria agotada"}).encode())
        return UNRENDERABLE
    _frame(out, json.dumps({"paginas": result.total_pages, "mostradas": len(result.pages),
                            "codigos": result.codes}).encode())
    for page in result.pages:
        _frame(out, page)
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
