"""The password-recovery form of SPEC §8 (Flask-WTF, CSRF on): validation only. The captcha
solution is checked by the captcha adapter once the form itself is valid."""
from __future__ import annotations

from wtforms import HiddenField, StringField
from wtforms.validators import DataRequired, Length

from registro.web.form_base import Form

CAPTCHA_MESSAGES = {
    "faltante": "Resuelva el captcha «No soy un robot» antes de enviar.",
    "no_valido": "El captcha no es válido. Resuélvalo de nuevo.",
    "expirado": "El captcha expiró. Resuélvalo de nuevo.",
    "reutilizado": "Este captcha ya se utilizó. Resuélvalo de nuevo.",
}


class RecoveryForm(Form):
    usuario = StringField("Usuario", filters=[lambda v: v.strip() if isinstance(v, str) else v],
                          validators=[DataRequired("Ingrese su usuario."),
                                      Length(max=255, message="El usuario no puede tener más de 255 caracteres.")])
    # Name given by the ALTCHA widget to the hidden input that carries its solution.
    altcha = HiddenField("Captcha")
