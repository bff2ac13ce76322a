"""The phone as a camera (issue 23; rules in documents/phone_links.py).

Desktop, under the personal link:
  POST /activacion/<token>/movil            a new link: the page shows its QR and short code
  POST /activacion/<token>/movil/cancelar   "Desconectar el teléfono"
  GET  /activacion/<token>/movil/estado     what the page polls: when the phone last uploaded (current link only)
Phone:
  GET  /movil/<token> → POST (opening the link uses it: a GET never does, so no link preview or
                       prefetch spends it), or GET /movil and the code typed (rate-limited)
  GET  /movil/documentos, POST /movil/documentos/<kind>   the uploads, with the camera as file input
The phone's session is a cookie limited to /movil; every request re-reads the application.
"""
from __future__ import annotations

import logging
from functools import partial

from flask import Blueprint, Response, flash, jsonify, redirect, render_template, request, url_for
from keycloak_ext import AccountNotFound
from werkzeug.exceptions import NotFound

from registro import i18n
from registro.container import adapters, settings
from registro.domain import documents as docs
from registro.domain import status
from registro.domain.application import Application
from registro.extensions import csrf, limiter
from registro.web.form_base import Form
from registro.documents.forms import CEDULA_CONFIRM_LABEL, FILE_FIELD, upload_form_for
from registro.documents import service as documents_flow
from registro.documents import phone_links as links
from registro.kernel.links import LinkExpired, LinkInvalid, LinkSuperseded
from registro.documents.activation import ApplicationClosed, ApplicationGone, open_application
from registro.kernel.record_lock import ApplicationBusy
from registro.documents import views as activation
from registro.documents.uploads import FileTooLarge, read_upload_form

bp = Blueprint("phone", __name__)
log = logging.getLogger(__name__)

COOKIE = "movil"
CODE_LIMITS = "10 per minute;40 per hour"  # 40 bits of code: guessing one by trying is out of reach
ENDED = "El enlace para el teléfono ya no es válido: se usó, venció o la solicitud ya fue enviada. " \
        "Genere otro desde la página de activación en la computadora."
WRONG_CODE = "El código no es válido o ya se usó. Revise el código que muestra la computadora."


# The desktop's routes live under the personal link: its failures answer as the activation page's do.
for _failure, _handler in ((LinkExpired, activation.link_expired), (LinkSuperseded, activation.link_superseded),
                           (LinkInvalid, activation.link_invalid), (ApplicationGone, activation.application_gone),
                           (ApplicationClosed, activation.application_closed),
                           (ApplicationBusy, activation.application_busy)):
    bp.register_error_handler(_failure, _handler)


def _store() -> links.PhoneLinkStore:
    store = adapters().phone_links
    if store is None:
        raise NotFound()
    return store


def _key() -> str:
    return settings().secret_key


# --- desktop ----------------------------------------------------------------------------------------
@bp.post("/activacion/<token>/movil")
def create(token: str):
    store = _store()
    application = open_application(adapters().identity, settings(), token)
    if application.status not in status.UPLOADABLE:
        return activation._render(application, token, notice=ENDED, status_code=409)
    new = links.new_link(store, _key(), application.id, application.account.attr("enlace_version") or "")
    log.info("enlace para teléfono creado: solicitud=%s", application.id)
    return activation._render(application, token, phone=new)


@bp.post("/activacion/<token>/movil/cancelar")
def cancel(token: str):
    store = _store()
    application = open_application(adapters().identity, settings(), token)
    store.revoke(application.id, links.utcnow())
    flash("Se desconectó el teléfono.", "exito")
    return redirect(url_for("activation.page", token=token, _anchor="movil"), 303)


@bp.get("/activacion/<token>/movil/estado")
def state(token: str):
    """When the phone last uploaded (ISO), "" when it has not — told only under the current link of an
    open application (one indexed read of the record, no Keycloak call): a replaced, expired or closed
    link gets 410 and `activo: false`, on which the page's script stops polling."""
    store = _store()
    try:
        application = open_application(adapters().identity, settings(), token)
    except (LinkExpired, LinkSuperseded, ApplicationClosed, ApplicationGone):
        return jsonify(activo=False, subida=""), 410
    current = store.current(application.id, links.utcnow())
    return jsonify(activo=current is not None,
                   subida=current.uploaded_at.isoformat() if current and current.uploaded_at else "")


# --- phone: opening the link -----------------------------------------------------------------------------
def _private(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


# The desktop's routes carry the personal link in their path, and one draws the activation page: its headers.
bp.after_request(lambda response: _private(response) if request.path.startswith("/movil")
                 else activation.private(response))


@bp.get("/movil")
def entry():
    return render_template("movil/codigo.html", error=None)


@bp.post("/movil/codigo")
@limiter.limit(CODE_LIMITS)
def enter_code():
    opened = links.redeem(_store(), _key(), code=request.form.get("codigo", ""))
    if opened is None:
        log.info("código de teléfono rechazado")
        return render_template("movil/codigo.html", error=WRONG_CODE), 400
    return _start_session(*opened)


@bp.get("/movil/<token>")
def open_link(token: str):
    """Asks before using the link: opening it is what spends it."""
    return render_template("movil/abrir.html", token=token)


@bp.post("/movil/<token>")
def use_link(token: str):
    opened = links.redeem(_store(), _key(), token=token)
    if opened is None:
        return render_template("movil/cerrado.html", motivo=ENDED), 410
    return _start_session(*opened)


def _start_session(link: links.PhoneLink, session: str):
    log.info("enlace para teléfono abierto: solicitud=%s", link.account_id)
    response = redirect(url_for(".documents"), 303)
    remaining = max(1, int((link.expires_at - links.utcnow()).total_seconds()))
    response.set_cookie(COOKIE, session, max_age=remaining, path="/movil", httponly=True, samesite="Lax",
                        secure=settings().public_url.startswith("https://"))
    return response


# --- phone: the uploads -------------------------------------------------------------------------------------
class _Ended(Exception):
    pass


def _session() -> tuple[links.PhoneLink, Application]:
    """The phone's link and its application, re-read now; _Ended when anything about it no longer holds."""
    store = _store()
    secret = request.cookies.get(COOKIE, "")
    link = store.session(links.session_hash(secret), links.utcnow()) if secret else None
    if link is None:
        raise _Ended()
    try:
        application = Application(adapters().identity.get_account(link.account_id))
    except AccountNotFound:
        raise _Ended() from None
    if application.status not in status.UPLOADABLE or \
            (application.account.attr("enlace_version") or "") != link.link_version:
        store.revoke(link.account_id, links.utcnow())  # submitted, decided or its personal link replaced
        raise _Ended()
    i18n.use_locale(application.account.attr("locale"))
    return link, application


@bp.errorhandler(_Ended)
def ended(exc: _Ended):
    response = Response(render_template("movil/cerrado.html", motivo=ENDED), 410)
    response.delete_cookie(COOKIE, path="/movil")
    return response


@bp.get("/movil/documentos")
def documents():
    link, application = _session()
    return _render(link, application)


@bp.post("/movil/documentos/<kind>")
@csrf.exempt  # checked after the body is streamed, as for the activation page's uploads (documents/uploads.py)
def upload(kind: str):
    link, application = _session()
    activation._kind_or_404(application, kind)
    try:
        received = read_upload_form(settings().upload_max_bytes)
    except FileTooLarge:
        return _render(link, application, errors={kind: {FILE_FIELD: [activation.too_large_message()]}},
                       status_code=413)
    refused = activation.store_received(application, kind, received, partial(_render, link, application))
    if refused is not None:
        return refused
    _store().uploaded(link.id, links.utcnow())
    flash(f"Se cargó el documento «{docs.DOCUMENT_LABELS[kind]}».", "exito")
    return redirect(url_for(".documents", _anchor=f"documento-{kind}"), 303)


@bp.post("/movil/documentos/<kind>/conservar")
def keep_photo(kind: str):
    """"Conservar esta foto de todos modos", from the phone that took it (documents/photo_intake.py)."""
    link, application = _session()
    activation._kind_or_404(application, kind)
    return activation.keep_photo_answer(application, kind, partial(_render, link, application),
                                        url_for(".documents", _anchor=f"documento-{kind}"))


def _render(link: links.PhoneLink, application: Application, *, errors: dict | None = None,
            forms: dict[str, Form] | None = None, notice: str | None = None, status_code: int = 200):
    today = documents_flow.today()
    forms, errors = forms or {}, errors or {}
    slots = []
    for kind in docs.required_documents(application.es_extranjero):
        record = application.documents.get(kind)
        slots.append({
            "kind": kind, "label": docs.DOCUMENT_LABELS[kind], "errors": errors.get(kind, {}),
            "may_change": documents_flow.may_change(application, kind),
            "record": activation._record_view(record) if record else None,
            "form": forms.get(kind) or upload_form_for(kind, es_extranjero=application.es_extranjero, today=today),
        })
    first_error = next((f"{slot['kind']}-{field}" for slot in slots for field in slot["errors"]), None)
    body = render_template("movil/documentos.html", solicitud=application, slots=slots, aviso=notice,
                           file_field=FILE_FIELD, cedula_label=CEDULA_CONFIRM_LABEL, primer_error=first_error,
                           vence=documents_flow.local_time(link.expires_at.isoformat())[-5:])
    return body, status_code
