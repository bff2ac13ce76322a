""""Consultar mi solicitud": the applicant's status page (/consulta/<token>) and the request of a new
link by folio and email (/consulta).

The page is reached only through the applicant's own signed link (applicant/status_links.py). It
shows the timeline and the next step — never a document, a reviewer's name or internal notes.
The link request answers every well-formed request with the same page, whether or not the folio
and email match, and is throttled per client address and per folio.
"""
from __future__ import annotations

import hashlib
import logging

from flask import Blueprint, current_app, render_template, request

from keycloak_ext import AccountNotFound

from registro import i18n
from registro.kernel import emails
from registro.container import adapters, settings
from registro.domain import status, timeline
from registro.extensions import limiter
from registro.applicant.status_forms import StatusLinkRequestForm
from registro.kernel.audit import AuditTrail
from registro.applicant.status_links import deliver_in_background, status_link_email
from registro.kernel.status_links import StatusLinkInvalid, signer, status_url
from registro.review.console_auth import local_time
from registro.web.errors import error_page

log = logging.getLogger(__name__)

bp = Blueprint("status", __name__)

LINK_INVALID = ("El enlace para consultar su solicitud no es válido o expiró. Solicite uno nuevo con su folio y "
                "su correo electrónico.")
APPLICATION_GONE = ("Esta solicitud ya no existe: las solicitudes sin concluir se eliminan después de un tiempo. "
                    "Puede registrarse de nuevo.")
TOO_MANY_REQUESTS = "Se han solicitado demasiados enlaces. Espere un momento e intente de nuevo."


def _private(response):
    # The token is in the path: keep it out of caches and of the Referer of any link followed.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.app_template_global("consulta_url_para")
def status_link_for(account_id: str) -> str:
    """The applicant's status link, for the confirmation and activation pages."""
    return status_url(settings(), account_id)


# The console's date filter, not a second one: both register the app-wide name, and the last
# registered replaced the other (lease times, numbers, then showed raw in the console).
bp.add_app_template_filter(local_time, "fecha_local")


@bp.get("/consulta/<token>")
def page(token: str):
    try:
        account_id = signer(settings()).read(token)
    except StatusLinkInvalid:
        return _private(_link_request_page(notice=LINK_INVALID, status_code=404))
    a = adapters()
    try:
        account = a.identity.get_account(account_id)
    except AccountNotFound:
        return _private(_link_request_page(notice=APPLICATION_GONE, status_code=404))
    if not account.attr("estatus"):
        return _private(_link_request_page(notice=LINK_INVALID, status_code=404))
    from registro.domain.application import Application
    application = Application(account)
    i18n.use_locale(account.attr("locale"))
    events = AuditTrail(a.audit).history(account_id)
    view = timeline.build(application, events)
    body = render_template("consulta/pagina.html", linea=view, estatus_label=status.LABELS.get(view.status, ""),
                           status=status)
    return _private(_response(body))


def _response(body, status_code: int = 200):
    from flask import make_response
    return make_response(body, status_code)


def _link_request_page(*, form: StatusLinkRequestForm | None = None, notice: str | None = None, sent: bool = False,
                       status_code: int = 200):
    body = render_template("consulta/solicitar.html", form=form or StatusLinkRequestForm(formdata=None),
                           aviso=notice, enviado=sent)
    return _response(body, status_code)


def _folio_key() -> str:
    # A hash, so no folio sits in the limiter's storage.
    folio = request.form.get("folio", "").strip().upper()
    return "consulta-folio:" + hashlib.sha256(folio.encode()).hexdigest()


@bp.route("/consulta", methods=["GET", "POST"], endpoint="request_link")
@limiter.limit(lambda: settings().status_link_limits, methods=["POST"], scope="consulta-cliente")
@limiter.limit(lambda: settings().status_link_folio_limits, methods=["POST"], scope="consulta-folio",
               key_func=_folio_key)
def request_link():
    form = StatusLinkRequestForm()
    if request.method == "GET":
        return _link_request_page(form=form)
    if not form.validate_on_submit():
        return _link_request_page(form=form, status_code=400)
    a, s = adapters(), settings()
    app = current_app._get_current_object()
    folio, correo = form.folio.data, form.correo.data

    def message():
        with app.app_context():  # the email's templates and settings
            return status_link_email(a.identity, a.applications, s, folio, correo, emails.compose)

    # Whatever the lookup finds, the answer is the same page, at the same speed: the lookup runs with
    # the sending, off the request path (no enumeration of folios or emails).
    deliver_in_background(a.outbox, message)
    return _link_request_page(sent=True)


@bp.errorhandler(429)
def too_many(exc):
    return error_page(429, TOO_MANY_REQUESTS)
