"""A synthetic corpus of identity documents for the MRZ reader (issue 23): generated, never checked in.

INE backs (TD1, 85.6 x 54 mm) and passport data pages (TD3, 125 x 88 mm), their zones made with
`mrz`'s generator and printed in Debian's OCR-B (fonts-ocr-b) at ICAO's pitch (2.54 mm a
character), over a background with printed text so the reader has to find the zone. Each document
comes in four conditions:

- clean: the card as rendered at 300 dpi;
- scanned: on a 300-dpi page, slightly rotated, with sensor noise and JPEG;
- phone: hand-held photo: perspective (up to ±8° of tilt), rotation, blur, uneven light, JPEG 60;
- bad: what the quality check must flag: heavy blur or a glare patch over the card.

Everything is drawn from `random.Random(seed)`: the same seed gives the same corpus.
"""
from __future__ import annotations

import io
import random
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
from mrz.generator.td1 import TD1CodeGenerator
from mrz.generator.td3 import TD3CodeGenerator
from PIL import Image, ImageDraw, ImageFilter, ImageFont

OCRB = "/usr/share/fonts/opentype/ocr-b/OCRB.otf"
DPI = 300
CONDITIONS = ("clean", "scanned", "phone", "bad")
_MM = DPI / 25.4

GIVEN = ("JOSÉ MARÍA", "MARÍA DE LOS ÁNGELES", "ANA", "JUAN CARLOS", "GUADALUPE", "LUIS ÁNGEL", "SOFÍA",
         "JESÚS", "MARÍA FERNANDA", "IÑAKI", "XIMENA", "RAÚL", "JOSÉ DE JESÚS", "BEATRIZ ADRIANA")
SURNAMES = ("GARCÍA", "LÓPEZ", "PEÑA", "NÚÑEZ", "MUÑOZ", "DE LA CRUZ", "HERNÁNDEZ", "YÁÑEZ", "ZÚÑIGA", "OCHOA",
            "MARTÍNEZ", "DEL VALLE", "IBÁÑEZ", "RUIZ", "SÁNCHEZ", "CASTAÑEDA", "ORDÓÑEZ", "QUIÑONES")
FOREIGN = (("USA", "US", "SMITH", "JOHN PAUL"), ("CAN", "CA", "TREMBLAY", "MARIE ÈVE"),
           ("ESP", "ES", "GARCÍA PEÑA", "ÁLVARO"), ("GTM", "GT", "AJÚ XOL", "ROSA"), ("COL", "CO", "OSPINA", "CAMILO"))


@dataclass(frozen=True)
class Truth:
    """What the document says (the MRZ's values) and what an applicant would have typed."""
    kind: str  # "ine" or "pasaporte"
    mrz: str
    nombre: str  # as typed, with accents
    apellidos: str
    document_number: str
    birth_date: str  # YYMMDD
    sex: str
    expiry_date: str  # YYMMDD
    nationality: str
    pais: str  # alpha-2


@dataclass(frozen=True)
class Sample:
    name: str
    condition: str
    image: bytes  # JPEG or PNG
    truth: Truth


def generate(count: int, seed: int = 23, conditions: tuple[str, ...] = CONDITIONS) -> list[Sample]:
    """`count` documents (INE and passports alternating), each in every condition asked for."""
    rng = random.Random(seed)
    samples = []
    for index in range(count):
        truth = _identity(rng, "ine" if index % 2 == 0 else "pasaporte")
        card = _render(truth, rng)
        for condition in conditions:
            image = _CONDITIONS[condition](card, random.Random(rng.random()))
            samples.append(Sample(f"{index:03d}-{truth.kind}-{condition}", condition, image, truth))
    return samples


# --- identities ------------------------------------------------------------------------------------
def _mrz_name(text: str, rng: random.Random) -> str:
    """How an issuer writes the name: accents dropped, Ñ as N (ICAO) or, for some, X."""
    import unicodedata

    text = text.replace("Ñ", "X" if rng.random() < 0.2 else "N")
    return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))


def _identity(rng: random.Random, kind: str) -> Truth:
    born = date(1950, 1, 1) + timedelta(days=rng.randrange(365 * 55))
    expires = date(2027, 1, 1) + timedelta(days=rng.randrange(365 * 8))
    sex = rng.choice("MF")
    if kind == "ine":
        given, surnames = rng.choice(GIVEN), f"{rng.choice(SURNAMES)} {rng.choice(SURNAMES)}"
        if rng.random() < 0.1:
            surnames = rng.choice(SURNAMES)  # one surname
        expires = date(expires.year, 12, 31)  # an INE is valid to the end of a year
        number = "".join(rng.choice("0123456789") for _ in range(9))
        code = _fit(TD1CodeGenerator, 30, "ID", "MEX", number, f"{born:%y%m%d}", sex, f"{expires:%y%m%d}", "MEX",
                    _mrz_name(surnames, rng), _mrz_name(given, rng),
                    "<<" + "".join(rng.choice("0123456789") for _ in range(13)))
        return Truth("ine", code, given.title(), surnames.title(), number, f"{born:%y%m%d}", sex,
                     f"{expires:%y%m%d}", "MEX", "MX")
    country, alpha2, surnames, given = rng.choice(FOREIGN)
    number = rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") + "".join(rng.choice("0123456789") for _ in range(8))
    code = str(TD3CodeGenerator("P", country, _mrz_name(surnames, rng), _mrz_name(given, rng), number, country,
                                f"{born:%y%m%d}", sex, f"{expires:%y%m%d}", ""))
    return Truth("pasaporte", code, given.title(), surnames.title(), number, f"{born:%y%m%d}", sex,
                 f"{expires:%y%m%d}", country, alpha2)


def _fit(generator, width: int, *args) -> str:
    """A TD1 zone; a name longer than the line is cut as ICAO does (`mrz` refuses it instead)."""
    *head, surname, given, optional = args
    lines = str(generator(*head, "X", "X", optional)).splitlines()
    full = (surname.replace(" ", "<") + "<<" + given.replace(" ", "<"))[:width]
    lines[2] = full.ljust(width, "<")
    return "\n".join(lines)


# --- rendering -----------------------------------------------------------------------------------
def _font(size: int, path: str = OCRB) -> ImageFont.FreeTypeFont:
    """OCR-B must be there (tools/system-packages.sh installs fonts-ocr-b): a zone in another
    font would measure another reader."""
    return ImageFont.truetype(path, size)


def _render(truth: Truth, rng: random.Random) -> Image.Image:
    width_mm, height_mm = (85.6, 54.0) if truth.kind == "ine" else (125.0, 88.0)
    width, height = round(width_mm * _MM), round(height_mm * _MM)
    tint = tuple(rng.randrange(210, 240) for _ in range(3))
    card = Image.new("RGB", (width, height), tint)
    draw = ImageDraw.Draw(card)
    # Guilloche-like background lines and printed text above the zone.
    for i in range(0, width, 9):
        draw.line((i, 0, i + height // 2, height), fill=tuple(max(0, c - 18) for c in tint), width=1)
    small = _font(round(2.2 * _MM), "DejaVuSans.ttf")
    lines = (["INSTITUTO NACIONAL ELECTORAL", "CREDENCIAL PARA VOTAR", f"CLAVE DE ELECTOR {truth.document_number}X"]
             if truth.kind == "ine" else
             ["PASAPORTE / PASSPORT", f"Apellidos {truth.apellidos.upper()}", f"Nombres {truth.nombre.upper()}",
              f"Nacionalidad {truth.nationality}", f"No. {truth.document_number}"])
    for row, text in enumerate(lines):
        draw.text((round(6 * _MM), round((4 + row * 4) * _MM)), text, fill=(40, 40, 70), font=small)
    if truth.kind == "pasaporte":  # the photo
        draw.rectangle((round(6 * _MM), round(26 * _MM), round(38 * _MM), round(64 * _MM)), fill=(150, 140, 135))
    else:  # the QR codes of the back
        for x in (round(52 * _MM), round(68 * _MM)):
            for _ in range(120):
                cx, cy = x + rng.randrange(round(14 * _MM)), round(4 * _MM) + rng.randrange(round(14 * _MM))
                draw.rectangle((cx, cy, cx + 8, cy + 8), fill=(20, 20, 20))
    # The zone: OCR-B size 10 (cap height ≈ 2.4 mm), a character every 2.54 mm, the last line 3 mm
    # above the bottom edge, lines 4.2 mm apart (ICAO 9303 Part 3/4/5).
    zone = truth.mrz.splitlines()
    font = _font(round(3.4 * _MM))
    pitch = 2.54 * _MM
    left = (width - pitch * len(zone[0])) / 2
    for row, text in enumerate(zone):
        y = height - 3 * _MM - (len(zone) - row) * 4.2 * _MM
        for col, char in enumerate(text):
            draw.text((left + col * pitch, y), char, fill=(15, 15, 20), font=font)
    return card


def _encode(image: Image.Image, quality: int | None = None) -> bytes:
    out = io.BytesIO()
    if quality is None:
        image.save(out, "PNG")
    else:
        image.convert("RGB").save(out, "JPEG", quality=quality)
    return out.getvalue()


def _clean(card: Image.Image, rng: random.Random) -> bytes:
    return _encode(card, 92)


def _scanned(card: Image.Image, rng: random.Random) -> bytes:
    page = Image.new("RGB", (card.width + 240, card.height + 240), (252, 252, 250))
    page.paste(card.rotate(rng.uniform(-1.5, 1.5), expand=True, fillcolor=(252, 252, 250)), (100, 100))
    pixels = np.asarray(page, dtype=np.float32)
    pixels += np.random.default_rng(rng.randrange(2 ** 32)).normal(0, 6, pixels.shape).astype(np.float32)
    return _encode(Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)), 85)


def _phone(card: Image.Image, rng: random.Random, *, blur: float | None = None, glare: bool = False) -> bytes:
    # The card on a table, photographed from above at an angle, about two thirds of the frame.
    background = Image.new("RGB", (round(card.width * 1.5), round(card.height * 1.6)),
                           tuple(rng.randrange(60, 140) for _ in range(3)))
    tilted = _perspective(card, rng, max_degrees=8)
    left, top = (background.width - tilted.width) // 2, (background.height - tilted.height) // 2
    background.paste(tilted, (left, top), tilted)
    photo = background.filter(ImageFilter.GaussianBlur(blur if blur is not None else rng.uniform(0.6, 1.4)))
    pixels = np.asarray(photo, dtype=np.float32)
    gradient = np.linspace(rng.uniform(0.7, 0.85), rng.uniform(0.98, 1.08), pixels.shape[1], dtype=np.float32)
    pixels *= gradient[None, :, None] if rng.random() < 0.5 else gradient[::-1][None, :, None]
    if glare:  # a lamp's reflection: blown out to white where it falls on the card, sensor-clipped
        spot = Image.new("L", photo.size, 0)
        cx = left + rng.randrange(tilted.width // 4, 3 * tilted.width // 4)
        cy = top + rng.randrange(tilted.height // 3, tilted.height - tilted.height // 8)
        rx, ry = tilted.width // rng.randrange(4, 7), tilted.height // rng.randrange(3, 6)
        ImageDraw.Draw(spot).ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=255)
        weight = np.asarray(spot.filter(ImageFilter.GaussianBlur(15)), dtype=np.float32)[:, :, None] / 255
        pixels = pixels * (1 - weight) + 300 * weight
    pixels += np.random.default_rng(rng.randrange(2 ** 32)).normal(0, 4, pixels.shape).astype(np.float32)
    return _encode(Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)), 60)


def _perspective(card: Image.Image, rng: random.Random, max_degrees: float) -> Image.Image:
    """The card (RGBA, transparent around it) turned by up to `max_degrees` in its plane and with a
    keystone from the camera's angle."""
    rotated = card.convert("RGBA").rotate(rng.uniform(-max_degrees, max_degrees), expand=True,
                                          resample=Image.BICUBIC)
    w, h = rotated.size
    k = rng.uniform(0.0, 0.06) * w  # keystone: the far edge narrower
    quad = (rng.uniform(-k, k), 0, rng.uniform(-k, k), h, w - rng.uniform(-k, k), h, w - rng.uniform(-k, k), 0)
    return rotated.transform((w, h), Image.QUAD, quad, resample=Image.BICUBIC)


def _bad(card: Image.Image, rng: random.Random) -> bytes:
    if rng.random() < 0.5:
        return _phone(card, rng, blur=rng.uniform(4.0, 7.0))
    return _phone(card, rng, glare=True)


_CONDITIONS = {"clean": _clean, "scanned": _scanned, "phone": _phone, "bad": _bad}
