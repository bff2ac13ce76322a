"""Password recovery in a real browser: the captcha solved in the page, Keycloak's email,
the new password, and a login with it (SPEC §8)."""
from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.e2e.conftest import assert_accessible
from tests.e2e.journeys import expect_module_greeting, links_in, log_in, open_module_login, set_new_password


def test_journey_password_recovery(page, stack, screens, mailbox, make_account, kc_admin, unique):
    email = f"recupera-{unique}@example.com"
    username = f"recupera-{unique}"
    account_id = make_account(username=username, email=email, enabled=True, role="transportista",
                              first_name="Rosa", last_name="Muñoz",
                              attributes={"tipo_usuario": "transportista", "es_extranjero": "false",
                                          "estatus": "aprobado"})
    kc_admin.update_user(account_id, {"emailVerified": True})
    kc_admin.set_user_password(account_id, "Anterior-Clave-2026!", temporary=False)

    open_module_login(page, stack, screens, keep_as="login")
    page.get_by_role("link", name="¿Olvidó su contraseña?").click()
    expect(page.get_by_role("heading", name="Recuperar contraseña")).to_be_visible()
    assert_accessible(page, "recuperar contraseña")
    page.get_by_role("textbox", name=re.compile(r"^Usuario")).fill(username)
    page.get_by_text("No soy un robot", exact=True).click()
    expect(page.locator("altcha-widget")).to_contain_text("Verificado", timeout=30_000)
    screens.shot(page, "recuperar", keep_as="recuperar")
    page.get_by_role("button", name="Enviar").click()

    expect(page.get_by_role("heading", name="Se ha enviado el restablecimiento de la contraseña")).to_be_visible()
    expect(page.locator("main")).to_contain_text(
        "Hemos enviado un correo con las instrucciones para configurar su contraseña, si una cuenta existe "
        "con el usuario que ingresó. Debería recibirlo pronto.")
    expect(page.locator("main")).to_contain_text(
        "Si no recibes un correo electrónico, asegúrate de que has introducido un usuario válido y comprueba "
        "tu carpeta de correo no deseado.")
    screens.shot(page, "recuperar-enviado")
    assert_accessible(page, "restablecimiento enviado")

    message = mailbox.latest(email, timeout_s=30)
    action_links = [u for u in links_in(message.text) if "action-token" in u or "login-actions" in u]
    assert action_links, f"el correo de Keycloak no trae el enlace: {message.text[:400]}"
    page.goto(action_links[0])
    expect(page.get_by_role("heading", name="Realice las siguientes acciones")).to_be_visible()
    assert_accessible(page, "acciones requeridas")
    page.get_by_role("link", name="Haga clic aquí para continuar").click()
    new_password = "Nueva-Clave-Segura-2026!"
    set_new_password(page, new_password, screens, "nueva-contrasena")

    open_module_login(page, stack, screens)
    log_in(page, username, new_password)
    expect_module_greeting(page, "Rosa", "Transportista")
    screens.shot(page, "modulo-saludo")
    assert_accessible(page, "módulo de ejemplo")
