"""The documents an applicant uploads (SPEC §6) and the kinds of official ID accepted."""
from __future__ import annotations

from dataclasses import dataclass

CURP = "curp"
RESPONSIVA = "responsiva_firmada"
IDENTIFICACION = "identificacion"

DOCUMENT_LABELS = {
    CURP: "CURP",
    RESPONSIVA: "Responsiva firmada",
    IDENTIFICACION: "Identificación oficial vigente",
}


def required_documents(es_extranjero: bool) -> tuple[str, ...]:
    """The constancia de CURP is asked of Mexicans only."""
    return (RESPONSIVA, IDENTIFICACION) if es_extranjero else (CURP, RESPONSIVA, IDENTIFICACION)


@dataclass(frozen=True)
class IdKind:
    slug: str
    label: str
    foreigners_only: bool = False


ID_KINDS: tuple[IdKind, ...] = (
    IdKind("ine", "Credencial para votar expedida por el Instituto Nacional Electoral"),
    IdKind("pasaporte", "Pasaporte vigente"),
    IdKind("cedula_profesional", "Cédula profesional vigente con fotografía (no se aceptan cédulas electrónicas)"),
    IdKind("licencia_conducir", "Licencia de conducir"),
    IdKind("documento_migratorio", "Documento migratorio vigente (en su caso, prórroga o refrendo migratorio)",
           foreigners_only=True),
)
ID_KIND_LABELS = {k.slug: k.label for k in ID_KINDS}


def id_kinds_for(es_extranjero: bool) -> tuple[IdKind, ...]:
    return tuple(k for k in ID_KINDS if es_extranjero or not k.foreigners_only)


# Reasons a reviewer can give per document when asking for a correction (SPEC §7).
CORRECTION_REASONS: dict[str, str] = {
    "ilegible": "El documento no es legible.",
    "incompleto": "El documento está incompleto o le faltan páginas.",
    "no_corresponde": "El documento no corresponde al solicitante o al tipo solicitado.",
    "vencido": "El documento no está vigente.",
    "sin_firma": "La responsiva no tiene firma autógrafa.",
    "datos_no_coinciden": "Los datos del documento no coinciden con los registrados.",
    "tipo_no_aceptado": "El tipo de identificación no es aceptado (por ejemplo, cédula profesional electrónica).",
    "otro": "Otro motivo (vea el comentario del revisor).",
}
