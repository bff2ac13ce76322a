"""The activation page's forms (Flask-WTF, CSRF on): validation of the typed fields only.

The file itself is not a WTForms field: the upload view streams it to a spool
(documents/uploads.py) and the workflow decides what it is from its content.
"""
from __future__ import annotations

import re
from datetime import date

from wtforms import BooleanField, SelectField, StringField

from registro.domain import documents as docs
from registro.documents.service import ELECTRONIC_CEDULA_REFUSED, ID_EXPIRY, ID_KIND
from registro.web.form_base import Form

FILE_FIELD = "archivo"
CEDULA_CONFIRM_LABEL = "Confirmo que mi cédula profesional es física, con fotografía, y no electrónica"


class DocumentUploadForm(Form):
    """CURP and Responsiva firmada: only the file (and the CSRF token)."""

    def details(self) -> dict[str, str]:
        return {}


class IdentificationUploadForm(Form):
    tipo_identificacion = SelectField("Tipo de identificación", validate_choice=False)
    vigencia = StringField("Vigencia", filters=[lambda v: v.strip() if isinstance(v, str) else v])
    cedula_fisica = BooleanField(CEDULA_CONFIRM_LABEL)

    def __init__(self, *args, es_extranjero: bool, today: date, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.es_extranjero = es_extranjero
        self.today = today
        self.tipo_identificacion.choices = [("", "Seleccione una opción")] + [
            (k.slug, k.label) for k in docs.id_kinds_for(es_extranjero)]

    def validate(self, extra_validators=None) -> bool:
        ok = super().validate(extra_validators)
        allowed = {k.slug for k in docs.id_kinds_for(self.es_extranjero)}
        if self.tipo_identificacion.data not in allowed:
            self.tipo_identificacion.errors.append("Seleccione el tipo de identificación.")
            ok = False
        elif self.tipo_identificacion.data == "cedula_profesional" and not self.cedula_fisica.data:
            self.cedula_fisica.errors.append(ELECTRONIC_CEDULA_REFUSED)
            ok = False
        if not self.vigencia.data:
            self.vigencia.errors.append("Indique la fecha de vigencia de su identificación.")
            return False
        expiry = parse_expiry(self.vigencia.data)
        if expiry is None:
            self.vigencia.errors.append("Escriba una fecha de vigencia válida: día, mes y año (por ejemplo, "
                                        "31/12/2030).")
            return False
        self.vigencia.data = expiry.isoformat()  # stored and shown back to the date picker as ISO
        if expiry < self.today:
            self.vigencia.errors.append("La identificación está vencida. Cargue una identificación vigente.")
            ok = False
        return ok

    def details(self) -> dict[str, str]:
        return {ID_KIND: self.tipo_identificacion.data, ID_EXPIRY: self.vigencia.data}


_DAY_MONTH_YEAR = re.compile(r"([0-9]{1,2})[/.\-]([0-9]{1,2})[/.\-]([0-9]{4})")


def parse_expiry(raw: str) -> date | None:
    """A browser's date picker always sends ISO (aaaa-mm-dd) whatever it shows the visitor; a browser
    without one sends what was typed, which in Mexico is day/month/year."""
    if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", raw):
        try:
            return date.fromisoformat(raw)
        except ValueError:
            return None
    typed = _DAY_MONTH_YEAR.fullmatch(raw)
    if typed:
        try:
            return date(int(typed.group(3)), int(typed.group(2)), int(typed.group(1)))
        except ValueError:
            return None
    return None


def upload_form_for(kind: str, *, es_extranjero: bool, today: date, formdata=None) -> Form:
    """The form of one document; `formdata=None` renders it empty (no request data is read)."""
    kwargs = {"formdata": formdata}
    if kind == docs.IDENTIFICACION:
        return IdentificationUploadForm(es_extranjero=es_extranjero, today=today, **kwargs)
    return DocumentUploadForm(**kwargs)
