"""Automatic checks a reviewer sees next to an application (SPEC §7). Pure: facts that need the
network (does the generated responsiva exist, the text of the signed one) are passed in.

python-stdnum validates CURP and RFC (structure, date, check digits); what no library does is
derive the four CURP initials from a person's names (RENAPO's rules), so that is written here.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date

from stdnum.exceptions import InvalidChecksum, ValidationError
from stdnum.mx import curp as stdnum_curp
from stdnum.mx import rfc as stdnum_rfc

from registro.domain import responsiva_code
from registro.domain.application import Application
from registro.domain.identifiers import stdnum_validate_curp
from registro.domain.documents import IDENTIFICACION, ID_KIND_LABELS, RESPONSIVA, required_documents, DOCUMENT_LABELS

OK = "ok"
AVISO = "aviso"  # a hint for the reviewer, not a block
ERROR = "error"
NO_APLICA = "no_aplica"

LABELS = {OK: "Correcto", AVISO: "Revisar", ERROR: "No coincide", NO_APLICA: "No aplica"}


@dataclass(frozen=True)
class Check:
    name: str
    outcome: str
    detail: str

    @property
    def label(self) -> str:
        return LABELS[self.outcome]


@dataclass(frozen=True)
class ResponsivaFacts:
    generated_exists: bool  # the responsiva PDF the service generated is in the bucket
    codes: tuple[str, ...] = ()  # codes of ours read from the signed responsiva (domain/responsiva_code.py)
    expected_code: str = ""  # the code this application's responsiva carries
    codes_searched: bool = False  # False when the signed responsiva could not be looked at (yet)


def fold(text: str) -> str:
    """Upper case without accents; Ñ becomes X as in RENAPO's keys. Ü loses its dieresis."""
    text = (text or "").upper().replace("Ñ", "X")
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


# RENAPO: particles that are skipped when taking initials, and given names skipped when a
# compound name starts with them.
_PARTICLES = {"DA", "DAS", "DE", "DEL", "DER", "DI", "DIE", "DD", "EL", "LA", "LOS", "LAS", "LE", "LES", "MAC", "MC",
              "VAN", "VON", "Y"}
_SKIPPED_GIVEN = {"MARIA", "MA", "MA.", "M", "M.", "JOSE", "J", "J."}
_VOWELS = "AEIOU"


def _words(text: str) -> list[str]:
    return [w for w in re.split(r"[\s\-']+", fold(text).replace(".", ". ").strip()) if w]


def _meaningful(words: list[str]) -> list[str]:
    kept = [w for w in words if w.rstrip(".") not in _PARTICLES]
    return kept or words


def expected_curp_initials(first_name: str, last_name: str) -> str | None:
    """The first four characters a CURP should carry for these names ("Apellidos" holds both
    surnames, the first one first). None when the names are too short to say."""
    surnames = _meaningful(_words(last_name))
    given = _words(first_name)
    if len(given) > 1 and given[0] in _SKIPPED_GIVEN:
        given = given[1:]
    given = _meaningful(given)
    if not surnames or not given:
        return None
    first = surnames[0].rstrip(".")
    inner_vowel = next((c for c in first[1:] if c in _VOWELS), "X")
    second = surnames[1][0] if len(surnames) > 1 else "X"
    return f"{first[0]}{inner_vowel}{second}{given[0][0]}"


def _check_identifiers(app: Application) -> list[Check]:
    a = app.account
    curp, rfc = a.attr("curp"), a.attr("rfc")
    checks: list[Check] = []
    if not curp and not rfc:
        return [Check("CURP y RFC", NO_APLICA, "El solicitante es extranjero y no registró CURP ni RFC.")]

    curp_date = None
    if curp:
        try:
            stdnum_validate_curp(curp)  # stdnum's rules plus the sex marker X (issue 11, item 9)
            curp_date = stdnum_curp.get_birth_date(curp)
            checks.append(Check("CURP válida", OK, "Estructura, fecha y dígito verificador correctos."))
        except InvalidChecksum:
            checks.append(Check("CURP válida", ERROR, "El dígito verificador de la CURP no es correcto."))
        except ValidationError:
            checks.append(Check("CURP válida", ERROR, "La CURP no tiene una estructura o fecha válida."))

    if rfc:
        try:
            stdnum_rfc.validate(rfc, validate_check_digits=True)
            checks.append(Check("Dígito verificador del RFC", OK, "El dígito verificador del RFC es correcto."))
        except InvalidChecksum:
            confirmed = a.attr("rfc_digito_no_coincide") == "true"
            checks.append(Check("Dígito verificador del RFC", AVISO,
                                "El dígito verificador del RFC no coincide"
                                + (" y el solicitante confirmó que así está en su constancia." if confirmed else ".")
                                + " Compárelo con la constancia de situación fiscal."))
        except ValidationError:
            checks.append(Check("Dígito verificador del RFC", ERROR, "El RFC no tiene una estructura válida."))

    if curp and rfc:
        if curp[4:10] != rfc[4:10]:
            checks.append(Check("Fecha de nacimiento CURP/RFC", ERROR,
                                f"La fecha de la CURP ({curp[4:10]}) y la del RFC ({rfc[4:10]}) no coinciden."))
        else:
            checks.append(Check("Fecha de nacimiento CURP/RFC", OK,
                                "Ambos contienen la misma fecha de nacimiento"
                                + (f" ({curp_date:%d/%m/%Y})." if curp_date else ".")))
        if curp[:10] != rfc[:10]:
            checks.append(Check("Primeros 10 caracteres CURP/RFC", AVISO,
                                f"CURP {curp[:10]} y RFC {rfc[:10]} difieren; normalmente coinciden "
                                "(la diferencia es una pista, no un impedimento)."))
        else:
            checks.append(Check("Primeros 10 caracteres CURP/RFC", OK, "Los primeros 10 caracteres coinciden."))
    return checks


def _check_name(app: Application) -> Check:
    curp = app.account.attr("curp")
    if not curp:
        return Check("Nombre y CURP", NO_APLICA, "Sin CURP registrada.")
    expected = expected_curp_initials(app.account.first_name, app.account.last_name)
    if expected is None:
        return Check("Nombre y CURP", AVISO, "El nombre registrado no basta para calcular las iniciales.")
    actual = curp[:4]
    # RENAPO replaces the second letter with X when the four letters spell an inconvenient word.
    if actual == expected or actual == expected[0] + "X" + expected[2:]:
        return Check("Nombre y CURP", OK, f"Las iniciales de la CURP ({actual}) corresponden al nombre registrado.")
    return Check("Nombre y CURP", AVISO,
                 f"Las iniciales de la CURP ({actual}) no corresponden al nombre registrado "
                 f"(se esperaba {expected}). Compare con la constancia de CURP.")


def _check_id_expiry(app: Application, today: date) -> Check:
    record = app.documents.get(IDENTIFICACION)
    if record is None:
        return Check("Vigencia de la identificación", ERROR, "No se cargó la identificación oficial.")
    kind = ID_KIND_LABELS.get(record.details.get("tipo_identificacion", ""), "tipo no indicado")
    raw = record.details.get("vigencia", "")
    try:
        expires = date.fromisoformat(raw)
    except ValueError:
        return Check("Vigencia de la identificación", AVISO, f"{kind}: no se indicó una fecha de vigencia válida.")
    if expires < today:
        return Check("Vigencia de la identificación", ERROR, f"{kind}: venció el {expires:%d/%m/%Y}.")
    return Check("Vigencia de la identificación", OK, f"{kind}: vigente hasta el {expires:%d/%m/%Y}.")


def _check_responsiva(app: Application, facts: ResponsivaFacts) -> Check:
    """What the QR code printed on the generated responsiva says about the signed one uploaded."""
    name = "Folio de la responsiva"
    folio = app.folio
    if not folio:
        return Check(name, ERROR, "La solicitud no tiene folio de responsiva.")
    if not facts.generated_exists:
        return Check(name, ERROR, f"No se encontró la responsiva generada con folio {folio}.")
    if RESPONSIVA not in app.documents:
        return Check(name, ERROR, "No se cargó la responsiva firmada.")
    if facts.expected_code and facts.expected_code in facts.codes:
        return Check(name, OK, f"Folio verificado: el código de la responsiva firmada corresponde al folio {folio} "
                               "y a los datos registrados del solicitante.")
    ours = [c for c in (responsiva_code.parse(text) for text in facts.codes) if c is not None]
    if ours:
        other = next((c.folio for c in ours if c.folio != folio), None)
        if other:
            return Check(name, ERROR, f"Pertenece a otra solicitud: el código de la responsiva firmada es del folio "
                                      f"{other}, no del {folio}.")
        return Check(name, ERROR, f"Pertenece a otra solicitud: el código tiene el folio {folio} pero no corresponde "
                                  "a los datos registrados del solicitante (la responsiva fue alterada o es de "
                                  "otros datos).")
    why = "" if facts.codes_searched else " (aún no se ha podido analizar el archivo)"
    return Check(name, AVISO, f"No se pudo leer el código de la responsiva firmada{why}: verifique visualmente que "
                              f"muestre el folio {folio} y los datos del solicitante.")


def _check_documents_complete(app: Application) -> Check:
    missing = [DOCUMENT_LABELS[k] for k in required_documents(app.es_extranjero) if k not in app.documents]
    if missing:
        return Check("Documentos completos", ERROR, "Faltan: " + ", ".join(missing) + ".")
    return Check("Documentos completos", OK, "Se cargaron todos los documentos requeridos.")


def _check_postal_code(app: Application) -> Check | None:
    """A hint when the applicant confirmed a CP the catalog (SEPOMEX) does not place in the chosen state: a hint only,
    the catalog can be older than the CP. Recorded at registration (registration/postal_check.py)."""
    if app.es_extranjero:
        return None
    a = app.account
    flag = a.attr("cp_no_coincide")
    if flag == "no_encontrado":
        return Check("Código postal y estado", AVISO, f"El código postal {a.attr('codigo_postal')} no está en el "
                     "catálogo de SEPOMEX; el solicitante confirmó que es correcto.")
    if flag == "otro_estado":
        return Check("Código postal y estado", AVISO, f"Según el catálogo de SEPOMEX, el código postal "
                     f"{a.attr('codigo_postal')} no pertenece a {a.attr('estado')}; el solicitante confirmó que es "
                     "correcto.")
    return None  # the catalog agreed (or the application predates the check): nothing to point out


def run_checks(app: Application, responsiva: ResponsivaFacts, today: date) -> list[Check]:
    postal = _check_postal_code(app)
    return [
        _check_documents_complete(app),
        *_check_identifiers(app),
        *([postal] if postal else []),
        _check_name(app),
        _check_id_expiry(app, today),
        _check_responsiva(app, responsiva),
    ]
