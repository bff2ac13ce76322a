"""A foreign applicant who reads English (issue 14 §2): from the Spanish registration form to the
module, every applicant page and email in English, axe at zero violations on each page (lang
attributes included). The review console stays Spanish."""
from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import assert_accessible
from tests.e2e.journeys import (expect_module_greeting, fill_registration, links_in, reviewer_decides,
                                reviewer_logs_in, reviewer_opens, upload_document)
from tests.support.registration import foreign_form


@pytest.fixture
def english_page(browser):
    """A browser whose language is English (en-US), as a US carrier's staff would have."""
    context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900}, accept_downloads=True)
    context.set_default_timeout(20_000)
    violations: list[str] = []
    page = context.new_page()
    page.on("console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None)
    yield page
    context.close()
    assert not violations, "violaciones de CSP:\n" + "\n".join(violations)


def expect_lang(page: Page, lang: str) -> None:
    """The page's language, waiting for a navigation a click started (evaluating mid-navigation fails)."""
    expect(page.locator("html")).to_have_attribute("lang", lang)


def test_journey_foreign_applicant_in_english(english_page, new_page, stack, screens, mailbox, document_files,
                                              reviewer, unique):
    page = english_page
    email = f"carrier-{unique}@example.com"
    data = foreign_form(email=email, pasaporte=f"U{unique[:8].upper()}", tipo_usuario="transportista")

    # Spanish stays the default even for an English browser; the switch is on the page.
    page.goto(f"{stack.registro_url}/registro")
    expect_lang(page, "es-MX")
    page.get_by_role("link", name="English").click()
    expect_lang(page, "en")
    expect(page.get_by_role("heading", level=1)).to_have_text("User registration")
    expect(page.locator("main")).to_contain_text("Fields marked with (*) are required.")
    expect(page.get_by_label("Are you a foreign national?")).to_be_visible()
    screens.shot(page, "en-registro")
    assert_accessible(page, "registration form (English)")

    fill_registration(page, data)
    expect(page.get_by_label("Passport")).to_have_value(data["pasaporte"])
    page.get_by_role("button", name="Register").click()
    expect(page.locator("main")).to_contain_text(
        "An email has been sent to confirm your identity. If you do not receive it, press the button to send the "
        "email again.")
    expect_lang(page, "en")
    screens.shot(page, "en-registro-enviado")
    assert_accessible(page, "registration received (English)")

    # "Check my application" from the confirmation page.
    page.get_by_role("link", name="Check my application").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check my application")
    expect(page.locator("main")).to_contain_text("Application registered")
    expect(page.locator("main")).to_contain_text("Open the link in the confirmation email")
    assert_accessible(page, "status page (English)")

    # The confirmation email is in English and carries both links.
    message = mailbox.wait_for(email, 1, timeout_s=30)[-1]
    assert message.subject.startswith("Acceso Único ANAM: confirm your registration")
    assert "Dear John O'Brien-Smith" in message.text
    assert "Required documents: official ID and signed responsiva." in message.text
    assert any(name.endswith(".pdf") for name, _, _ in message.attachments())
    link = [u for u in links_in(message.text) if "/activacion/" in u][-1]
    status_link = [u for u in links_in(message.text) if "/consulta/" in u][-1]

    page.goto(link)
    expect(page.get_by_role("heading", name="Activating your account")).to_be_visible()
    expect_lang(page, "en")
    folio = re.search(r"Folio: (AU-\d{4}-\w+)", page.locator("main").inner_text()).group(1)
    expect(page.locator("main")).to_contain_text("Still to upload: Signed responsiva.")
    assert_accessible(page, "activation page (English)")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the responsiva (PDF)").click()
    assert download.value.suggested_filename.endswith(".pdf")
    upload_document(page, "responsiva_firmada", document_files["responsiva"], lang="en")
    upload_document(page, "identificacion", document_files["identificacion"], id_kind="documento_migratorio",
                    vigencia=(date.today() + timedelta(days=300)).isoformat(), lang="en")
    expect(page.locator("main")).to_contain_text("Your documents are complete.")
    screens.shot(page, "en-activacion-documentos")
    assert_accessible(page, "documents uploaded (English)")
    page.get_by_role("button", name="Submit for review").click()
    expect(page.locator("main")).to_contain_text("Your application is under review.")
    expect(page.locator("main")).to_contain_text(
        "Your documents will be reviewed and the result will be sent to you by email.")
    assert_accessible(page, "submitted (English)")

    page.goto(status_link)
    expect(page.locator("main")).to_contain_text("Under review since")
    expect(page.locator("main")).to_contain_text("There is nothing you need to do for now")

    # The review console stays Spanish.
    console = new_page()
    reviewer_logs_in(console, stack, reviewer, screens)
    expect_lang(console, "es-MX")
    reviewer_opens(console, folio, screens)
    reviewer_decides(console, "Aprobar", screens)
    expect(console.locator("main")).to_contain_text("Aprobado")

    message = mailbox.wait_for(email, 2, timeout_s=30)[-1]
    assert message.subject == "Acceso Único ANAM: your account has been approved"
    assert "Dear user, we are pleased to inform you that your registration has been completed successfully." in message.text
    username = re.search(r"Username: (\S+)", message.text).group(1)
    temporary = re.search(r"Temporary password: (\S+)", message.text).group(1)

    page.goto(status_link)
    expect(page.locator("main")).to_contain_text("Application approved")
    expect(page.locator("main")).not_to_contain_text(reviewer.username)
    assert_accessible(page, "status page approved (English)")

    # Keycloak's login and update-password pages, in English.
    page.goto(f"{stack.modulo_url}/")
    page.get_by_role("link", name="Iniciar sesión con Acceso Único").click()
    expect(page.get_by_role("heading", name="Welcome")).to_be_visible()
    expect_lang(page, "en")
    expect(page.get_by_role("link", name="Register")).to_have_attribute("href", f"{stack.registro_url}/registro?lang=en")
    expect(page.get_by_role("link", name="Forgot your password?")).to_have_attribute(
        "href", f"{stack.registro_url}/recuperar?lang=en")
    screens.shot(page, "en-login")
    assert_accessible(page, "Keycloak login (English)")
    page.get_by_label("Username", exact=True).fill(username)
    page.get_by_label("Password", exact=True).fill(temporary)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Update password")).to_be_visible()
    expect_lang(page, "en")
    assert_accessible(page, "Keycloak update password (English)")
    page.get_by_label("New password", exact=True).fill("Carrier-Clave-2026!")
    page.get_by_label("Confirm the password", exact=True).fill("Carrier-Clave-2026!")
    page.get_by_role("button", name="Submit").click()
    expect_module_greeting(page, "John", "Transportista")
