"""Mexican personal identifiers (CURP, RFC) and the other values of the registration form.

python-stdnum does the real work (structure, dates, state codes, check digits); this
module only turns its exceptions into outcomes the form can explain in Spanish and adds
the rules stdnum does not know (SPEC §4: RFC of a natural person only, the CURP/RFC date
agreement, names, postal codes, passports).
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from stdnum.exceptions import InvalidChecksum, ValidationError
from stdnum.mx import curp as stdnum_curp
from stdnum.mx import rfc as stdnum_rfc

from . import geography


class IdentifierInvalid(ValueError):
    """The value cannot be accepted; `message` is the Spanish text shown next to the field."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# --- CURP ---------------------------------------------------------------------------------------
# RENAPO's second character is the first inner vowel (or X); stdnum does not check it but the
# realm's user profile does, so it is checked here to refuse it with a clear message.
_CURP_SHAPE = re.compile(r"^[A-Z][AEIOUX][A-Z]{2}[0-9]{6}[HM][A-Z]{5}[0-9A-Z][0-9]$")


def clean_curp(value: str) -> str:
    return stdnum_curp.compact(value or "")


def validate_curp(value: str) -> str:
    """The compact CURP, or IdentifierInvalid saying which rule it breaks."""
    curp = clean_curp(value)
    if len(curp) != 18:
        raise IdentifierInvalid("La CURP debe tener 18 caracteres.")
    if not re.fullmatch(r"[A-Z]{4}[0-9]{6}[A-Z]{6}[0-9A-Z][0-9]", curp) or not _CURP_SHAPE.match(curp):
        raise IdentifierInvalid("La CURP no tiene una estructura válida (4 letras, 6 dígitos de la fecha, "
                                "sexo H o M, 5 letras, homoclave y dígito verificador).")
    try:
        stdnum_curp.get_birth_date(curp)
    except ValidationError:
        raise IdentifierInvalid("La fecha de nacimiento contenida en la CURP no es una fecha válida.") from None
    if curp[11:13] not in geography.CURP_STATE_CODES:
        raise IdentifierInvalid("La clave de entidad federativa de la CURP no es válida.")
    try:
        stdnum_curp.validate(curp)
    except InvalidChecksum:
        raise IdentifierInvalid("El dígito verificador de la CURP no es correcto. Revise que la haya escrito "
                                "igual que en su constancia.") from None
    except ValidationError:
        raise IdentifierInvalid("La CURP no es válida.") from None
    return curp


# --- RFC ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RfcCheck:
    rfc: str
    check_digit_ok: bool  # False: about 1.5% of issued RFCs; the applicant confirms, the reviewer sees a flag


def clean_rfc(value: str) -> str:
    return stdnum_rfc.compact(value or "")


def validate_rfc(value: str) -> RfcCheck:
    """Structure and date must be right; the check digit is computed and reported, never refused."""
    rfc = clean_rfc(value)
    if len(rfc) != 13:
        raise IdentifierInvalid("El RFC de persona física debe tener 13 caracteres.")
    if not re.fullmatch(r"[A-Z&Ñ]{4}[0-9]{6}[A-Z0-9]{3}", rfc):
        raise IdentifierInvalid("El RFC no tiene una estructura válida (4 letras, 6 dígitos de la fecha y "
                                "3 caracteres de homoclave).")
    try:
        stdnum_rfc.validate(rfc)
    except ValidationError:
        if not _date_ok(rfc[4:10]):
            raise IdentifierInvalid("La fecha contenida en el RFC no es una fecha válida.") from None
        raise IdentifierInvalid("El RFC no es válido.") from None
    try:
        stdnum_rfc.validate(rfc, validate_check_digits=True)
        ok = True
    except ValidationError:
        # stdnum's check-digit pass also checks the homoclave's alphabet; both are "does not compute".
        ok = False
    return RfcCheck(rfc=rfc, check_digit_ok=ok)


def _date_ok(yymmdd: str) -> bool:
    try:
        stdnum_rfc._get_date(yymmdd)  # noqa: SLF001 — the same date rule stdnum applies
        return True
    except ValidationError:
        return False


def birth_dates_agree(curp: str, rfc: str) -> bool:
    """Both encode the birth date as YYMMDD at positions 5-10 (SPEC §4: they must agree)."""
    return curp[4:10] == rfc[4:10]


def first_ten_agree(curp: str, rfc: str) -> bool:
    """Normally equal; a difference is a hint for the reviewer, not a block."""
    return curp[:10] == rfc[:10]


# --- names --------------------------------------------------------------------------------------
_NAME_PUNCTUATION = frozenset(" '’-.")


def clean_name(value: str) -> str:
    return unicodedata.normalize("NFC", (value or "").strip())


def validate_name(value: str, label: str) -> str:
    """Letters (any accent, ñ, ü), spaces, apostrophes, hyphens and dots; at least one letter."""
    name = clean_name(value)
    if not name:
        raise IdentifierInvalid(f"Escriba {'sus' if label.endswith('s') else 'su'} {label.lower()}.")
    if len(name) > 100:
        raise IdentifierInvalid(f"El campo {label} admite como máximo 100 caracteres.")
    if not any(c.isalpha() for c in name) or any(not (c.isalpha() or c in _NAME_PUNCTUATION) for c in name):
        raise IdentifierInvalid(f"El campo {label} solo admite letras (con acentos, ñ o ü), espacios, "
                                "apóstrofos, guiones y puntos.")
    return name


def name_key(value: str) -> str:
    """Case- and accent-insensitive form of a name, for comparisons (SPEC §4)."""
    decomposed = unicodedata.normalize("NFKD", value.casefold())
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).split())


# --- postal code, foreign identifiers -------------------------------------------------------------
def validate_mexican_postal_code(value: str) -> str:
    cp = (value or "").strip()
    if not re.fullmatch(r"[0-9]{5}", cp):
        raise IdentifierInvalid("El código postal debe tener 5 dígitos.")
    return cp


def validate_foreign_postal_code(value: str) -> str:
    cp = " ".join((value or "").split())
    if not cp:
        raise IdentifierInvalid("Escriba su código postal.")
    if len(cp) > 12 or not re.fullmatch(r"[A-Za-z0-9 \-]+", cp):
        raise IdentifierInvalid("El código postal admite hasta 12 letras, dígitos, espacios o guiones.")
    return cp.upper()


def clean_passport(value: str) -> str:
    """Passport numbers are compared without spaces or hyphens and in capitals."""
    return re.sub(r"[\s\-]", "", value or "").upper()


def validate_passport(value: str) -> str:
    passport = clean_passport(value)
    if not passport:
        raise IdentifierInvalid("Escriba el número de su pasaporte.")
    if len(passport) > 20 or not re.fullmatch(r"[A-Z0-9]+", passport):
        raise IdentifierInvalid("El pasaporte admite hasta 20 letras y dígitos.")
    return passport


def validate_tax_id(value: str) -> str:
    tax_id = " ".join((value or "").split())
    if not tax_id:
        raise IdentifierInvalid("Escriba su TAX ID.")
    if len(tax_id) > 40 or not re.fullmatch(r"[A-Za-z0-9 .\-/]+", tax_id):
        raise IdentifierInvalid("El TAX ID admite hasta 40 letras, dígitos, espacios, puntos, guiones o diagonales.")
    return tax_id.upper()
