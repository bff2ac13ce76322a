"""What the reviewer's detail page shows of the "Lectura automática" (templates/revision/_lectura.html):
per document, each field read with ✔/✘ against the declared value or "no se pudo leer", and the
correction reasons a mismatch suggests (offered pre-selected in "Solicitar corrección"; the reviewer
decides). A blueprint only for its template globals, as the e.firma feature does."""
from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint

from registro.platform.db import DatabaseUnavailable
from registro.container import adapters
from registro.domain import documents as docs
from registro.documents import readings as flow
from registro.documents.reading.compare import COINCIDE, NO_APLICA, NO_COINCIDE, NO_LEIDO, OUTCOME_LABELS

bp = Blueprint("lectura", __name__)
log = logging.getLogger(__name__)

READ_KINDS = (docs.CURP, docs.IDENTIFICACION)
SYMBOLS = {COINCIDE: "✔", NO_COINCIDE: "✘", NO_LEIDO: "", NO_APLICA: ""}
# States of a document's reading on the page.
LEIDA, NO_LEIDA, EN_CURSO, SIN_LECTURA = "leida", "no_leida", "en_curso", "sin_lectura"


def document_reading(app, kind: str) -> dict[str, Any] | None:
    record = app.documents.get(kind)
    if record is None:
        return None
    view: dict[str, Any] = {"kind": kind, "label": docs.DOCUMENT_LABELS[kind], "fields": [], "reasons": [],
                            "why": ""}
    why = flow.not_readable(kind, record)
    if why is not None:
        return {**view, "state": NO_LEIDA, "why": why}
    readings = adapters().readings
    if readings is None:
        return {**view, "state": SIN_LECTURA, "why": "La lectura automática no está activa en este servicio."}
    try:
        kept = readings.kept(record)
    except DatabaseUnavailable:
        return {**view, "state": SIN_LECTURA, "why": "No fue posible consultar la lectura automática (base de datos)."}
    if kept is None:
        readings.start(app, kind, record)  # a document read before this feature, or a reading lost with its process
        return {**view, "state": EN_CURSO,
                "why": "La lectura automática está en curso. Actualice la página en unos segundos."}
    fields = [{**f, "symbol": SYMBOLS.get(f["outcome"], ""), "outcome_label": OUTCOME_LABELS.get(f["outcome"], "")}
              for f in kept.get("campos", [])]
    reasons = [(code, docs.CORRECTION_REASONS[code]) for code in kept.get("motivos", []) if code in docs.CORRECTION_REASONS]
    state = LEIDA if kept.get("leido") else NO_LEIDA
    return {**view, "state": state, "fields": fields, "reasons": reasons,
            "why": "" if kept.get("leido") or fields else "No se pudo leer el documento."}


@bp.app_template_global("lectura_automatica")
def lectura_automatica(app) -> list[dict[str, Any]]:
    """The reading of each of the application's documents that the machine reads."""
    found = []
    for kind in READ_KINDS:
        view = document_reading(app, kind)
        if view is not None:
            found.append(view)
    return found


@bp.app_template_global("lectura_sugerencias")
def lectura_sugerencias(lecturas: list[dict[str, Any]]) -> dict[str, list[str]]:
    """The correction reasons each document's reading suggests: pre-selected, never submitted by themselves."""
    return {view["kind"]: [code for code, _ in view["reasons"]] for view in lecturas if view["reasons"]}
