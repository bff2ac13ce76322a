"""The single source of the user types of SPEC §2 and of the application statuses.

Each user type is a realm role (its slug) and a group that carries exactly that role
(`group_of`): an account is created straight into its type's group, so the role comes with the
create call and its token carries it like a direct one (realm_access.roles holds group roles).

The realm file (roles, groups, user-profile options) is checked against this module by
`python -m keycloak_ext check` and by the tests, so the two cannot drift apart.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class UserType:
    slug: str  # realm role name and value of the `tipo_usuario` attribute
    label: str  # what the applicant reads


USER_TYPES: tuple[UserType, ...] = (
    UserType("agente_aduanal", "Agente Aduanal"),
    UserType("apoderado_aduanal", "Apoderado Aduanal"),
    UserType("representante_legal_acreditado", "Representante Legal Acreditado"),
    UserType("mandatario", "Mandatario"),
    UserType("dependiente", "Dependiente"),
    UserType("auxiliar_representante_legal_acreditado", "Auxiliar de Representante Legal Acreditado"),
    UserType("apoderado_almacen_general_deposito", "Apoderado de Almacén General de Depósito"),
    UserType("apoyo_servicio", "Apoyo y Servicio"),
    UserType("apoyo_servicio_almacenes_carga", "Apoyo y Servicio en Almacenes y Carga"),
    UserType("prestadores_servicios", "Prestadores de Servicios"),
    UserType("transportista", "Transportista"),
)

USER_TYPE_SLUGS: frozenset[str] = frozenset(t.slug for t in USER_TYPES)
USER_TYPE_LABELS: dict[str, str] = {t.slug: t.label for t in USER_TYPES}

REVIEWER_ROLE = "revisor"
SUPERVISOR_ROLE = "supervisor"  # the review supervisor's figures (/supervision); not a reviewer by itself
# Carried by both console roles (composites): the browser flow's second factor is asked of whoever holds it,
# so a supervisor-only account gets it too (Keycloak's role condition checks one role, composites included).
CONSOLE_STAFF_ROLE = "personal_validacion"

# SPEC §9, in the order an application moves through them.
STATUSES: tuple[str, ...] = (
    "pendiente_correo",
    "pendiente_documentos",
    "en_revision",
    "requiere_correccion",
    "aprobado",
    "rechazado",
)


def label_of(slug: str) -> str:
    return USER_TYPE_LABELS[slug]


USER_TYPE_GROUP_PREFIX = "tipo-"


def group_of(slug: str) -> str:
    """The name of the top-level group whose members hold the user type `slug` (the one naming rule)."""
    if slug not in USER_TYPE_SLUGS:
        raise ValueError(f"tipo de usuario desconocido: {slug}")
    return USER_TYPE_GROUP_PREFIX + slug


def group_path_of(slug: str) -> str:
    """The group's path, as Keycloak's user create (`"groups": [...]`) names groups."""
    return "/" + group_of(slug)
