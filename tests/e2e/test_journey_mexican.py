"""A Mexican applicant from the login page to the example module, in a real browser (SPEC §3-§7)."""
from __future__ import annotations

from datetime import date, timedelta

from playwright.sync_api import expect

from tests.e2e.conftest import assert_accessible
from tests.e2e.journeys import (activate_and_submit, expect_module_greeting, first_login, newest_activation_link,
                                register, reviewer_decides, reviewer_logs_in, reviewer_opens)
from tests.support.registration import mexican_form, random_person


def test_journey_mexican_applicant(new_page, stack, screens, mailbox, document_files, reviewer, gateway, unique):
    curp, rfc = random_person()
    email = f"ana-{unique}@example.com"
    data = mexican_form(curp=curp, rfc=rfc, email=email, tipo_usuario="agente_aduanal")
    applicant = new_page()

    register(applicant, stack, screens, data, keep_as="registro")
    link = newest_activation_link(mailbox, email, count=2)
    photographed = {**document_files, "responsiva": None}  # a phone photo of the responsiva it downloads
    folio = activate_and_submit(applicant, link, photographed, screens, foreign=False,
                                vigencia=(date.today() + timedelta(days=400)).isoformat(), keep_as="activacion")

    console = new_page()
    reviewer_logs_in(console, stack, reviewer, screens)
    reviewer_opens(console, folio, screens, keep_prefix="revision")
    expect(console.locator('[data-verificacion="Folio de la responsiva"]')).to_contain_text("Folio verificado")
    reviewer_decides(console, "Aprobar", screens)
    expect(console.locator("main")).to_contain_text("Aprobado")

    username = first_login(applicant, stack, screens, mailbox, email, 3, "Mi-Clave-Propia-2026!")
    assert username.upper() == rfc
    expect_module_greeting(applicant, "Ana María", "Agente Aduanal")
    applicant.get_by_role("link", name="Página para Agente Aduanal").click()
    expect(applicant.locator("main")).not_to_contain_text("Acceso denegado")
    screens.shot(applicant, "modulo-agentes")
    assert_accessible(applicant, "página restringida del módulo")

    account = gateway.find_by_username(username)
    assert account.enabled and account.attr("estatus") == "aprobado"
    assert "agente_aduanal" in gateway.realm_roles_of(account.id)
