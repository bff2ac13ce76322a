"""Postal codes in the registration form (issue 14 §1), in the browser: with JavaScript the CP fills the
Estado and offers the catalog's colonias and localidades; without JavaScript the form still works and
the server asks to confirm a CP that the catalog places in another state."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import assert_accessible
from tests.e2e.journeys import fill_registration
from tests.support.registration import mexican_form, random_person


@pytest.fixture
def mexican(unique, gateway):
    curp, rfc = random_person()
    email = f"cp-{unique}@example.com"
    yield mexican_form(curp=curp, rfc=rfc, email=email)
    account = gateway.find_by_email(email)
    if account is not None:
        gateway.delete_account(account.id)


def test_with_javascript_the_postal_code_fills_the_address(new_page, stack):
    page = new_page()
    page.goto(f"{stack.registro_url}/registro")
    page.locator("#codigo_postal").fill("06700")
    expect(page.locator("#estado")).to_have_value("Ciudad de México")
    expect(page.locator("#cp-resultado")).to_contain_text("Ciudad de México")
    expect(page.locator("#colonia")).to_have_attribute("list", "cp-colonias")
    expect(page.locator("#cp-colonias option")).to_have_count(1)
    assert page.locator("#cp-colonias option").get_attribute("value") == "Roma Norte"
    expect(page.locator("#colonia")).to_have_value("Roma Norte")  # the only colonia of that CP
    expect(page.locator("#localidad")).to_have_attribute("list", "cp-localidades")
    assert_accessible(page, "formulario con sugerencias de código postal")
    # Submitting with JavaScript on is what every other browser journey does (their CP 44100 matches Jalisco);
    # registrations per client address are throttled, so this test spends none.


def test_without_javascript_the_form_works_and_a_cp_of_another_state_is_confirmed(browser, stack, mexican):
    context = browser.new_context(locale="es-MX", java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(f"{stack.registro_url}/registro")
        fill_registration(page, {**mexican, "estado": "Sonora", "codigo_postal": "06700"})
        page.get_by_role("button", name="Registrar").click()
        expect(page.locator("#cp_confirmado-error")).to_contain_text("pertenece a otra entidad federativa")
        expect(page.locator("#codigo_postal")).to_have_value("06700")  # nothing typed is lost
        page.locator("#cp_confirmado").check()
        page.get_by_role("button", name="Registrar").click()
        expect(page.locator("main")).to_contain_text("Se ha enviado un correo para confirmar su identificación.")
    finally:
        context.close()
