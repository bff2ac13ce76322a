"""Helpers for registration tests: identifiers whose check digits python-stdnum computes (never
guessed), a complete form, and the CSRF token of a rendered page."""
from __future__ import annotations

import html
import random
import re
import string
from datetime import date

from stdnum.mx import curp as stdnum_curp
from stdnum.mx import rfc as stdnum_rfc

CONSONANTS = "BCDFGHJKLMNPQRSTVWXYZ"
VOWELS = "AEIOU"


def curp_with_check(first17: str) -> str:
    return first17 + stdnum_curp.calc_check_digit(first17)


def rfc_with_check(first12: str) -> str:
    return first12 + stdnum_rfc.calc_check_digit(first12)


def curps_sharing_rfc(rfc: str, count: int, rng: random.Random | None = None) -> list[str]:
    """`count` different valid CURPs whose first ten characters are those of `rfc` (same name
    letters and birth date, other sex/state/consonants): different people claiming one RFC."""
    rng = rng or random.Random()
    century = rng.choice(string.digits) if rfc[4:6] > "30" else rng.choice("ABCDEF")
    curps: set[str] = set()
    while len(curps) < count:
        curp = curp_with_check(rfc[:10] + rng.choice("HM") + rng.choice(["DF", "JC", "NL", "MC", "PL"])
                               + "".join(rng.choice(CONSONANTS) for _ in range(3)) + century)
        if stdnum_curp.is_valid(curp):
            curps.add(curp)
    return sorted(curps)


def wrong_check(valid: str, alphabet: str = string.digits) -> str:
    """The same identifier with a different last character."""
    return valid[:-1] + next(c for c in alphabet if c != valid[-1])


def random_person(rng: random.Random | None = None) -> tuple[str, str]:
    """A fresh (CURP, RFC) pair of one made-up person: same first ten characters, valid check digits."""
    rng = rng or random.Random()
    while True:
        born = date(rng.randint(1950, 2005), rng.randint(1, 12), rng.randint(1, 28))
        head = (rng.choice(CONSONANTS) + rng.choice(VOWELS) + rng.choice(CONSONANTS) + rng.choice(CONSONANTS)
                + born.strftime("%y%m%d"))
        century = rng.choice(string.digits) if born.year < 2000 else rng.choice("ABCDEF")
        curp = curp_with_check(head + rng.choice("HM") + rng.choice(["DF", "JC", "NL", "MC", "PL"])
                               + "".join(rng.choice(CONSONANTS) for _ in range(3)) + century)
        homoclave = rng.choice("123456789ABCDEFGHJKLMN") + rng.choice("123456789ABCDEFGHJKLMN")
        rfc = rfc_with_check(head + homoclave)
        if stdnum_curp.is_valid(curp) and stdnum_rfc.is_valid(rfc, validate_check_digits=True):
            return curp, rfc


# A Mexican applicant with valid identifiers (check digits computed by stdnum above).
CURP = curp_with_check("PELA800101HDFRPN0")  # PELA800101HDFRPN06
RFC = rfc_with_check("PELA800101AB")  # PELA800101AB8


def mexican_form(**changes: str) -> dict[str, str]:
    data = {
        "tipo_usuario": "agente_aduanal", "curp": CURP, "rfc": RFC, "nombre": "Ana María", "apellidos": "Peña Núñez",
        "email": "ana.pena@example.com", "pais": "MX", "estado": "Jalisco", "localidad": "Guadalajara",
        "colonia": "Centro", "codigo_postal": "44100", "numero_exterior": "12-B", "calle": "Av. Juárez",
        "acepta_aviso": "y",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def foreign_form(**changes: str) -> dict[str, str]:
    data = {
        "tipo_usuario": "transportista", "es_extranjero": "y", "tax_id": "12-3456789", "pasaporte": "X1234567",
        "nombre": "John", "apellidos": "O'Brien-Smith", "email": "john.obrien@example.com", "pais": "US",
        "estado_extranjero": "Texas", "localidad": "Laredo", "colonia": "Downtown", "codigo_postal": "78040",
        "numero_exterior": "1200", "calle": "Main St.", "acepta_aviso": "y",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def csrf_token(page_html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page_html) or \
        re.search(r'value="([^"]+)"[^>]*name="csrf_token"', page_html)
    assert match, "the page carries a CSRF token"
    return match.group(1)


def post_registration(client, data: dict[str, str]):
    """GET the form (session + CSRF token), then POST `data` as a browser would."""
    token = csrf_token(client.get("/registro").get_data(as_text=True))
    return client.post("/registro", data={**data, "csrf_token": token})


def field_error(page_html: str, field_id: str) -> str | None:
    match = re.search(rf'<p class="error-campo" id="{field_id}-error">([^<]*)</p>', page_html)
    return html.unescape(match.group(1)) if match else None


def link_token(url: str) -> str:
    return url.rsplit("/activacion/", 1)[1]


LINK_RE = re.compile(r"(https?://\S+/activacion/[A-Za-z0-9_\-.]+)")
