"""Documents with visible content for the viewer's tests, and "phone photos" of a real responsiva:
page renderings transformed with Pillow the way a hand-held camera distorts paper (rotated,
skewed, dim, low contrast, JPEG-compressed)."""
from __future__ import annotations

import io
import random

from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont


def _font(size: int):
    try:
        return ImageFont.truetype("DejaVuSans.ttf", size)
    except OSError:
        return ImageFont.load_default(size)


def content_page(label: str, width: int = 850, height: int = 1100, colour=(105, 28, 50)) -> Image.Image:
    """A white page with a coloured band, a big label and lines of 'text': anything but blank."""
    page = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(page)
    draw.rectangle((0, 0, width, height // 10), fill=colour)
    draw.text((width // 12, height // 6), label, fill="black", font=_font(width // 14))
    for row in range(12):
        y = height // 3 + row * height // 22
        draw.rectangle((width // 12, y, width - width // 6 - (row * 37) % (width // 4), y + height // 80), fill=(60, 60, 60))
    return page


def pdf_of_pages(pages: list[Image.Image], resolution: float = 100.0) -> bytes:
    out = io.BytesIO()
    pages[0].save(out, format="PDF", save_all=True, append_images=pages[1:], resolution=resolution)
    return out.getvalue()


def multipage_pdf(count: int = 3) -> bytes:
    """A PDF whose every page shows its number (so a test can tell them apart)."""
    return pdf_of_pages([content_page(f"Página {n}") for n in range(1, count + 1)])


def image_bytes(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def content_png(label: str = "Identificación") -> bytes:
    return image_bytes(content_page(label, 640, 400, colour=(188, 149, 92)), "PNG")


def content_jpeg(label: str = "Responsiva firmada") -> bytes:
    return image_bytes(content_page(label), "JPEG", quality=85)


def render_pdf_page(pdf: bytes, dpi: int = 150) -> Image.Image:
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(pdf)
    try:
        return doc[0].render(scale=dpi / 72).to_pil().convert("RGB")
    finally:
        doc.close()


def sign(page: Image.Image) -> Image.Image:
    """A pen stroke near the signature line (it may cross anything: that is what people do)."""
    signed = page.copy()
    draw = ImageDraw.Draw(signed)
    w, h = signed.size
    points = [(int(w * (0.35 + 0.03 * i)), int(h * (0.82 + 0.015 * ((-1) ** i)))) for i in range(10)]
    draw.line(points, fill=(20, 30, 120), width=max(2, w // 400))
    return signed


def phone_photo(page: Image.Image, *, angle: float = 0.0, skew: float = 0.0, contrast: float = 1.0,
                brightness: float = 1.0, blur: float = 0.0, noise: int = 0, seed: int = 7) -> Image.Image:
    """What a camera makes of a printed page: turned by `angle` degrees on a darker desk,
    seen at a slant (`skew`, a fraction of the width the far edge shrinks by), faded."""
    img = page.convert("RGB")
    w, h = img.size
    if skew:
        # Perspective: the top edge looks narrower than the bottom one.
        d = skew * w / 2
        src = [(0, 0), (w, 0), (w, h), (0, h)]
        dst = [(d, 0), (w - d, 0), (w, h), (0, h)]
        img = img.transform((w, h), Image.Transform.PERSPECTIVE, _perspective_coefficients(dst, src),
                            Image.Resampling.BICUBIC, fillcolor=(90, 80, 70))
    if angle:
        img = img.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=(90, 80, 70))
    if contrast != 1.0:
        img = ImageEnhance.Contrast(img).enhance(contrast)
    if brightness != 1.0:
        img = ImageEnhance.Brightness(img).enhance(brightness)
    if blur:
        img = img.filter(ImageFilter.GaussianBlur(blur))
    if noise:
        rng = random.Random(seed)
        grain = Image.effect_noise(img.size, noise).convert("RGB")
        img = Image.blend(img, grain, 0.12 + rng.random() * 0.02)
    return img


def _perspective_coefficients(dst, src) -> list[float]:
    # Solve A x = b for the projective transform taking dst → src (Pillow samples input at src).
    rows, rhs = [], []
    for (x, y), (u, v) in zip(dst, src):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rhs.append(u)
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs.append(v)
    return _gauss(rows, rhs)


def _gauss(a: list[list[float]], b: list[float]) -> list[float]:
    n = len(b)
    m = [row[:] + [b[i]] for i, row in enumerate(a)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(m[r][col]))
        m[col], m[pivot] = m[pivot], m[col]
        for r in range(n):
            if r != col:
                f = m[r][col] / m[col][col]
                m[r] = [x - f * y for x, y in zip(m[r], m[col])]
    return [m[i][n] / m[i][i] for i in range(n)]


def jpeg(image: Image.Image, quality: int = 70, exif_orientation: int | None = None) -> bytes:
    """As a phone saves it; with `exif_orientation` the pixels stay as shot and the EXIF tag
    says how to turn them (6 = 90° clockwise), as most phones do."""
    options = {"quality": quality}
    if exif_orientation:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        options["exif"] = exif.tobytes()
    return image_bytes(image, "JPEG", **options)
