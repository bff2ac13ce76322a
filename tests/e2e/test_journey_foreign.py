"""A foreign applicant with TAX ID and passport, through a correction round to approval (SPEC §4, §6, §7)."""
from __future__ import annotations

from datetime import date, timedelta

from playwright.sync_api import expect

from tests.e2e.conftest import assert_accessible
from tests.e2e.journeys import (activate_and_submit, expect_module_greeting, first_login, links_in,
                                newest_activation_link, register, reviewer_decides, reviewer_logs_in,
                                reviewer_opens, upload_document)
from tests.support.registration import foreign_form


def test_journey_foreign_applicant_with_correction(new_page, stack, screens, mailbox, document_files, reviewer,
                                                   unique):
    email = f"john-{unique}@example.com"
    data = foreign_form(email=email, pasaporte=f"X{unique[:8].upper()}", tipo_usuario="transportista")
    applicant = new_page()

    register(applicant, stack, screens, data, from_login=False)
    link = newest_activation_link(mailbox, email, count=2)
    folio = activate_and_submit(applicant, link, document_files, screens, foreign=True,
                                vigencia=(date.today() + timedelta(days=200)).isoformat())
    expect(applicant.locator("#documento-curp")).to_have_count(0)  # no CURP constancia for foreigners

    console = new_page()
    reviewer_logs_in(console, stack, reviewer, screens)
    reviewer_opens(console, folio, screens)

    def ask_for_a_legible_responsiva(form):
        form.locator("fieldset", has_text="Responsiva firmada").get_by_label("El documento no es legible.").check()
        form.get_by_label("Comentario para el solicitante").fill("Escanee la responsiva con mejor resolución.")

    reviewer_decides(console, "Solicitar corrección", screens, fill=ask_for_a_legible_responsiva)
    expect(console.locator("main")).to_contain_text("Requiere corrección")

    message = mailbox.wait_for(email, 3, timeout_s=30)[-1]
    assert "El documento no es legible." in message.text
    assert "Escanee la responsiva con mejor resolución." in message.text
    fresh = [u for u in links_in(message.text) if "/activacion/" in u][-1]
    assert fresh != link

    applicant.goto(fresh)
    expect(applicant.locator("main")).to_contain_text("El revisor solicitó corregir algunos documentos.")
    expect(applicant.locator("#documento-responsiva_firmada")).to_contain_text("El documento no es legible.")
    screens.shot(applicant, "correccion")
    assert_accessible(applicant, "página de corrección")
    upload_document(applicant, "responsiva_firmada", document_files["curp"])  # a clearer scan, as a PDF
    applicant.get_by_role("button", name="Enviar a validación").click()
    expect(applicant.locator("main")).to_contain_text("Su solicitud está en revisión.")

    console.goto(f"{stack.registro_url}/revision/")
    reviewer_opens(console, folio, screens)
    reviewer_decides(console, "Aprobar", screens)
    expect(console.locator("main")).to_contain_text("Aprobado")

    username = first_login(applicant, stack, screens, mailbox, email, 4, "Foreign-Clave-2026!")
    assert username.lower().startswith("ext")
    expect_module_greeting(applicant, "John", "Transportista")
    applicant.get_by_role("link", name="Página para Agente Aduanal").click()
    expect(applicant.locator("main")).to_contain_text("Acceso denegado")
    assert_accessible(applicant, "403 del módulo")
