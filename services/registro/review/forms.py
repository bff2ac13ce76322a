"""Forms of the review console (Flask-WTF, CSRF on): validation only."""
from __future__ import annotations

from wtforms import HiddenField, SelectChoice, SelectMultipleField, TextAreaField, widgets
from wtforms.validators import DataRequired, Length, Optional

from registro.domain.documents import CORRECTION_REASONS, CURP, IDENTIFICACION, RESPONSIVA
from registro.web.form_base import Form

COMMENT_MAX = 1000
REASON_FIELDS = {CURP: "motivos_curp", RESPONSIVA: "motivos_responsiva_firmada", IDENTIFICACION: "motivos_identificacion"}


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class ActionForm(Form):
    """Claim, release and resend: no fields besides the CSRF token."""


class DecisionForm(Form):
    # What the reviewer looked at: the submission round and the digest of its documents.
    ronda = HiddenField(validators=[DataRequired()])
    documentos = HiddenField(validators=[DataRequired()])


class ApproveForm(DecisionForm):
    pass


class _ReasonChecklist(SelectMultipleField):
    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


_CHOICES = [SelectChoice(code, label) for code, label in CORRECTION_REASONS.items()]


class CorrectionForm(DecisionForm):
    motivos_curp = _ReasonChecklist("CURP", choices=_CHOICES, validators=[Optional()])
    motivos_responsiva_firmada = _ReasonChecklist("Responsiva firmada", choices=_CHOICES, validators=[Optional()])
    motivos_identificacion = _ReasonChecklist("Identificación oficial vigente", choices=_CHOICES,
                                              validators=[Optional()])
    comentario = TextAreaField("Comentario para el solicitante", filters=[_strip], validators=[
        Length(max=COMMENT_MAX, message=f"El comentario no puede tener más de {COMMENT_MAX} caracteres.")])

    def reasons(self, kinds: tuple[str, ...]) -> dict[str, list[str]]:
        return {kind: list(getattr(self, REASON_FIELDS[kind]).data or []) for kind in kinds
                if getattr(self, REASON_FIELDS[kind]).data}

    def check_reasons(self, kinds: tuple[str, ...]) -> bool:
        """At least one reason for one of the application's documents; "otro" needs a comment."""
        chosen = self.reasons(kinds)
        if not chosen:
            getattr(self, REASON_FIELDS[kinds[0]]).errors = ["Seleccione al menos un motivo de corrección."]
            return False
        if any("otro" in codes for codes in chosen.values()) and not self.comentario.data:
            self.comentario.errors = ["Describa el motivo en el comentario (eligió «Otro motivo»)."]
            return False
        return True


class RejectForm(DecisionForm):
    motivo = TextAreaField("Motivo del rechazo", filters=[_strip], validators=[
        DataRequired("Indique el motivo del rechazo."),
        Length(max=COMMENT_MAX, message=f"El motivo no puede tener más de {COMMENT_MAX} caracteres.")])
