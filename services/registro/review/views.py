"""The review console ("Validación de usuarios", SPEC §7), under /revision: the queue, search,
"Siguiente solicitud", one application's detail, claims and decisions, and the emails that kept
failing (the outbox's `fallido` rows: listed on the queue page and on their application's detail,
each with "Reenviar correo").

Login, logout and the server-side session are in review/console_auth.py. Every state change is a POST with a CSRF token;
decisions also need the reviewer's lease. Documents are streamed by this service after the role
check, never linked from the bucket.
"""
from __future__ import annotations

import logging
import re
import time

from flask import (Blueprint, Response, abort, flash, redirect, render_template, request,
                   url_for)

from keycloak_ext import AccountNotFound
from keycloak_ext.catalog import USER_TYPE_LABELS, USER_TYPES

from registro.container import adapters, settings
from registro.domain import checks as checks_mod
from registro.domain import status as st
from registro.domain.documents import (CORRECTION_REASONS, DOCUMENT_LABELS, ID_KIND_LABELS, required_documents)
from registro.review.forms import REASON_FIELDS, ActionForm, ApproveForm, CorrectionForm, RejectForm
from registro.review.leases import LeaseHeld, Reviewer
from registro.review.service import (QueueFilters, ReviewRefused, ReviewService, documents_digest,
                               round_id)
from registro.observability import metrics
from registro.review.console_auth import console_headers, console_user, local_time, reviewer_required
from registro.web.errors import error_page

log = logging.getLogger(__name__)

bp = Blueprint("review", __name__, url_prefix="/revision")
bp.after_request(console_headers)

_ACCOUNT_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@bp.errorhandler(AccountNotFound)
def _no_account(exc: AccountNotFound):
    return error_page(404, "La solicitud no existe o fue eliminada.")


def _service() -> ReviewService:
    a = adapters()
    return ReviewService(a.identity, a.storage, a.outbox, settings(), a.queue_index, a.page_views,
                         applications=a.applications, leases=a.review_leases, decisions=a.decisions, audit=a.audit)


def _hour(timestamp: float) -> str:
    """HH:MM in Mexico City, for "reservada hasta las …"."""
    return local_time(timestamp)[-5:]


def _valid_id(account_id: str) -> str:
    if not _ACCOUNT_ID.match(account_id):
        abort(404)
    return account_id


# --- queue ------------------------------------------------------------------------------------
SEARCH_MAX_CHARS = 120


def _filters(args) -> QueueFilters:
    tipo = args.get("tipo", "")
    extranjero = args.get("extranjero", "")
    reserva = args.get("reserva", "")
    try:
        page = int(args.get("pagina", "1"))
    except ValueError:
        page = 1
    return QueueFilters(tipo=tipo if tipo in USER_TYPE_LABELS else "",
                        extranjero=extranjero if extranjero in ("si", "no") else "",
                        reserva=reserva if reserva in ("reservadas", "libres") else "", page=page)


@bp.get("/")
@reviewer_required
def queue(reviewer: Reviewer):
    filters = _filters(request.args)
    service = _service()
    page = service.queue(filters)
    search = (request.args.get("q") or "").strip()[:SEARCH_MAX_CHARS]
    found = service.search(search) if search else None
    return render_template("revision/cola.html", pagina=page, filtros=filters, tipos=USER_TYPES,
                           revisor=console_user(), etiquetas_tipo=USER_TYPE_LABELS, ahora=time.time(),
                           form=ActionForm(), busqueda=search, encontradas=found,
                           correos_fallidos=service.failed_emails(), tipos_correo=EMAIL_KINDS)


@bp.post("/siguiente")
@reviewer_required
def next_application(reviewer: Reviewer):
    """"Siguiente solicitud": claims the oldest free application matching the reviewer's filters
    and opens it. The filters travel in the form, so the button keeps them."""
    filters = _filters(request.form)
    lease = _service().next(filters, reviewer)
    if lease is None:
        flash("No hay solicitudes libres que coincidan con el filtro.", "error")
        return redirect(url_for("review.queue", tipo=filters.tipo, extranjero=filters.extranjero), 303)
    flash(f"Reservó la solicitud hasta las {_hour(lease.expires_at)}.", "exito")
    return redirect(url_for("review.detail", account_id=lease.account_id), 303)


# --- detail -----------------------------------------------------------------------------------
def _render_detail(reviewer: Reviewer, account_id: str, status: int = 200, correction: CorrectionForm | None = None,
                   reject: RejectForm | None = None):
    service = _service()
    try:
        detail = service.detail(account_id)
    except AccountNotFound:
        abort(404)
    app = detail.app
    required = required_documents(app.es_extranjero)
    kinds = tuple(k for k in required if k in app.documents) or required
    hidden = {"ronda": round_id(app), "documentos": documents_digest(app)}
    approve = ApproveForm(data=hidden)
    correction = correction or CorrectionForm(data=hidden)
    reject = reject or RejectForm(data=hidden)
    for form in (correction, reject):
        form.ronda.data, form.documentos.data = hidden["ronda"], hidden["documentos"]
    body = render_template(
        "revision/detalle.html", d=detail, app=app, cuenta=app.account, revisor=console_user(),
        reviewer=reviewer, lease=detail.lease, mine=bool(detail.lease and detail.lease.holder_id == reviewer.id),
        en_revision=app.status == st.EN_REVISION, estatus=st.LABELS.get(app.status, app.status),
        tipo=USER_TYPE_LABELS.get(app.tipo_usuario, app.tipo_usuario or "—"), etiquetas_doc=DOCUMENT_LABELS,
        tipos_id=ID_KIND_LABELS, resultados=checks_mod.LABELS, motivos=CORRECTION_REASONS,
        campos_motivo=REASON_FIELDS, kinds=kinds, approve=approve, correction=correction, reject=reject,
        action=ActionForm(), credentials_mode=settings().credentials_mode,
        correos_fallidos=service.failed_emails(app.id), tipos_correo=EMAIL_KINDS)
    return body, status


@bp.get("/<account_id>")
@reviewer_required
def detail(reviewer: Reviewer, account_id: str):
    return _render_detail(reviewer, _valid_id(account_id))


def _application_or_404(account_id: str):
    try:
        return _service().application(_valid_id(account_id))
    except AccountNotFound:
        abort(404)


# --- claims -----------------------------------------------------------------------------------
@bp.post("/<account_id>/reservar")
@reviewer_required
def claim(reviewer: Reviewer, account_id: str):
    try:
        lease = _service().claim(_valid_id(account_id), reviewer)
        flash(f"Reservó la solicitud hasta las {_hour(lease.expires_at)}.", "exito")
    except LeaseHeld as held:
        flash(f"La solicitud está reservada por {held.lease.holder_username} hasta las "
              f"{_hour(held.lease.expires_at)}.", "error")
    except ReviewRefused as refused:
        flash(refused.message, "error")
    except AccountNotFound:
        abort(404)
    return redirect(url_for("review.detail", account_id=account_id), 303)


@bp.post("/<account_id>/liberar")
@reviewer_required
def release(reviewer: Reviewer, account_id: str):
    if _service().release(_valid_id(account_id), reviewer):
        flash("Liberó la solicitud; otro revisor puede tomarla.", "exito")
    else:
        flash("No tenía reservada esta solicitud.", "error")
    return redirect(url_for("review.queue"), 303)


# --- decisions --------------------------------------------------------------------------------
# The email leaves through the outbox: sent at once, retried on its own while the mail service is down.
_DONE = {
    "aprobar": "Solicitud aprobada. El correo de aprobación al solicitante quedó en la cola de envío.",
    "corregir": "Se solicitó la corrección. El correo con los motivos y un enlace nuevo al solicitante quedó en "
                "la cola de envío.",
    "rechazar": "Solicitud rechazada. El correo al solicitante quedó en la cola de envío.",
}
_ALREADY = "Esta decisión ya estaba registrada; no se repitió ni se envió otro correo."
# The outbox's kinds, as the console names them (review/decision_emails.py, recovery.py, registration).
EMAIL_KINDS = {
    "confirmacion": "Confirmación de registro",
    "enlace_estado": "Enlace para consultar la solicitud",
    "recuperacion": "Recuperación de contraseña",
    "aprobacion": "Aprobación",
    "aprobacion_enlace": "Aprobación: enlace para crear la contraseña",
    "correccion": "Solicitud de corrección",
    "rechazo": "Rechazo",
}


def _decided(account_id: str, outcome) -> Response:
    if outcome.already_decided:
        flash(_ALREADY, "exito")
    else:
        metrics.count("decisions", outcome.decision)
        flash(_DONE[outcome.decision], "exito")
    return redirect(url_for("review.detail", account_id=account_id), 303)


def _refused(reviewer: Reviewer, account_id: str, refused: ReviewRefused, **forms):
    flash(refused.message, "error")
    if refused.status == 400:
        return _render_detail(reviewer, account_id, 400, **forms)
    return redirect(url_for("review.detail", account_id=account_id), 303)


@bp.post("/<account_id>/aprobar")
@reviewer_required
def approve(reviewer: Reviewer, account_id: str):
    form = ApproveForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        outcome = _service().approve(_valid_id(account_id), reviewer, round_seen=form.ronda.data,
                                     digest_seen=form.documentos.data)
    except ReviewRefused as refused:
        return _refused(reviewer, account_id, refused)
    return _decided(account_id, outcome)


@bp.post("/<account_id>/corregir")
@reviewer_required
def request_correction(reviewer: Reviewer, account_id: str):
    service = _service()
    app = _application_or_404(account_id)
    kinds = required_documents(app.es_extranjero)
    form = CorrectionForm()
    if not form.validate_on_submit() or not form.check_reasons(kinds):
        flash("Revise los motivos de corrección.", "error")
        return _render_detail(reviewer, account_id, 400, correction=form)
    try:
        outcome = service.request_correction(account_id, reviewer, round_seen=form.ronda.data,
                                             digest_seen=form.documentos.data, reasons=form.reasons(kinds),
                                             comment=form.comentario.data or "")
    except ReviewRefused as refused:
        return _refused(reviewer, account_id, refused, correction=form)
    return _decided(account_id, outcome)


@bp.post("/<account_id>/rechazar")
@reviewer_required
def reject(reviewer: Reviewer, account_id: str):
    form = RejectForm()
    if not form.validate_on_submit():
        flash("Indique el motivo del rechazo.", "error")
        return _render_detail(reviewer, _valid_id(account_id), 400, reject=form)
    try:
        outcome = _service().reject(_valid_id(account_id), reviewer, round_seen=form.ronda.data,
                                    digest_seen=form.documentos.data, reason=form.motivo.data)
    except ReviewRefused as refused:
        return _refused(reviewer, account_id, refused, reject=form)
    return _decided(account_id, outcome)


# --- emails that kept failing ------------------------------------------------------------------
@bp.post("/correos/<int:email_id>/reenviar")
@reviewer_required
def retry_email(reviewer: Reviewer, email_id: int):
    """Queues a `fallido` email again. Back to the application's detail when it came from there."""
    if _service().retry_email(email_id, reviewer):
        flash("El correo volvió a la cola de envío; se enviará en unos momentos.", "exito")
    else:
        flash("Ese correo ya no está entre los que fallaron (otro revisor lo reenvió o ya se envió).", "error")
    back = request.form.get("solicitud", "")
    if _ACCOUNT_ID.match(back):
        return redirect(url_for("review.detail", account_id=back), 303)
    return redirect(url_for("review.queue"), 303)
