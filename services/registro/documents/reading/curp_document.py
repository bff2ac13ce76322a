"""The CURP printed in RENAPO's CURP document, read from the PDF's text (registro.filecheck's
bounded parse extracts it), against the CURP the applicant registered.

The document states the CURP as text (and again in its QR). Any 18-character run of the CURP's
shape that passes python-stdnum's checks (structure, date, check digit; plus the X sex marker, see
domain/identifiers.py) counts as read; one that fails is not reported: a CURP with a wrong check
digit is a misread or a forgery, not a value.
"""
from __future__ import annotations

import re

from stdnum.exceptions import ValidationError

from registro.domain.identifiers import stdnum_validate_curp
from registro.documents.reading.compare import COINCIDE, NO_COINCIDE, NO_LEIDO, REASON_MISMATCH, Comparison, FieldVerdict

_CANDIDATE = re.compile(r"(?<![A-Z0-9])[A-Z]{4}\d{6}[HMX][A-Z]{5}[A-Z0-9]\d(?![A-Z0-9])")
_LABEL = "CURP"


def curps_in_text(text: str | None) -> list[str]:
    """Valid CURPs in the text, in order of appearance, each once."""
    found: list[str] = []
    for match in _CANDIDATE.finditer((text or "").upper()):
        try:
            curp = stdnum_validate_curp(match.group())
        except ValidationError:
            continue
        if curp not in found:
            found.append(curp)
    return found


def compare_curp_document(text: str | None, declared_curp: str) -> Comparison:
    """One field: the CURP read (✔ when it is the registered one) or "no se pudo leer" (a scan
    without text, or no valid CURP in it)."""
    found = curps_in_text(text)
    declared = (declared_curp or "").upper()
    if not found:
        why = ("El PDF no contiene texto (probablemente es una imagen escaneada)." if not (text or "").strip()
               else "El texto del PDF no contiene una CURP válida.")
        return Comparison(fields=(FieldVerdict("curp", _LABEL, "", declared, NO_LEIDO, why),), reasons=(), read=False)
    if declared in found:
        return Comparison(fields=(FieldVerdict("curp", _LABEL, declared, declared, COINCIDE),), reasons=(), read=True)
    return Comparison(fields=(FieldVerdict("curp", _LABEL, found[0], declared, NO_COINCIDE,
                                           "El documento muestra otra CURP." if len(found) == 1 else
                                           f"El documento muestra {len(found)} CURP distintas de la registrada."),),
                      reasons=(REASON_MISMATCH,), read=True)
