"""An application the reviewer rejects: final, with a reason, emailed; the account stays disabled."""
from __future__ import annotations

from datetime import date, timedelta

from playwright.sync_api import expect

from tests.e2e.conftest import assert_accessible
from tests.e2e.journeys import (activate_and_submit, log_in, newest_activation_link, open_module_login, register,
                                reviewer_decides, reviewer_logs_in, reviewer_opens)
from tests.support.registration import mexican_form, random_person


def test_journey_rejection(new_page, stack, screens, mailbox, document_files, reviewer, gateway, unique):
    curp, rfc = random_person()
    email = f"rechazo-{unique}@example.com"
    applicant = new_page()
    register(applicant, stack, screens, mexican_form(curp=curp, rfc=rfc, email=email, tipo_usuario="dependiente"),
             from_login=False)
    link = newest_activation_link(mailbox, email, count=2)
    folio = activate_and_submit(applicant, link, document_files, screens, foreign=False,
                                vigencia=(date.today() + timedelta(days=90)).isoformat())

    console = new_page()
    reviewer_logs_in(console, stack, reviewer, screens)
    reviewer_opens(console, folio, screens)

    # The reason is required: an empty one is refused with the focus on the field.
    form = console.locator("form.revision-decision", has=console.get_by_role("button", name="Rechazar"))
    form.get_by_role("button", name="Rechazar").click()
    expect(console.locator("textarea[aria-invalid=true]")).to_be_focused()
    assert_accessible(console, "rechazo sin motivo")

    reviewer_decides(console, "Rechazar", screens, fill=lambda f: f.locator("textarea").fill(
        "La identificación no corresponde al solicitante."))
    expect(console.locator("main")).to_contain_text("Rechazado")

    message = mailbox.wait_for(email, 3, timeout_s=30)[-1]
    assert f"Le informamos que su solicitud de alta con folio {folio} fue rechazada." in message.text
    assert "La identificación no corresponde al solicitante." in message.text

    applicant.goto(link)  # the application is closed: its link no longer opens the page
    expect(applicant.get_by_role("heading", name="Activación de su cuenta")).to_have_count(0)
    assert_accessible(applicant, "enlace de solicitud cerrada")
    open_module_login(applicant, stack, screens)
    log_in(applicant, rfc, "Cualquier-Clave-2026!")
    expect(applicant.locator("body")).to_contain_text("Usuario o contraseña incorrectos.")
    account = gateway.find_by_username(rfc)
    assert account.enabled is False and account.attr("estatus") == "rechazado"
