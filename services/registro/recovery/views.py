"""Password recovery front door (SPEC §8): `/recuperar`.

Usuario + self-hosted captcha. After a valid captcha the answer is the same page whatever was
typed; the Keycloak work happens off the request path (recovery/service.py). Throttled per
client address (every POST) and per username (every accepted request, known or not, so the
limit says nothing about whether the account exists).
"""
from __future__ import annotations

import hashlib

from flask import Blueprint, g, render_template, request

from registro.adapters.captcha import Captcha, CaptchaOutcome
from registro.container import adapters, settings
from registro.extensions import limiter
from registro.recovery.forms import CAPTCHA_MESSAGES, RecoveryForm
from registro.web.security_headers import content_security_policy
from registro.recovery.service import RecoveryRequests, normalise_username

bp = Blueprint("recovery", __name__)

@bp.after_request
def _captcha_styles(response):
    # The ALTCHA widget sets inline styles on its own elements; scripts stay 'self' only.
    response.headers.setdefault("Content-Security-Policy", content_security_policy(inline_styles=True))
    return response


def captcha() -> Captcha:
    return adapters().captcha


def dispatcher() -> RecoveryRequests:
    return adapters().recovery


def _login_url() -> str:
    # The ANAM portal's login (a configured module), not Keycloak's account console.
    return settings().portal_login_url


def _username_key() -> str:
    # A hash, so no username (often an RFC) sits in the limiter's storage.
    typed = normalise_username(request.form.get("usuario", ""))
    return "recuperar-usuario:" + hashlib.sha256(typed.encode()).hexdigest()


@bp.route("/recuperar", methods=["GET", "POST"])
@limiter.limit(lambda: settings().recovery_client_limits, methods=["POST"], scope="recuperar-cliente")
@limiter.limit(lambda: settings().recovery_user_limits, methods=["POST"], scope="recuperar-usuario",
               key_func=_username_key, deduct_when=lambda response: bool(g.get("recovery_accepted")))
def form():
    form = RecoveryForm()
    captcha_error = None
    if form.validate_on_submit():
        outcome = captcha().verify(form.altcha.data)
        if outcome is CaptchaOutcome.ACCEPTED:
            dispatcher().request_reset(normalise_username(form.usuario.data))
            g.recovery_accepted = True
            return render_template("recuperar/enviado.html", login_url=_login_url())
        captcha_error = CAPTCHA_MESSAGES[outcome.value]
    elif request.method == "POST" and not form.altcha.data:
        captcha_error = CAPTCHA_MESSAGES["faltante"]
    status = 400 if request.method == "POST" else 200
    return render_template("recuperar/formulario.html", form=form, captcha_error=captcha_error,
                           challenge=captcha().challenge(), login_url=_login_url()), status
