"""Issue 21, item 16: a reviewer may use a passkey ("llave de acceso", WebAuthn) as the second factor
instead of the authenticator app. The reviewer enrols one from the console ("Registrar llave de
acceso": Keycloak's application-initiated action `webauthn-register`) and at the next login chooses it
instead of the code. Chromium's virtual authenticator (DevTools protocol `WebAuthn`) plays the device.

Browsers refuse WebAuthn on an IP address ("This is an invalid domain"), and the local stacks tell
the console to send browsers to Keycloak at 127.0.0.1. So these tests serve the console (the same
application) on a port of their own, told to send browsers to that same Keycloak by the name
`localhost`, as a deployment's console names Keycloak by its hostname; the realm's rpId is empty, so
Keycloak takes it from that name. The console's client for that port is made by the test and
removed after it (Keycloak accepts a client's redirects only to the addresses it lists)."""
from __future__ import annotations

import re
import secrets
import threading
from types import SimpleNamespace
from urllib.parse import urlparse

import pytest
from playwright.sync_api import Page, expect
from werkzeug.serving import make_server

from keycloak_ext.provisioning import RealmProvisioner
from tests.e2e.conftest import assert_accessible
from tests.e2e.journeys import log_in, reviewer_logs_in
from tests.support.ports import unused_port
# `gateway` (which the reviewer fixture's make_account uses) now needs this one; tests/e2e/conftest.py
# does not import it yet (tests/integration/conftest.py is being changed by the database work).
from tests.integration.conftest import keycloak_gateway  # noqa: F401

PASSKEY = "Llave de acceso"
CONSOLE = "Validación de usuarios"


# --- the realm ----------------------------------------------------------------------------------
def _executions(kc_admin, flow: str) -> list[tuple[int, str, str]]:
    return [(e["level"], e.get("providerId") or e["displayName"], e["requirement"])
            for e in kc_admin.get_authentication_flow_executions(flow)]


def test_the_reviewers_second_factor_accepts_a_passkey_beside_the_code(kc_admin):
    """Provisioned as realm-config declares it: a reviewer with a factor chooses the code or the passkey;
    one without any (first login) enrols the authenticator app, as before."""
    assert kc_admin.get_realm("anam")["browserFlow"] == "navegador-anam"
    flow = _executions(kc_admin, "navegador-anam otp revisor")
    assert flow == [
        (0, "conditional-user-role", "REQUIRED"),
        (0, "navegador-anam segundo factor revisor", "REQUIRED"),
        (1, "navegador-anam llave o código", "CONDITIONAL"),
        (2, "conditional-user-configured", "REQUIRED"),
        (2, "auth-otp-form", "ALTERNATIVE"),
        (2, "webauthn-authenticator", "ALTERNATIVE"),
        (1, "navegador-anam alta del código", "CONDITIONAL"),
        (2, "conditional-sub-flow-executed", "REQUIRED"),
        (2, "auth-otp-form", "REQUIRED"),
    ], flow
    realm = kc_admin.get_realm("anam")
    assert realm["webAuthnPolicyRpEntityName"] == "Acceso Único ANAM"
    assert not realm.get("webAuthnPolicyRpId"), "vacío: Keycloak usa su propio nombre de host"
    assert realm["webAuthnPolicyUserVerificationRequirement"] == "preferred"
    assert kc_admin.get_required_action_by_alias("webauthn-register")["enabled"] is True
    assert RealmProvisioner(kc_admin).plan() == []


def test_provisioning_turns_passkey_registration_back_on(kc_admin):
    action = kc_admin.get_required_action_by_alias("webauthn-register")
    kc_admin.update_required_action("webauthn-register", {**action, "enabled": False})
    try:
        plan = [c.description for c in RealmProvisioner(kc_admin).plan()]
        assert plan == ["acción requerida webauthn-register: enabled"], plan
        RealmProvisioner(kc_admin).apply()
        assert kc_admin.get_required_action_by_alias("webauthn-register")["enabled"] is True
        assert RealmProvisioner(kc_admin).plan() == []
    finally:
        kc_admin.update_required_action("webauthn-register", {**action, "enabled": True})


# --- the browser ----------------------------------------------------------------------------------
@pytest.fixture
def console_by_name(kc_admin, stack, service_settings, unique):
    """The review console on its own port, sending browsers to Keycloak as `localhost`."""
    from registro import create_app

    kc = urlparse(stack.keycloak_url)
    keycloak = f"{kc.scheme}://localhost:{kc.port}"
    port = unused_port()
    url = f"http://127.0.0.1:{port}"
    client_id, secret = f"revision-console-llave-{unique}", secrets.token_urlsafe(24)
    kc_admin.create_client({
        "clientId": client_id, "secret": secret, "enabled": True, "protocol": "openid-connect",
        "publicClient": False, "standardFlowEnabled": True, "directAccessGrantsEnabled": False,
        "redirectUris": [f"{url}/revision/*"],
        "attributes": {"pkce.code.challenge.method": "S256", "post.logout.redirect.uris": f"{url}/revision/*"},
        "defaultClientScopes": ["basic", "profile", "email", "roles", "web-origins", "acr", "anam-perfil"]})
    settings = service_settings.with_changes(public_url=url, keycloak_public_url=keycloak,
                                             review_client_id=client_id, review_client_secret=secret)
    server = make_server("127.0.0.1", port, create_app({"SETTINGS": settings}), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield SimpleNamespace(registro_url=url, keycloak=keycloak)
    finally:
        server.shutdown()
        kc_admin.delete_client(kc_admin.get_client_id(client_id))


class Device:
    """A Chromium virtual authenticator, as a laptop's built-in one (internal transport, discoverable
    credentials, user verification by fingerprint that succeeds)."""

    def __init__(self, page: Page) -> None:
        self.cdp = page.context.new_cdp_session(page)
        self.cdp.send("WebAuthn.enable", {"enableUI": False})
        self.id = self.cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
            "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
            "hasUserVerification": True, "isUserVerified": True}})["authenticatorId"]

    def credentials(self) -> list[dict]:
        return self.cdp.send("WebAuthn.getCredentials", {"authenticatorId": self.id})["credentials"]

    def remove(self) -> None:
        self.cdp.send("WebAuthn.removeVirtualAuthenticator", {"authenticatorId": self.id})


def enrol_passkey(page: Page, console, reviewer, screens, device: Device) -> None:
    """First login with password and authenticator app, then "Registrar llave de acceso" in the console."""
    reviewer_logs_in(page, console, reviewer, screens)
    page.once("dialog", lambda dialog: dialog.accept("Laptop de la oficina"))  # Keycloak asks for a label
    page.get_by_role("link", name="Registrar llave de acceso").click()
    expect(page.get_by_role("heading", name="Registrar llave de acceso")).to_be_visible()
    assert page.url.startswith(console.keycloak), page.url
    assert_accessible(page, "registrar llave de acceso")
    screens.shot(page, "llave-alta")
    page.get_by_role("button", name="Registrar llave de acceso").click()
    expect(page.get_by_role("heading", name=CONSOLE)).to_be_visible()
    expect(page.locator("main")).to_contain_text("Se registró su llave de acceso.")
    assert len(device.credentials()) == 1


def log_out(page: Page, kc_admin, reviewer) -> None:
    page.get_by_role("button", name="Cerrar sesión").click()
    expect(page.locator("main")).to_contain_text("sesión")
    assert kc_admin.get_sessions(reviewer.id) == [], "la sesión de Keycloak terminó"


def to_second_factor(page: Page, console, reviewer) -> None:
    """Password accepted: Keycloak shows the code form (the factor registered first) with another way."""
    page.goto(f"{console.registro_url}/revision/")
    expect(page.get_by_role("heading", name="Bienvenido")).to_be_visible()
    log_in(page, reviewer.username, reviewer.password)
    expect(page.locator("#otp")).to_be_visible()


def choose_passkey(page: Page, screens) -> None:
    page.get_by_role("link", name="Usar otro método").click()
    expect(page.get_by_role("heading", name="Elija cómo confirmar su identidad")).to_be_visible()
    assert_accessible(page, "elegir el segundo factor")
    screens.shot(page, "elegir-metodo")
    page.get_by_role("button", name=re.compile(PASSKEY)).click()
    expect(page.get_by_role("heading", name="Inicio de sesión con llave de acceso")).to_be_visible()
    assert_accessible(page, "inicio de sesión con llave de acceso")
    page.get_by_role("button", name="Ingresar con llave de acceso").click()


@pytest.fixture
def passkey_page(new_page):
    page = new_page()
    return page, Device(page)


def test_reviewer_enrols_a_passkey_and_logs_in_with_it_instead_of_the_code(passkey_page, console_by_name, reviewer,
                                                                           kc_admin, screens):
    page, device = passkey_page
    enrol_passkey(page, console_by_name, reviewer, screens, device)
    types = sorted(c["type"] for c in kc_admin.get_credentials(reviewer.id))
    assert types == ["otp", "password", "webauthn"], types
    log_out(page, kc_admin, reviewer)

    codes_used = reviewer.last_counter
    to_second_factor(page, console_by_name, reviewer)
    choose_passkey(page, screens)
    expect(page.get_by_role("heading", name=CONSOLE)).to_be_visible()
    assert reviewer.last_counter == codes_used, "no se usó ningún código de la aplicación"
    screens.shot(page, "consola-con-llave")
    assert device.credentials()[0]["signCount"] >= 1, "la llave firmó el inicio de sesión"


def test_without_the_passkey_the_login_fails_and_the_code_still_works(passkey_page, console_by_name, reviewer,
                                                                      kc_admin, screens):
    page, device = passkey_page
    enrol_passkey(page, console_by_name, reviewer, screens, device)
    log_out(page, kc_admin, reviewer)

    device.remove()  # the laptop is not at hand: this browser's authenticator holds no passkey of the reviewer
    other = Device(page)
    to_second_factor(page, console_by_name, reviewer)
    choose_passkey(page, screens)
    expect(page.locator("body")).to_contain_text("No fue posible confirmar su identidad con la llave de acceso.")
    expect(page.get_by_role("heading", name=CONSOLE)).not_to_be_visible()
    assert other.credentials() == []
    assert_accessible(page, "error de la llave de acceso")
    screens.shot(page, "llave-ausente")

    page.get_by_role("link", name="Usar otro método").click()
    page.get_by_role("button", name=re.compile("Aplicación de autenticación")).click()
    page.locator("#otp").fill(reviewer.next_code())
    page.get_by_role("button", name=re.compile("Enviar|Ingresar")).click()
    expect(page.get_by_role("heading", name=CONSOLE)).to_be_visible()
