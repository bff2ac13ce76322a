"""The application status model of SPEC §9 and its allowed transitions."""
from __future__ import annotations

from keycloak_ext.catalog import STATUSES

PENDIENTE_CORREO = "pendiente_correo"
PENDIENTE_DOCUMENTOS = "pendiente_documentos"
EN_REVISION = "en_revision"
REQUIERE_CORRECCION = "requiere_correccion"
APROBADO = "aprobado"
RECHAZADO = "rechazado"

assert (PENDIENTE_CORREO, PENDIENTE_DOCUMENTOS, EN_REVISION, REQUIERE_CORRECCION, APROBADO, RECHAZADO) == STATUSES

TRANSITIONS: dict[str, frozenset[str]] = {
    PENDIENTE_CORREO: frozenset({PENDIENTE_DOCUMENTOS}),
    PENDIENTE_DOCUMENTOS: frozenset({EN_REVISION}),
    EN_REVISION: frozenset({APROBADO, REQUIERE_CORRECCION, RECHAZADO}),
    REQUIERE_CORRECCION: frozenset({EN_REVISION}),
    APROBADO: frozenset(),
    RECHAZADO: frozenset(),
}

# An application is "open" while the applicant can still act on it through the link.
OPEN = frozenset({PENDIENTE_CORREO, PENDIENTE_DOCUMENTOS, EN_REVISION, REQUIERE_CORRECCION})
# Statuses in which the applicant may upload or replace documents.
UPLOADABLE = frozenset({PENDIENTE_DOCUMENTOS, REQUIERE_CORRECCION})

LABELS = {
    PENDIENTE_CORREO: "Pendiente de confirmar correo",
    PENDIENTE_DOCUMENTOS: "Pendiente de documentos",
    EN_REVISION: "En revisión",
    REQUIERE_CORRECCION: "Requiere corrección",
    APROBADO: "Aprobado",
    RECHAZADO: "Rechazado",
}


class TransitionNotAllowed(Exception):
    def __init__(self, current: str, target: str) -> None:
        super().__init__(f"{current} → {target} no está permitido")
        self.current, self.target = current, target


def check_transition(current: str, target: str) -> None:
    if target not in TRANSITIONS.get(current, frozenset()):
        raise TransitionNotAllowed(current, target)
