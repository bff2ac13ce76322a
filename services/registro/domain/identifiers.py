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

from registro.domain import geography


class IdentifierInvalid(ValueError):
    """The value cannot be accepted; `message` is the Spanish text shown next to the field."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# --- pasted values -------------------------------------------------------------------------------
# What a person pastes from a PDF or a web page may carry spaces inside, no-break or zero-width
# spaces, tabs or a line break; none of them can be part of a CURP or an RFC.
_INVISIBLE = re.compile(r"[\s\u200b\u200c\u200d\u2060\ufeff]+")


def _compact_pasted(value: str) -> str:
    return _INVISIBLE.sub("", unicodedata.normalize("NFC", value or ""))


# --- CURP ---------------------------------------------------------------------------------------
# RENAPO's second character is the first inner vowel (or X); stdnum does not check it but the
# realm's user profile does, so it is checked here to refuse it with a clear message.
# Position 11 is the sex: H, M, or X (the non-binary marker RENAPO issues since 2023).
_CURP_SHAPE = re.compile(r"^[A-Z][AEIOUX][A-Z]{2}[0-9]{6}[HMX][A-Z]{5}[0-9A-Z][0-9]$")


def clean_curp(value: str) -> str:
    return stdnum_curp.compact(_compact_pasted(value))


def stdnum_validate_curp(curp: str) -> str:
    """python-stdnum's CURP validation, plus the sex marker X it refuses (its `get_gender` knows
    only H and M). For an X the structural checks run on a copy with H in that position, and the
    check digit is computed on the real CURP here (stdnum's check-digit alphabet includes X, so
    `calc_check_digit` is right for it). Raises stdnum's own exceptions."""
    curp = stdnum_curp.compact(curp)
    if len(curp) == 18 and curp[10] == "X":
        stdnum_curp.validate(curp[:10] + "H" + curp[11:], validate_check_digits=False)
        if curp[-1] != stdnum_curp.calc_check_digit(curp):
            raise InvalidChecksum()
        return curp
    return stdnum_curp.validate(curp)


def validate_curp(value: str) -> str:
    """The compact CURP, or IdentifierInvalid saying which rule it breaks."""
    curp = clean_curp(value)
    if len(curp) != 18:
        raise IdentifierInvalid("La CURP debe tener 18 caracteres.")
    if not re.fullmatch(r"[A-Z]{4}[0-9]{6}[A-Z]{6}[0-9A-Z][0-9]", curp) or not _CURP_SHAPE.match(curp):
        raise IdentifierInvalid("La CURP no tiene una estructura válida (4 letras, 6 dígitos de la fecha, "
                                "sexo H, M o X, 5 letras, homoclave y dígito verificador).")
    try:
        stdnum_curp.get_birth_date(curp)
    except ValidationError:
        raise IdentifierInvalid("La fecha de nacimiento contenida en la CURP no es una fecha válida.") from None
    if curp[11:13] not in geography.CURP_STATE_CODES:
        raise IdentifierInvalid("La clave de entidad federativa de la CURP no es válida.")
    try:
        stdnum_validate_curp(curp)
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
    return stdnum_rfc.compact(_compact_pasted(value))


# The homoclave (characters 11-13) is two characters SAT derives from the name, from an alphabet
# without zero, and the check digit (a digit or A). stdnum checks this only in its check-digit pass
# and reports it like a wrong check digit; here it gets its own message (issue 11, item 17).
_HOMOCLAVE_FIRST = re.compile(r"[1-9A-V]")
_HOMOCLAVE_SECOND = re.compile(r"[1-9A-Z]")
_CHECK_CHAR = re.compile(r"[0-9A]")


def homoclave_problem(rfc: str) -> str | None:
    """The Spanish explanation of what is wrong in a 13-character RFC's homoclave, or None."""
    first, second, check = rfc[10], rfc[11], rfc[12]
    if not _HOMOCLAVE_FIRST.fullmatch(first):
        return (f"La homoclave del RFC no es válida: su primer carácter (el 11.º del RFC, «{first}») debe ser un "
                "dígito del 1 al 9 o una letra de la A a la V. Revise que lo haya copiado igual que en su "
                "constancia de situación fiscal.")
    if not _HOMOCLAVE_SECOND.fullmatch(second):
        return (f"La homoclave del RFC no es válida: su segundo carácter (el 12.º del RFC, «{second}») debe ser "
                "un dígito del 1 al 9 o una letra; el cero no se usa. Revise que lo haya copiado igual que en su "
                "constancia de situación fiscal.")
    if not _CHECK_CHAR.fullmatch(check):
        return (f"El último carácter del RFC («{check}») es el dígito verificador y solo puede ser un dígito o "
                "la letra A. Revise que lo haya copiado igual que en su constancia de situación fiscal.")
    return None


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
    problem = homoclave_problem(rfc)
    if problem:
        raise IdentifierInvalid(problem)
    try:
        stdnum_rfc.validate(rfc, validate_check_digits=True)
        ok = True
    except InvalidChecksum:
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


# --- lengths ------------------------------------------------------------------------------------
def keycloak_length(text: str) -> int:
    """A length as Keycloak's user profile counts it: Java String.length(), UTF-16 code units. A
    character outside the Basic Multilingual Plane (𝔄, most emoji) counts twice, so the form's
    limits use this count, or Keycloak refuses values the form accepted (issue 11, item 10)."""
    return len(text.encode("utf-16-le")) // 2


# --- names --------------------------------------------------------------------------------------
_NAME_PUNCTUATION = frozenset(" '’-.")


def clean_name(value: str) -> str:
    return unicodedata.normalize("NFC", (value or "").strip())


def validate_name(value: str, label: str) -> str:
    """Letters (any accent, ñ, ü), spaces, apostrophes, hyphens and dots; at least one letter."""
    name = clean_name(value)
    if not name:
        raise IdentifierInvalid(f"Escriba {'sus' if label.endswith('s') else 'su'} {label.lower()}.")
    if keycloak_length(name) > 100:
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
    if keycloak_length(tax_id) > 40 or not re.fullmatch(r"[A-Za-z0-9 .\-/]+", tax_id):
        raise IdentifierInvalid("El TAX ID admite hasta 40 letras, dígitos, espacios, puntos, guiones o diagonales.")
    return tax_id.upper()
