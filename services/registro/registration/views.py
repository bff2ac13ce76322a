"""Public registration pages: the form (`/registro`), the confirmation page
(`/registro/enviado`) and "Reenviar correo" (`POST /registro/reenviar`)."""
from __future__ import annotations

import logging

from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for

from keycloak_ext import AccountNotFound, IdentityRejected

from registro.adapters.pdf import PdfUnavailable
from registro.container import adapters, settings
from registro.extensions import limiter
from registro.registration.forms import LEGEND, RegistrationForm
from registro.kernel.links import LinkExpired, LinkInvalid, LinkSuperseded
from registro.registration import service as registration
from registro.kernel.confirmation_links import signer
from registro.web import blank_form
from registro.web.errors import error_page

log = logging.getLogger(__name__)

bp = Blueprint("registration", __name__)

SESSION_APPLICATION = "solicitud"  # the account id of the application this browser registered
PDF_FAILED = ("No fue posible generar su responsiva en este momento. No se realizó ningún cambio; "
              "intente de nuevo en unos minutos.")
TOO_MANY_REGISTRATIONS = ("Se han hecho demasiados registros desde esta conexión. Espere un momento e intente de "
                          "nuevo; sus datos no se guardaron.")
TOO_MANY_RESENDS = ("Ya se envió un correo hace poco. Espere unos minutos antes de solicitar otro y revise también "
                    "su carpeta de correo no deseado.")


# --- the form ------------------------------------------------------------------------------------
@bp.route("/registro", methods=["GET", "POST"], endpoint="form")
@limiter.limit(lambda: settings().registration_limits, methods=["POST"])
def form():
    if blank_form.can_serve():
        return blank_form.blank_form(lambda: _page(RegistrationForm()))
    # Every POST counts against the per-address limit, valid or not: it also bounds how fast
    # anyone can probe which CURPs or emails already have an account.
    form = RegistrationForm()
    if form.validate_on_submit():
        a = adapters()
        try:
            result = registration.register(form.applicant(), identity=a.identity, storage=a.storage,
                                           settings=settings(), renderer=a.pdf, applications=a.applications,
                                           outbox=a.outbox, traces=a.document_traces())
        except registration.DuplicateApplicant as exc:
            form.refuse_duplicates(exc.fields, in_flight=exc.in_flight)
        except registration.RegistrationInterrupted:
            return error_page(503, "El registro no pudo completarse a tiempo. No se realizó ningún cambio; "
                                   "intente de nuevo en unos minutos.")
        except IdentityRejected as exc:  # Keycloak refused a value the form accepted: say where, keep the rest
            form.refuse_rejected(exc.fields, foreign=bool(form.es_extranjero.data))
        except PdfUnavailable:
            return error_page(503, PDF_FAILED)
        else:
            session[SESSION_APPLICATION] = result.account_id
            return redirect(url_for(".sent"))
    return _page(form)


def _page(form: RegistrationForm) -> str:
    return render_template("registro/formulario.html", form=form, leyenda=LEGEND)


@bp.get("/registro/enviado", endpoint="sent")
def sent():
    return render_template("registro/enviado.html")


# --- "Reenviar correo" ----------------------------------------------------------------------------
def _resend_target() -> str | None:
    """The application the caller has proved to own: a previous link (`enlace`, signature checked,
    age and version ignored) or the one this browser registered. Computed once per request."""
    if "reenvio_solicitud" not in g:
        account_id = None
        token = request.form.get("enlace", "")
        if token:
            try:
                account_id = signer(settings()).read(token).account_id
            except (LinkExpired, LinkSuperseded) as exc:
                account_id = exc.account_id
            except LinkInvalid:
                account_id = None
        else:
            account_id = session.get(SESSION_APPLICATION)
        g.reenvio_solicitud = account_id if isinstance(account_id, str) and account_id else None
    return g.reenvio_solicitud


def _resend_key() -> str:
    return f"reenvio:{_resend_target()}"


@bp.post("/registro/reenviar", endpoint="resend")
# A request that proves no application is answered 400 without touching Keycloak, so it is not counted.
@limiter.limit(lambda: settings().resend_limits, key_func=_resend_key, exempt_when=lambda: _resend_target() is None)
def resend():
    account_id = _resend_target()
    if account_id is None:
        return error_page(400, "No encontramos una solicitud para reenviar el correo. Use el enlace más reciente "
                               "que recibió o, si aún no se registra, llene el formulario de registro.")
    a = adapters()
    try:
        registration.resend(a.identity, a.storage, settings(), account_id, renderer=a.pdf, outbox=a.outbox)
    except (registration.ResendNotAllowed, AccountNotFound):
        session.pop(SESSION_APPLICATION, None)
        return render_template(
            "registro/no_disponible.html", titulo="No es posible reenviar el correo",
            mensaje="Esta solicitud ya no espera la confirmación del correo: ya fue enviada a validación, "
                    "ya se resolvió o expiró. Si su solicitud expiró, regístrese de nuevo."), 409
    except PdfUnavailable:
        return error_page(503, PDF_FAILED)
    session[SESSION_APPLICATION] = account_id
    flash("Se envió un nuevo correo de confirmación. El enlace anterior ya no funciona.", "exito")
    return redirect(url_for(".sent"))


@bp.errorhandler(429)
def too_many(exc):
    # error_page adds Retry-After from the limit that was broken.
    return error_page(429, TOO_MANY_RESENDS if request.endpoint == "registration.resend" else TOO_MANY_REGISTRATIONS)
