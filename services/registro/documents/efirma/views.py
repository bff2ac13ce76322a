"""The e.firma routes under the personal link, answered in JSON to the page's script (static/js/efirma.js),
and the template helpers of the activation page and the review console.

`preparar` takes the certificate (.cer, public) and answers the signed attributes to sign and a state
token; `completar` takes the signature value and the certificate back. A refusal is
`{"error": "<Spanish message>"}` with a 4xx status, shown by the script beside the field; nothing else
reaches the service: the key file and its password stay in the browser.
"""
from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime, timezone

from flask import Blueprint, flash, jsonify, request, url_for

from registro import i18n
from registro.adapters.storage import StorageUnavailable
from registro.container import adapters, settings
from registro.domain.application import Application, DocumentRecord
from registro.domain.filetypes import UnreadableFile
from registro.extensions import limiter
from registro.kernel.links import LinkExpired, LinkInvalid, LinkSuperseded
from registro.documents.activation import ApplicationClosed, ApplicationGone, open_application
from registro.kernel.confirmation_links import signer
from registro.documents.service import DocumentNotAllowed, may_change
from registro.kernel.record_lock import ApplicationBusy
from registro.domain.documents import RESPONSIVA
from registro.documents.efirma import messages, signing
from registro.documents.efirma.signing import SigningRefused

bp = Blueprint("efirma", __name__)

LIMITS = "20 per hour;60 per day"  # preparations per application: each keeps a prepared PDF for 15 minutes
MAX_CERTIFICATE_BYTES = 16 * 1024  # a SAT .cer is about 2 KB
MAX_SIGNATURE_BYTES = 1024  # a 4096-bit RSA signature is 512 bytes


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _refusal(message: str, status_code: int = 400):
    return jsonify(error=i18n.translate(message)), status_code


def _field(name: str, limit: int) -> bytes:
    raw = request.form.get(name, "")
    try:
        data = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        data = b""
    if not data or len(data) > limit:
        raise SigningRefused(messages.MISSING)
    return data


def _open(token: str) -> Application:
    application = open_application(adapters().identity, settings(), token)
    i18n.use_locale(application.account.attr("locale"))
    return application


def _per_application() -> str:
    try:
        return "efirma:" + signer(settings()).read((request.view_args or {}).get("token", "")).account_id
    except Exception:  # noqa: BLE001 - a bad link is refused by the view itself
        return "efirma:enlace-no-valido"


@bp.post("/activacion/<token>/efirma/preparar")
@limiter.limit(LIMITS, key_func=_per_application)
def prepare(token: str):
    if not signing.enabled(settings()):
        return _refusal(messages.UNAVAILABLE, 404)
    application = _open(token)
    started = signing.start(adapters().storage, settings(), application,
                            _field("certificado", MAX_CERTIFICATE_BYTES), _now())
    return jsonify(atributos=base64.b64encode(started.signed_attributes).decode("ascii"), estado=started.state)


@bp.post("/activacion/<token>/efirma/completar")
def complete(token: str):
    if not signing.enabled(settings()):
        return _refusal(messages.UNAVAILABLE, 404)
    application = _open(token)
    a = adapters()
    try:
        signing.finish(a.identity, a.storage, settings(), application, request.form.get("estado", ""),
                       _field("firma", MAX_SIGNATURE_BYTES), _field("certificado", MAX_CERTIFICATE_BYTES), _now())
    except UnreadableFile as exc:
        return _refusal(exc.message)
    flash(messages.SIGNED, "exito")
    return jsonify(pagina=url_for("activation.page", token=token, _anchor=f"documento-{RESPONSIVA}"))


@bp.errorhandler(SigningRefused)
def refused(exc: SigningRefused):
    return _refusal(exc.message, 422)


@bp.errorhandler(DocumentNotAllowed)
def not_allowed(exc: DocumentNotAllowed):
    return _refusal(exc.message, 409)


@bp.errorhandler(ApplicationBusy)
def busy(exc: ApplicationBusy):
    return _refusal(exc.message, 409)


@bp.errorhandler(StorageUnavailable)
def storage_down(exc):
    return _refusal(messages.STORAGE_DOWN, 503)


@bp.errorhandler(LinkExpired)
@bp.errorhandler(LinkSuperseded)
def link_gone(exc):
    return _refusal(messages.LINK_GONE, 410)


@bp.errorhandler(LinkInvalid)
@bp.errorhandler(ApplicationGone)
@bp.errorhandler(ApplicationClosed)
def link_invalid(exc):
    return _refusal(messages.LINK_INVALID, 400)


# --- template helpers -----------------------------------------------------------------------------
@bp.app_template_global("efirma_disponible")
def available(application: Application) -> bool:
    """Offered on the activation page when the operator configured SAT roots and the application has
    the RFC and CURP an e.firma must carry, while the responsiva may be replaced."""
    expected = signing.expected(application)
    return (signing.enabled(settings()) and bool(expected.rfc and expected.curp)
            and may_change(application, RESPONSIVA))


@bp.app_template_global("efirma_informe")
def report(record: DocumentRecord | None) -> dict | None:
    """What the verification recorded for a responsiva signed here (None for a scan)."""
    if record is None or record.details.get(signing.SIGNED_DETAIL) != "efirma":
        return None
    try:
        return json.loads(record.details.get(signing.REPORT_DETAIL) or "{}")
    except ValueError:
        return {}
