"""The registration form's postal-code check (Mexicans): CP vs Estado against the SEPOMEX catalog.

Not a block: the catalog can be older than the CP. When the CP is not in the catalog or belongs to
another state, the form asks the applicant to confirm (a checkbox, like the RFC's check digit) and
records why in `cp_no_coincide`, which the reviewer sees among the automatic checks.
"""
from __future__ import annotations

from registro.domain import postal

CP_CONFIRM_LABEL = "Confirmo que mi código postal es correcto"
MESSAGES = {
    postal.NOT_IN_CATALOG: "No encontramos este código postal en el catálogo de SEPOMEX. Revíselo; si es correcto, "
                           "marque «Confirmo que mi código postal es correcto» y presione «Registrar» de nuevo.",
    postal.OTHER_STATE: "Según el catálogo de SEPOMEX, este código postal pertenece a otra entidad federativa. "
                        "Revise el código postal y el estado; si son correctos, marque «Confirmo que mi código "
                        "postal es correcto» y presione «Registrar» de nuevo.",
}


def check(form, catalog: postal.PostalCatalog | None) -> None:
    """Called by RegistrationForm.validate() once CP and Estado are valid."""
    clean = form._clean
    code, state = clean.get("codigo_postal"), clean.get("estado")
    if catalog is None or form.es_extranjero.data or not code or not state:
        return
    why = postal.mismatch(catalog, code, state)
    if why is None:
        return
    form.cp_needs_confirmation = True
    clean["cp_no_coincide"] = why
    if not form.cp_confirmado.data:
        form.cp_confirmado.errors.append(MESSAGES[why])
