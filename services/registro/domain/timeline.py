"""What "Consultar mi solicitud" shows: the application's timeline and the applicant's next step.

Built from the account's attributes and the audit trail, in Spanish (the reference text; the page
translates each line). It never carries a document, a reviewer's name or anything a reviewer wrote
for other reviewers: only what the applicant was already told by email (correction reasons and
comment, rejection reason).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Iterable

from registro.domain import status
from registro.domain.application import Application
from registro.domain.documents import CORRECTION_REASONS, DOCUMENT_LABELS

REGISTERED = "Solicitud registrada"
EMAIL_CONFIRMED = "Correo electrónico confirmado"
SUBMITTED = "Documentos enviados a validación"
IN_REVIEW = "En revisión desde"
CORRECTION = "Corrección solicitada"
APPROVED = "Solicitud aprobada"
REJECTED = "Solicitud rechazada"

NEXT_STEPS = {
    status.PENDIENTE_CORREO: "Abra el enlace del correo de confirmación que le enviamos para confirmar su correo "
                             "electrónico. Si no lo encuentra, revise su carpeta de correo no deseado.",
    status.PENDIENTE_DOCUMENTOS: "Cargue sus documentos desde el enlace del correo de confirmación y presione "
                                 "«Enviar a validación».",
    status.EN_REVISION: "No tiene que hacer nada por ahora: la ANAM está revisando sus documentos y le enviará el "
                        "resultado por correo electrónico.",
    status.REQUIERE_CORRECCION: "Corrija los documentos señalados desde el enlace del correo que le enviamos y "
                                "presione «Enviar a validación».",
    status.APROBADO: "Ingrese con el usuario y la contraseña que recibió por correo electrónico.",
    status.RECHAZADO: "Su solicitud concluyó. Si desea intentarlo de nuevo, puede registrarse otra vez.",
}

# Audit actions the applicant may see (the reviewer's claims and releases are internal).
_CORRECTION_ACTION = "solicitar_correccion"
_DECISIONS = {"aprobar": APPROVED, "rechazar": REJECTED}


@dataclass(frozen=True)
class Step:
    title: str  # Spanish reference text
    at: str = ""  # ISO-8601 UTC, "" when unknown
    details: tuple[str, ...] = ()  # Spanish reference texts (reasons)
    document_reasons: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (document label, reasons)
    comment: str = ""  # what the reviewer wrote to the applicant (already emailed)
    current: bool = False


@dataclass(frozen=True)
class Timeline:
    status: str
    steps: tuple[Step, ...]
    next_step: str
    folio: str = ""
    extra: dict = field(default_factory=dict)


def _reason_labels(codes: Iterable[str]) -> tuple[str, ...]:
    return tuple(CORRECTION_REASONS.get(c, c) for c in codes)


def _document_reasons(reasons: dict) -> tuple[tuple[str, tuple[str, ...]], ...]:
    docs = reasons.get("documentos", reasons) if isinstance(reasons, dict) else {}
    return tuple((DOCUMENT_LABELS.get(kind, kind), _reason_labels(codes if isinstance(codes, list) else []))
                 for kind, codes in sorted(docs.items()) if isinstance(codes, list))


def build(application: Application, events: Iterable) -> Timeline:
    """`events`: the application's audit events (kernel.audit.AuditEvent), oldest first."""
    current = application.status
    attr = application.account.attr
    steps: list[Step] = [Step(REGISTERED, attr("fecha_registro"))]
    if current != status.PENDIENTE_CORREO:
        steps.append(Step(EMAIL_CONFIRMED, attr("fecha_confirmacion")))
    for event in events:
        if event.action == _CORRECTION_ACTION:
            steps.append(Step(CORRECTION, event.at, document_reasons=_document_reasons(event.reasons),
                              comment=event.comment))
        elif event.action in _DECISIONS:
            reason = ""
            if event.action == "rechazar":
                reason = str(event.reasons.get("motivo", "") or event.comment or "")
            steps.append(Step(_DECISIONS[event.action], event.at, details=(reason,) if reason else ()))
    submitted = attr("fecha_envio")
    if submitted:
        steps.append(Step(SUBMITTED, submitted))
    # In time order; a step without a time (older records) keeps the time of the one before it.
    keyed, last = [], ""
    for index, step in enumerate(steps):
        last = step.at or last
        keyed.append((last, index, step))
    steps = [step for _, _, step in sorted(keyed)]
    if current == status.EN_REVISION and submitted:
        steps.append(Step(IN_REVIEW, submitted))
    if current == status.REQUIERE_CORRECCION and not any(s.title == CORRECTION for s in steps):
        pending = application.correction
        steps.append(Step(CORRECTION, str(pending.get("fecha", "")), document_reasons=_document_reasons(pending),
                          comment=str(pending.get("comentario", ""))))
    if current in (status.APROBADO, status.RECHAZADO) and not any(s.title in _DECISIONS.values() for s in steps):
        decision = application.decision
        reason = str(decision.get("motivo", "")) if current == status.RECHAZADO else ""
        steps.append(Step(APPROVED if current == status.APROBADO else REJECTED, str(decision.get("fecha", "")),
                          details=(reason,) if reason else ()))
    marked = [*steps[:-1], replace(steps[-1], current=True)] if steps else []
    return Timeline(status=current, steps=tuple(marked), next_step=NEXT_STEPS.get(current, ""),
                    folio=application.folio)
