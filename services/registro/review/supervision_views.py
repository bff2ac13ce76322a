"""The supervisor's view (/supervision): realm role `supervisor`, logged in through the same OIDC
console login as reviewers (review/console_auth.py). Figures and CSV come from review/supervision.py."""
from __future__ import annotations

import time
from datetime import date, timedelta

from flask import Blueprint, Response, render_template, request

from registro.container import adapters
from registro.kernel.audit import AuditTrail
from registro.documents.service import today
from registro.review.leases import Reviewer
from registro.review.supervision import DECISION_LABELS, MAX_RANGE_DAYS, decisions_between, decisions_csv, summarize
from registro.review.console_auth import console_headers, console_user, supervisor_required

bp = Blueprint("supervision", __name__, url_prefix="/supervision")
bp.after_request(console_headers)

DEFAULT_DAYS = 7


def _range() -> tuple[date, date, str]:
    """The date range asked for (desde/hasta, aaaa-mm-dd), or the last week; an error text when invalid."""
    last = today()  # Mexico City's calendar day
    default = (last - timedelta(days=DEFAULT_DAYS - 1), last)
    start, end = default
    error = ""
    try:
        if request.args.get("desde"):
            start = date.fromisoformat(request.args["desde"])
        if request.args.get("hasta"):
            end = date.fromisoformat(request.args["hasta"])
    except ValueError:
        error = "Escriba las fechas como aaaa-mm-dd."
        start, end = default
    if end < start:
        error = "La fecha final es anterior a la inicial."
        start, end = end, start
    if (end - start).days >= MAX_RANGE_DAYS:
        error = f"El periodo máximo es de {MAX_RANGE_DAYS} días."
        start = end - timedelta(days=MAX_RANGE_DAYS - 1)
    return start, end, error


@bp.get("/")
@supervisor_required
def summary(supervisor: Reviewer):
    start, end, error = _range()
    a = adapters()
    audit = AuditTrail(a.audit)
    figures = summarize(decisions_between(audit, start, end), a.queue_index, start, end, time.time())
    return render_template("supervision/resumen.html", f=figures, error=error, revisor=console_user(),
                           etiquetas=DECISION_LABELS), 400 if error else 200


@bp.get("/decisiones.csv")
@supervisor_required
def export(supervisor: Reviewer):
    start, end, error = _range()
    if error:
        return Response(error, status=400, mimetype="text/plain")
    body = decisions_csv(decisions_between(AuditTrail(adapters().audit), start, end))
    return Response("\ufeff" + body, mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="decisiones-{start.isoformat()}-a-{end.isoformat()}.csv"'})
