"""What an identity document's MRZ says, set against what the applicant declared: one verdict per
field for the reviewer, and the correction reasons a mismatch suggests. Pure; never decides.

- Names: names.compare (folded, order-insensitive, a distance).
- Birth date and sex: against the CURP (its characters 5-10 are YYMMDD, the 11th H, M or X; the
  17th says the century: a digit before 2000, a letter from 2000).
- Expiry: against the declared vigencia. The INE prints only a year ("VIGENCIA 2031") and its MRZ
  carries 31 December of it, so for an INE the year is compared; for a passport the date.
- Passport number and nationality: against what the applicant declared (a foreigner's passport;
  the country of the form as nationality).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from registro.domain.documents import ID_KIND_LABELS
from registro.documents.reading import names
from registro.documents.reading.countries import mrz_codes
from registro.documents.reading.mrz_text import TD1, MrzRead

COINCIDE = "coincide"
NO_COINCIDE = "no_coincide"
NO_LEIDO = "no_leido"  # "no se pudo leer"
NO_APLICA = "no_aplica"  # nothing declared to compare with: the value read is shown as is

OUTCOME_LABELS = {COINCIDE: "Coincide", NO_COINCIDE: "No coincide", NO_LEIDO: "No se pudo leer",
                  NO_APLICA: "Sin dato registrado para comparar"}

# The reasons of domain.documents.CORRECTION_REASONS a mismatch puts in front of the reviewer.
REASON_MISMATCH = "datos_no_coinciden"
REASON_EXPIRED = "vencido"
REASON_WRONG_DOCUMENT = "no_corresponde"

_SEX_LABELS = {"M": "Hombre", "F": "Mujer", "X": "No binario (X)"}
_CURP_SEX = {"H": "M", "M": "F", "X": "X"}  # CURP's marker → ICAO's


@dataclass(frozen=True)
class Declared:
    """What the applicant registered that an identity document can confirm."""
    nombre: str
    apellidos: str
    curp: str = ""
    pasaporte: str = ""
    pais: str = ""  # ISO 3166-1 alpha-2, as the form stores it
    es_extranjero: bool = False
    tipo_identificacion: str = ""  # domain.documents.ID_KINDS slug
    vigencia: str = ""  # ISO date


@dataclass(frozen=True)
class FieldVerdict:
    key: str
    label: str
    read: str  # "" when not read
    declared: str
    outcome: str
    detail: str = ""

    @property
    def outcome_label(self) -> str:
        return OUTCOME_LABELS[self.outcome]


@dataclass(frozen=True)
class Comparison:
    fields: tuple[FieldVerdict, ...]
    reasons: tuple[str, ...]  # suggested correction reasons, most telling first; never applied by itself
    read: bool  # False: the zone could not be read at all

    @property
    def mismatches(self) -> tuple[FieldVerdict, ...]:
        return tuple(f for f in self.fields if f.outcome == NO_COINCIDE)


_FIELDS = (("tipo", "Tipo de documento"), ("nombre", "Nombre"), ("nacimiento", "Fecha de nacimiento"),
           ("sexo", "Sexo"), ("vigencia", "Vigencia"), ("numero", "Número de documento"),
           ("nacionalidad", "Nacionalidad"))


def compare_identity(read: MrzRead | None, declared: Declared, today: date) -> Comparison:
    if read is None:
        return Comparison(fields=tuple(FieldVerdict(key, label, "", "", NO_LEIDO) for key, label in _FIELDS),
                          reasons=(), read=False)
    fields = (_kind(read, declared), _name(read, declared), _birth_date(read, declared), _sex(read, declared),
              _expiry(read, declared), _number(read, declared), _nationality(read, declared))
    reasons: list[str] = []
    if fields[0].outcome == NO_COINCIDE:
        reasons.append(REASON_WRONG_DOCUMENT)
    if any(f.outcome == NO_COINCIDE for f in fields[1:]):
        reasons.append(REASON_MISMATCH)
    expiry = _expiry_date(read)
    if expiry is not None and expiry < today:
        reasons.append(REASON_EXPIRED)
    return Comparison(fields=fields, reasons=tuple(reasons), read=True)


# --- one field each --------------------------------------------------------------------------
def _kind(read: MrzRead, declared: Declared) -> FieldVerdict:
    label = dict(_FIELDS)["tipo"]
    read_kind = "ine" if read.is_ine else ("pasaporte" if read.format != TD1 and read.document_type.startswith("P")
                                           else "")
    shown = {"ine": "Credencial para votar (INE)", "pasaporte": "Pasaporte"}.get(
        read_kind, f"Documento {read.document_type} de {read.country}")
    wanted = declared.tipo_identificacion
    if wanted not in ("ine", "pasaporte"):
        return FieldVerdict("tipo", label, shown, ID_KIND_LABELS.get(wanted, ""), NO_APLICA,
                            "El tipo registrado no lleva zona de lectura mecánica que comparar.")
    outcome = COINCIDE if read_kind == wanted else NO_COINCIDE
    return FieldVerdict("tipo", label, shown, ID_KIND_LABELS.get(wanted, wanted), outcome)


def _name(read: MrzRead, declared: Declared) -> FieldVerdict:
    label = dict(_FIELDS)["nombre"]
    declared_text = f"{declared.nombre} {declared.apellidos}".strip()
    if not read.names_reliable:
        return FieldVerdict("nombre", label, "", declared_text, NO_LEIDO,
                            "La línea del nombre no se leyó con claridad.")
    match = names.compare(declared.nombre, declared.apellidos, read.surname, read.given_names,
                          truncated=read.names_truncated)
    shown = f"{read.given_names} {read.surname}".strip()
    detail = (f"Similitud {match.score:.0f} de 100; {match.distance} letra(s) de diferencia"
              + (" (el nombre está recortado en la zona de lectura)" if read.names_truncated else "") + ".")
    return FieldVerdict("nombre", label, shown, declared_text, COINCIDE if match.matches else NO_COINCIDE, detail)


def _birth_date(read: MrzRead, declared: Declared) -> FieldVerdict:
    label = dict(_FIELDS)["nacimiento"]
    curp = declared.curp.upper()
    century = _curp_century(curp)
    born = _date(read.birth_date, century or _birth_century(read.birth_date))
    shown = f"{born:%d/%m/%Y}" if born else read.birth_date
    if len(curp) != 18:
        return FieldVerdict("nacimiento", label, shown, "", NO_APLICA, "Sin CURP registrada.")
    expected = _date(curp[4:10], century)
    declared_text = f"{expected:%d/%m/%Y} (CURP)" if expected else curp[4:10]
    outcome = COINCIDE if curp[4:10] == read.birth_date else NO_COINCIDE
    return FieldVerdict("nacimiento", label, shown, declared_text, outcome)


def _sex(read: MrzRead, declared: Declared) -> FieldVerdict:
    label = dict(_FIELDS)["sexo"]
    shown = _SEX_LABELS[read.sex]
    curp = declared.curp.upper()
    if len(curp) != 18 or curp[10] not in _CURP_SEX:
        return FieldVerdict("sexo", label, shown, "", NO_APLICA, "Sin CURP registrada.")
    expected = _CURP_SEX[curp[10]]
    return FieldVerdict("sexo", label, shown, f"{_SEX_LABELS[expected]} (CURP)",
                        COINCIDE if expected == read.sex else NO_COINCIDE)


def _expiry(read: MrzRead, declared: Declared) -> FieldVerdict:
    label = dict(_FIELDS)["vigencia"]
    expiry = _expiry_date(read)
    shown = f"{expiry:%d/%m/%Y}" if expiry else read.expiry_date
    try:
        stated = date.fromisoformat(declared.vigencia)
    except ValueError:
        return FieldVerdict("vigencia", label, shown, "", NO_APLICA, "No se registró una fecha de vigencia.")
    if expiry is None:
        return FieldVerdict("vigencia", label, shown, f"{stated:%d/%m/%Y}", NO_COINCIDE)
    if read.is_ine:
        same, detail = expiry.year == stated.year, "La credencial indica solo el año de vigencia."
    else:
        same, detail = expiry == stated, ""
    return FieldVerdict("vigencia", label, shown, f"{stated:%d/%m/%Y}", COINCIDE if same else NO_COINCIDE, detail)


def _number(read: MrzRead, declared: Declared) -> FieldVerdict:
    label = dict(_FIELDS)["numero"]
    wanted = "".join(ch for ch in declared.pasaporte.upper() if ch.isalnum())
    if read.is_ine or not wanted:
        return FieldVerdict("numero", label, read.document_number, "", NO_APLICA)
    return FieldVerdict("numero", label, read.document_number, declared.pasaporte,
                        COINCIDE if wanted == read.document_number else NO_COINCIDE)


def _nationality(read: MrzRead, declared: Declared) -> FieldVerdict:
    label = dict(_FIELDS)["nacionalidad"]
    codes = mrz_codes(declared.pais)
    if not codes:
        return FieldVerdict("nacionalidad", label, read.nationality, "", NO_APLICA)
    return FieldVerdict("nacionalidad", label, read.nationality, f"{codes[0]} (país registrado)",
                        COINCIDE if read.nationality in {c.replace("<", "") for c in codes} else NO_COINCIDE)


# --- dates --------------------------------------------------------------------------------------
def _date(yymmdd: str, century: int) -> date | None:
    try:
        return date(century + int(yymmdd[:2]), int(yymmdd[2:4]), int(yymmdd[4:6]))
    except ValueError:
        return None


def _curp_century(curp: str) -> int:
    """RENAPO's 17th character: a digit for people born before 2000, a letter from 2000 on."""
    if len(curp) != 18:
        return 0
    return 1900 if curp[16].isdigit() else 2000


def _birth_century(yymmdd: str) -> int:
    """Without a CURP: a birth year cannot be in the future."""
    return 2000 if int(yymmdd[:2]) <= date.today().year % 100 else 1900


def _expiry_date(read: MrzRead) -> date | None:
    return _date(read.expiry_date, 2000)
