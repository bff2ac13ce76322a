"""The registration form's acceptance of the privacy notice ("Aviso de privacidad")."""
from __future__ import annotations

from registro.applicant.privacy import PrivacyNotices

PRIVACY_LABEL = "He leído y acepto el Aviso de privacidad"
NOT_ACCEPTED = "Para registrarse, lea y acepte el Aviso de privacidad."


def check(form, notices: PrivacyNotices | None) -> None:
    """Called by RegistrationForm.validate(): the box must be ticked; records the version shown."""
    if notices is None:
        return
    if not form.acepta_aviso.data:
        form.acepta_aviso.errors.append(NOT_ACCEPTED)
        return
    # The version the page showed (hidden field) if it still exists, else the current one.
    notice = notices.versions.get(form.aviso_version.data or "", notices.current)
    form._clean["aviso_version"] = notice.version
    form._clean["aviso_sha256"] = notice.sha256
