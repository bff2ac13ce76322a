"""The "send me a new link" form of "Consultar mi solicitud": folio and registered email."""
from __future__ import annotations

from wtforms import EmailField, StringField, SubmitField

from registro.web.form_base import Form


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class StatusLinkRequestForm(Form):
    folio = StringField("Folio", filters=[_strip])
    correo = EmailField("Correo electrónico", filters=[_strip])
    submit = SubmitField("Enviarme el enlace")

    def validate(self, extra_validators=None) -> bool:
        super().validate(extra_validators)
        if not self.folio.data:
            self.folio.errors.append("Escriba el folio de su solicitud (por ejemplo, AU-2026-7K3M9QX2).")
        elif len(self.folio.data) > 40:
            self.folio.errors.append("El folio admite como máximo 40 caracteres.")
        if not self.correo.data:
            self.correo.errors.append("Escriba el correo electrónico con el que se registró.")
        elif len(self.correo.data) > 255 or "@" not in self.correo.data:
            self.correo.errors.append("Escriba un correo electrónico válido, por ejemplo nombre@dominio.com.")
        return not self.errors
