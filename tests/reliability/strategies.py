"""Hypothesis strategies for the public forms: mostly-valid submissions with any field replaced by
hostile text (astral characters, control characters, right-to-left marks, internationalised email
domains, very long values, markup), so the fuzzing reaches the deep rules instead of stopping at
the first empty field."""
from __future__ import annotations

import random

from hypothesis import strategies as st

from keycloak_ext.catalog import USER_TYPES
from registro.domain import geography
from tests.support import files
from tests.support.registration import curp_with_check, random_person

FRAKTUR_A = "\U0001d504"

TRICKY = [
    "", " ", "\t", "\u00a0", "\u200b", "\ufeff", "\u202e", "\x00", "\x7f", "\r\n",
    FRAKTUR_A * 50, FRAKTUR_A * 90, "😀" * 60, "ñ" * 101, "x" * 300, "José\u0301", "O'Brien", "<script>",
    "a@bücher.example", "ana@ß.example", "пример@пример.рф", "a@" + "b" * 70 + ".example", "ana@example.com ",
    "ANA@EXAMPLE.COM", "x@xn--bcher-kva.example", "@", "a@b", "null", "None", "0" * 18, "%00", "../../etc",
    curp_with_check("PELA800101XDFRPN0"), curp_with_check("PELA800101XDFRPN0").lower(), "DIRA870101X95",
]

hostile_text = st.one_of(
    st.sampled_from(TRICKY),
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8", categories=["L", "M", "N", "P", "S", "Z", "Cc", "Cf", "Co"]),
            min_size=1, max_size=160),
)


def _maybe(valid, hostile=hostile_text, weight: float = 0.8):
    """The valid value most of the time, a hostile one otherwise."""
    return st.one_of(st.just(valid), hostile) if weight else hostile


@st.composite
def registration_posts(draw) -> dict[str, str]:
    seed = draw(st.integers(0, 2**32 - 1))
    curp, rfc = random_person(random.Random(seed))
    foreign = draw(st.booleans())
    base = {
        "tipo_usuario": draw(st.sampled_from([t.slug for t in USER_TYPES])),
        "curp": "" if foreign and draw(st.booleans()) else curp,
        "rfc": "" if foreign and draw(st.booleans()) else rfc,
        "nombre": "Ana María", "apellidos": "Peña Núñez",
        "email": f"persona{seed}@example.com",
        "pais": "US" if foreign else "MX",
        "estado": "Jalisco", "estado_extranjero": "Texas" if foreign else "",
        "localidad": "Guadalajara", "colonia": "Centro",
        "codigo_postal": "78040" if foreign else "44100", "numero_exterior": "12", "calle": "Av. Juárez",
        "tax_id": "TX-1234" if foreign else "", "pasaporte": f"P{seed}" if foreign else "",
    }
    if foreign:
        base["es_extranjero"] = "y"
    # Replace a few fields (sometimes none) with hostile values.
    names = sorted(k for k in base if k != "es_extranjero")
    for name in draw(st.lists(st.sampled_from(names), max_size=4, unique=True)):
        base[name] = draw(hostile_text)
    if draw(st.booleans()):
        base["rfc_confirmado"] = "y"
    if draw(st.integers(0, 9)) == 0:
        base["pais"] = draw(st.sampled_from([c for c, _ in geography.COUNTRIES] + ["ZZ", ""]))
    return base


file_bytes = st.one_of(
    st.sampled_from([files.pdf_bytes(), files.png_bytes(), files.jpeg_bytes(), files.truncated_pdf(),
                     files.png_header_on_garbage(), files.elf_bytes(), files.html_bytes(), b""]),
    st.binary(max_size=2048),
    st.binary(max_size=512).map(lambda b: b"%PDF-1.7\n" + b),
    st.binary(max_size=512).map(lambda b: b"\x89PNG\r\n\x1a\n" + b),
    st.binary(max_size=512).map(lambda b: b"\xff\xd8\xff\xe0" + b),
)

file_names = st.one_of(st.sampled_from(["documento.pdf", "ine.png", "foto.jpg", "", ".pdf", "a" * 400 + ".pdf",
                                        "../../x.pdf", "archivo\u202egpj.exe", "名前.pdf"]), st.text(max_size=60))

dates = st.one_of(st.dates().map(lambda d: d.isoformat()), st.dates().map(lambda d: d.strftime("%d/%m/%Y")),
                  hostile_text)

document_kinds = st.sampled_from(["curp", "responsiva", "identificacion", "otro", "../curp", "CURP", ""])


@st.composite
def activation_actions(draw) -> list[dict]:
    """1-4 steps on an application's page: uploads, removals, submissions, with a valid link or not."""
    steps = []
    for _ in range(draw(st.integers(1, 4))):
        what = draw(st.sampled_from(["subir", "subir", "subir", "eliminar", "enviar", "ver", "responsiva"]))
        steps.append({
            "what": what,
            "kind": draw(document_kinds),
            "token_ok": draw(st.integers(0, 5)) > 0,
            "token": draw(hostile_text),
            "data": draw(file_bytes),
            "name": draw(file_names),
            "form": {"tipo_identificacion": draw(_maybe("ine", st.one_of(
                         st.sampled_from(["pasaporte", "cedula_profesional", "licencia", "documento_migratorio", ""]),
                         hostile_text))),
                     "vigencia": draw(dates),
                     **({"cedula_fisica": "y"} if draw(st.booleans()) else {})},
        })
    return steps
