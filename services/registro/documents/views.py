"""The personal link (SPEC §6): `/activacion/<token>` and the actions under it.

Every route re-verifies the token and takes the application id from it alone, so a
link opens its own application and nothing else. Uploads are exempt from the global
CSRF hook (which would parse the body before the size limit applies) and check the
CSRF token themselves after streaming the body (documents/uploads.py). An upload checks the
link's signature and age first; then the application is read from Keycloak in a helper
thread while the body is received (a link refused there still wins over the body's errors).
"""
from __future__ import annotations

import logging
import re
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, flash, jsonify, redirect, render_template, request, url_for
from registro.web.form_base import Form
from werkzeug.exceptions import NotFound

from registro.adapters.qr import qr_svg
from registro.adapters.storage import ObjectMissing
from registro import i18n
from registro.container import adapters, settings
from registro.domain import documents as docs
from registro.domain import status
from registro.domain.application import Application
from registro.domain.filetypes import UnreadableFile
from registro.domain.storage_keys import responsiva_key
from registro.extensions import csrf, limiter
from registro.documents.forms import CEDULA_CONFIRM_LABEL, FILE_FIELD, upload_form_for
from registro.kernel.links import LinkExpired, LinkInvalid, LinkSuperseded
from registro.documents import direct_uploads
from registro.documents import phone_links
from registro.documents import service as documents_flow
from registro.documents import photo_intake
from registro.documents import readings as reading_flow
from registro.documents.activation import (ApplicationClosed, ApplicationGone, confirm_email, open_application,
                                   submit_for_review)
from registro.kernel.confirmation_links import signer
from registro.documents.service import DocumentNotAllowed, SubmissionIncomplete, Upload
from registro.review.page_views import prepare_application
from registro.kernel.record_lock import ApplicationBusy
from registro.platform.db import DatabaseUnavailable
from registro.web.errors import error_page
from registro.web.security_headers import content_security_policy
from registro.documents.uploads import FileTooLarge, read_upload_form, validated_upload

bp = Blueprint("activation", __name__)
log = logging.getLogger(__name__)

RESEND_PATH = "/registro/reenviar"  # served by the registration feature (endpoint registration.resend)
SUBMITTED_MESSAGE = "Sus documentos serán validados y el resultado le será enviado por correo electrónico."


def _limit_label() -> str:
    return documents_flow.human_size(settings().upload_max_bytes).replace(".0 ", " ")


def too_large_message() -> str:
    return f"El archivo excede el tamaño máximo permitido de {_limit_label()}."


def _open(token: str) -> Application:
    return open_application(adapters().identity, settings(), token)


def _after_store():
    """What an accepted upload starts: its "Lectura automática" (documents/readings.py), when this app reads."""
    readings = adapters().readings
    if readings is None:
        return None
    return lambda application, kind, record: reading_flow.after_upload(readings, application, kind, record)


def store_received(application: Application, kind: str, received, render):
    """Checks and stores the document of a received upload form (closed here): the refusal `render` draws
    (called as `_render`'s keywords), or None once stored. Shared with the phone's uploads (documents/phone_views.py)."""
    a = adapters()
    try:
        form, file, errors = validated_upload(kind, application.es_extranjero, received)
        if errors:
            return render(errors={kind: errors}, forms={kind: form}, status_code=400)
        try:
            documents_flow.store_document(
                a.identity, a.storage, application, kind,
                Upload(stream=file.stream, size=file.size, sha256=file.sha256, original_name=file.filename),
                form.details(), after_store=_after_store())
        except UnreadableFile as exc:
            return render(errors={kind: {FILE_FIELD: [exc.message]}}, forms={kind: form}, status_code=400)
        except DocumentNotAllowed as exc:
            return render(notice=exc.message, status_code=409)
    finally:
        received.close()
    return None


def _kind_or_404(application: Application, kind: str) -> str:
    if kind not in docs.required_documents(application.es_extranjero):
        raise NotFound()
    return kind


# --- pages ---------------------------------------------------------------------------------
@bp.get("/activacion/<token>")
def page(token: str):
    a = adapters()
    application = confirm_email(a.identity, _open(token), a.storage)
    return _render(application, token)


@bp.get("/activacion/<token>/responsiva")
def responsiva(token: str):
    application = _open(token)
    try:
        chunks = adapters().storage.open(responsiva_key(application.id, application.folio))
    except ObjectMissing:
        return error_page(404, "La responsiva no está disponible en este momento. Comuníquese con la ANAM.")
    filename = "responsiva-" + (re.sub(r"[^A-Za-z0-9-]", "", application.folio) or "solicitud") + ".pdf"
    return Response(chunks, mimetype="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


# --- actions -------------------------------------------------------------------------------
@bp.post("/activacion/<token>/documentos/<kind>")
@csrf.exempt
def upload(token: str, kind: str):
    s, a = settings(), adapters()
    signer(s).read(token)  # a forged or expired link: refused before a byte of the body is read
    opening = documents_flow.in_background(lambda: open_application(a.identity, s, token))
    try:
        received = read_upload_form(s.upload_max_bytes)
    except FileTooLarge:
        application = opening.result()  # the link's own refusal comes first, then the document's
        refused = _refusal(application, token, kind)
        if refused is not None:
            return refused
        return _render(application, token, errors={kind: {FILE_FIELD: [too_large_message()]}}, status_code=413)
    except BaseException:
        opening.result()
        raise
    try:
        application = opening.result()
        refused = _refusal(application, token, kind)
    except BaseException:
        received.close()
        raise
    if refused is not None:
        received.close()
        return refused
    refused = store_received(application, kind, received, partial(_render, application, token))
    if refused is not None:
        return refused
    flash(f"Se cargó el documento «{docs.DOCUMENT_LABELS[kind]}».", "exito")
    return redirect(url_for(".page", token=token, _anchor=f"documento-{kind}"), 303)


# --- a document sent straight to S3 (documents/direct_uploads.py; static/js/subida.js) --------------------
# The page's script asks for a presigned PUT, sends the file to S3 itself and confirms; the answers are
# JSON for that script. Anything it cannot handle (an error page, a network failure) makes it fall back
# to the form upload above, so the service's own answer is always the last word.
def _direct_upload_key() -> str:
    """Counted per application (the link's account), whichever address or tab asks."""
    try:
        return "subida-directa:" + signer(settings()).read((request.view_args or {}).get("token", "")).account_id
    except Exception:  # noqa: BLE001 - a bad link is refused by the view itself
        return "subida-directa:enlace-no-valido"


@bp.post("/activacion/<token>/documentos/<kind>/directa")
@limiter.limit(lambda: settings().direct_upload_limits, key_func=_direct_upload_key)
def direct_upload(token: str, kind: str):
    s, a = settings(), adapters()
    if not s.s3.public_url:
        raise NotFound()
    claims = signer(s).read(token)
    # The page's grant saves reading Keycloak; without a valid one the application is read as for any action.
    grant = direct_uploads.read_grant(s, request.form.get("permiso", ""), claims.account_id, claims.version, kind)
    if grant is None:
        application = _open(token)
        _kind_or_404(application, kind)
        i18n.use_locale(application.account.attr("locale"))
        try:
            documents_flow.check_may_change(application, kind)
        except DocumentNotAllowed as exc:
            return _json_refusal(notice=exc.message, status_code=409)
        grant = direct_uploads.Grant.of(application, kind, claims.version)
    else:
        i18n.use_locale(grant.locale or None)
    form = upload_form_for(kind, es_extranjero=grant.es_extranjero, today=documents_flow.today(),
                           formdata=request.form)
    errors: dict[str, list[str]] = {} if form.validate() else {k: list(v) for k, v in form.errors.items()}
    errors.pop("csrf_token", None)  # the global CSRF check already refused a bad token
    size = request.form.get("tamano", type=int)
    if size is None:
        errors[FILE_FIELD] = ["Seleccione un archivo."]
    try:
        if errors:
            return _json_refusal(errors=errors)
        put, receipt = direct_uploads.issue(a.storage, s, grant, size, request.form.get("nombre", ""), form.details())
    except UnreadableFile as exc:
        return _json_refusal(errors={FILE_FIELD: [exc.message]})
    except FileTooLarge:
        return _json_refusal(errors={FILE_FIELD: [too_large_message()]}, status_code=413)
    return jsonify(url=put.url, encabezados=put.headers, recibo=receipt,
                   confirmar=url_for(".confirm_direct_upload", token=token, kind=kind))


@bp.post("/activacion/<token>/documentos/<kind>/confirmar")
def confirm_direct_upload(token: str, kind: str):
    """Needs no Keycloak read: the receipt was issued, under a fully checked link, to this application
    within the hour; the check re-reads the application under the edit lock before recording."""
    s, a = settings(), adapters()
    claims = signer(s).read(token)
    if kind not in docs.DOCUMENT_LABELS:
        raise NotFound()
    try:
        receipt = direct_uploads.read_receipt(s, request.form.get("recibo", ""), claims.account_id, kind)
    except direct_uploads.ReceiptInvalid:
        return _json_refusal(notice="La carga expiró o no es válida. Cargue el archivo de nuevo.")
    check = direct_uploads.confirm(a.identity, a.storage, a.upload_markers, s, receipt, after_store=_after_store())
    answer = {"pagina": url_for(".page", token=token, _anchor=f"documento-{kind}"),
              "estado": url_for(".direct_upload_state", token=token, kind=kind,
                                subida=direct_uploads.state_token(s, receipt))}
    # What the marker says, as the page's polling reads it (a replayed receipt: the later upload's state).
    outcome = direct_uploads.outcome_within(check, s.direct_upload_wait_s)
    if outcome == direct_uploads.CHECKING:
        return jsonify(answer), 202  # still being checked: the script polls "estado"
    if outcome == direct_uploads.DONE:  # the script shows the page next: it says so, as after a form upload
        flash(f"Se cargó el documento «{docs.DOCUMENT_LABELS[kind]}».", "exito")
    return jsonify(answer | {"resultado": outcome}), 200


@bp.get("/activacion/<token>/documentos/<kind>/estado")
def direct_upload_state(token: str, kind: str):
    """What the script polls after confirming, until the check of its upload has ended (no Keycloak read:
    `subida` names the upload, the link the application)."""
    claims = signer(settings()).read(token)
    try:
        receipt = direct_uploads.read_state_token(settings(), request.args.get("subida", ""), claims.account_id, kind)
    except direct_uploads.ReceiptInvalid:
        raise NotFound()
    a = adapters()
    state = direct_uploads.state_of(a.upload_markers, receipt,
                                    recorded=lambda: direct_uploads.names_recorded(a.identity, receipt))
    if state == direct_uploads.DONE:  # the script shows the page next: it says so, as after a form upload
        flash(f"Se cargó el documento «{docs.DOCUMENT_LABELS[kind]}».", "exito")
    return jsonify(estado=state)


@bp.get("/activacion/<token>/documentos/estado")
def direct_upload_states(token: str):
    """What the page polls while a document is being checked (the documents still "revisando")."""
    application = _open(token)
    return jsonify(revisando=direct_uploads.checking(adapters().upload_markers, application))


def _json_refusal(*, errors: dict[str, list[str]] | None = None, notice: str = "", status_code: int = 400):
    translate = i18n.translate
    return jsonify(errores={field: [translate(m) for m in messages] for field, messages in (errors or {}).items()},
                   aviso=translate(notice) if notice else ""), status_code


def _refusal(application: Application, token: str, kind: str):
    """The answer when this document cannot be changed now (404 / 409), else None."""
    _kind_or_404(application, kind)
    try:
        documents_flow.check_may_change(application, kind)
    except DocumentNotAllowed as exc:
        return _render(application, token, notice=exc.message, status_code=409)
    return None


@bp.post("/activacion/<token>/documentos/<kind>/eliminar")
def delete(token: str, kind: str):
    a = adapters()
    application = _open(token)
    _kind_or_404(application, kind)
    try:
        documents_flow.remove_document(a.identity, a.storage, application, kind)
    except DocumentNotAllowed as exc:
        return _render(application, token, notice=exc.message, status_code=409)
    flash(f"Se eliminó el documento «{docs.DOCUMENT_LABELS[kind]}».", "exito")
    return redirect(url_for(".page", token=token, _anchor=f"documento-{kind}"), 303)


@bp.post("/activacion/<token>/documentos/<kind>/conservar")
def keep_photo(token: str, kind: str):
    """"Conservar esta foto de todos modos": the photo the quality check warned about stays as it is."""
    application = _open(token)
    _kind_or_404(application, kind)
    return keep_photo_answer(application, kind, partial(_render, application, token),
                             url_for(".page", token=token, _anchor=f"documento-{kind}"))


def keep_photo_answer(application: Application, kind: str, render, back: str):
    """Keeps the photo the form names (documents/photo_intake.py) and goes `back`; or the refusal `render`
    draws. Shared with the phone's page (documents/phone_views.py)."""
    a = adapters()
    try:
        kept = documents_flow.keep_anyway(a.identity, a.storage, application, kind, request.form.get("sha256", ""))
    except DocumentNotAllowed as exc:
        return render(notice=exc.message, status_code=409)
    if kept:
        flash("Se conservó la foto tal como está.", "exito")
    return redirect(back, 303)


@bp.post("/activacion/<token>/enviar")
def submit(token: str):
    application = _open(token)
    try:
        a = adapters()
        submitted = submit_for_review(a.identity, a.storage, application, documents_flow.today(),
                                      marks=a.upload_markers)
    except SubmissionIncomplete as exc:
        return _render(application, token, submit_problems=exc.problems, status_code=400)
    prepare_application(a.page_views, submitted)  # page images still missing, off this request
    flash("Su solicitud fue enviada a validación.", "exito")
    return redirect(url_for(".page", token=token), 303)


# --- the link's failures -----------------------------------------------------------------------
def _link_page(reason: str, status_code: int, *, resend: bool):
    token = (request.view_args or {}).get("token", "")
    body = render_template("activacion/enlace.html", motivo=reason, reenviar=resend, enlace=token,
                           reenviar_url=RESEND_PATH)
    return body, status_code


@bp.errorhandler(ApplicationBusy)
def application_busy(exc: ApplicationBusy):
    return error_page(409, exc.message)


@bp.errorhandler(LinkExpired)
def link_expired(exc):
    return _link_page("expirado", 410, resend=True)


@bp.errorhandler(LinkSuperseded)
def link_superseded(exc):
    return _link_page("reemplazado", 410, resend=True)


@bp.errorhandler(LinkInvalid)
def link_invalid(exc):
    return _link_page("invalido", 400, resend=False)


@bp.errorhandler(ApplicationGone)
def application_gone(exc: ApplicationGone):
    # Purged or cancelled applications keep their row; none at all means the application was made after
    # the backup a restore went back to (README, "Backup and restore"): say so, not "expired".
    store = adapters().applications
    try:
        lost = bool(exc.account_id) and store is not None and not store.knows_account(exc.account_id)
    except DatabaseUnavailable:
        lost = False
    return _link_page("restaurada" if lost else "inexistente", 410, resend=False)


@bp.errorhandler(ApplicationClosed)
def application_closed(exc: ApplicationClosed):
    return _link_page(exc.status, 410, resend=False)


@bp.after_request
def private(response: Response) -> Response:
    # The token travels in the path: keep it out of caches and out of Referer headers.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    public_s3 = settings().s3.public_url
    if public_s3 and response.mimetype == "text/html":  # the page's script sends documents to S3 itself
        response.headers.setdefault("Content-Security-Policy", content_security_policy(connect_src=_origin(public_s3)))
    return response


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


# --- rendering -----------------------------------------------------------------------------------
def desktop_view(application: Application, new: phone_links.NewLink | None) -> dict | None:
    """What the activation page shows of the phone link (None: the feature is off here)."""
    store = adapters().phone_links
    if store is None:
        return None
    current = new.link if new is not None else None
    if current is None:
        try:
            current = store.current(application.id, phone_links.utcnow())
        except DatabaseUnavailable:
            log.warning("enlaces para teléfono no disponibles (base de datos): solicitud=%s", application.id)
            return None
    view = {"current": current, "new": None, "expires": documents_flow.local_time(current.expires_at.isoformat())[-5:]
            if current else "", "uploaded": current.uploaded_at.isoformat() if current and current.uploaded_at else ""}
    if new is not None:
        url = f"{settings().public_url}{url_for('phone.open_link', token=new.token)}"
        view["new"] = {"qr": qr_svg(url, size_mm=40, label=i18n.translate("Código QR para abrir la carga en su teléfono")),
                       "code": new.code_shown, "entry": f"{settings().public_url}{url_for('phone.entry')}"}
    return view


def _render(application: Application, token: str, *, errors: dict[str, dict[str, list[str]]] | None = None,
            forms: dict[str, Form] | None = None, notice: str | None = None,
            submit_problems: list[str] | None = None, status_code: int = 200, phone=None):
    """The page. `phone`: a phone link just made (documents/phone_views.py), whose QR and code are shown this once."""
    i18n.use_locale(application.account.attr("locale"))  # the applicant's language, unless switched here
    errors = {kind: dict(fields) for kind, fields in (errors or {}).items()}
    forms = forms or {}
    direct = _direct_upload_markers(application)
    for kind, marker in direct.items():
        if marker.state == direct_uploads.REFUSED and not errors.get(kind):
            errors[kind] = {FILE_FIELD: [marker.message]}
    checking = {kind: m.receipt.name for kind, m in direct.items() if m.state == direct_uploads.CHECKING}
    s = settings()
    today = documents_flow.today()
    flagged = documents_flow.flagged_documents(application)
    present = application.documents
    slots = []
    for kind in docs.required_documents(application.es_extranjero):
        record = present.get(kind)
        form = forms.get(kind) or upload_form_for(kind, es_extranjero=application.es_extranjero, today=today)
        slots.append({
            "kind": kind,
            "label": docs.DOCUMENT_LABELS[kind],
            "record": _record_view(record) if record else None,
            "may_change": documents_flow.may_change(application, kind),
            "reasons": [docs.CORRECTION_REASONS.get(code, code) for code in flagged.get(kind, [])],
            "errors": errors.get(kind, {}),
            "form": form,
            "checking": checking.get(kind),
            "grant": direct_uploads.grant_token(s, direct_uploads.Grant.of(
                application, kind, application.account.attr("enlace_version") or "")) if s.s3.public_url else "",
        })
    can_submit = application.status in status.UPLOADABLE
    first_error = next((f"{slot['kind']}-{field}" for slot in slots for field in slot["errors"]), None)
    body = render_template(
        "activacion/pagina.html", solicitud=application, token=token, slots=slots, status=status,
        estatus_label=status.LABELS.get(application.status, application.status), aviso=notice,
        puede_enviar=can_submit, problemas_envio=submit_problems or [],
        pendientes=documents_flow.submission_problems(application, today, checking) if can_submit else [],
        comentario=(application.correction.get("comentario") or "") if flagged else "",
        limite=_limit_label(), cedula_label=CEDULA_CONFIRM_LABEL, file_field=FILE_FIELD,
        enviado_mensaje=SUBMITTED_MESSAGE, primer_error=first_error, id_kinds=docs.ID_KIND_LABELS,
        subida_directa=bool(s.s3.public_url), limite_bytes=s.upload_max_bytes,
        movil=desktop_view(application, phone) if any(slot["may_change"] for slot in slots) else None,
    )
    return body, status_code


def _direct_upload_markers(application: Application) -> dict[str, direct_uploads.Marker]:
    s, a = settings(), adapters()
    try:
        return direct_uploads.markers(a.upload_markers, application,
                                      restart=direct_uploads.restarter(a.identity, a.storage, a.upload_markers, s,
                                                                       after_store=_after_store()))
    except DatabaseUnavailable:
        log.warning("no se pudo leer el estado de las subidas directas: solicitud=%s", application.id)
        return {}


def _record_view(record) -> dict[str, Any]:
    details = dict(record.details)
    return {
        "name": record.original_name,
        "size": documents_flow.human_size(record.size),
        "time": documents_flow.local_time(record.uploaded_at),
        "type": {"application/pdf": "PDF", "image/jpeg": "JPEG", "image/png": "PNG"}.get(record.content_type, ""),
        "id_kind": docs.ID_KIND_LABELS.get(details.get(documents_flow.ID_KIND, ""), ""),
        "expiry": details.get(documents_flow.ID_EXPIRY, ""),
        "sha256": record.sha256,
        "quality_advice": photo_intake.advice(record),  # blur, glare, pixels: until kept or replaced
        "converted": bool(details.get(photo_intake.CONVERTED_FROM)),
    }
