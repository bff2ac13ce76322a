"""Steps a person takes, shared by the browser journeys: each checks what the person sees."""
from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.e2e.conftest import Screens, assert_accessible

LINK = re.compile(r"https?://[^\s\"'<>]+")


def links_in(text: str) -> list[str]:
    return [m.rstrip(".,)") for m in LINK.findall(text)]


def open_module_login(page: Page, stack, screens: Screens, keep_as: str | None = None) -> None:
    """From the example module to the realm's themed login page."""
    page.goto(f"{stack.modulo_url}/")
    page.get_by_role("link", name="Iniciar sesión con Acceso Único").click()
    expect(page.get_by_role("heading", name="Bienvenido")).to_be_visible()
    expect(page.get_by_label("Usuario", exact=True)).to_be_visible()
    expect(page.get_by_label("Contraseña", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Ingresar")).to_be_visible()
    expect(page.get_by_role("link", name="Registrarse")).to_have_attribute("href", f"{stack.registro_url}/registro")
    expect(page.get_by_role("link", name="¿Olvidó su contraseña?")).to_have_attribute(
        "href", f"{stack.registro_url}/recuperar")
    screens.shot(page, "login", keep_as=keep_as)
    assert_accessible(page, "página de inicio de sesión")


def log_in(page: Page, username: str, password: str) -> None:
    page.get_by_label("Usuario", exact=True).fill(username)
    page.get_by_label("Contraseña", exact=True).fill(password)
    page.get_by_role("button", name="Ingresar").click()


def set_new_password(page: Page, password: str, screens: Screens, name: str) -> None:
    """Keycloak's update-password page (forced change or set-password link), in Spanish."""
    expect(page.get_by_role("heading", name="Actualizar contraseña")).to_be_visible()
    screens.shot(page, name)
    assert_accessible(page, "actualizar contraseña")
    page.get_by_label("Nueva contraseña", exact=True).fill(password)
    page.get_by_label("Confirme la contraseña", exact=True).fill(password)
    page.get_by_role("button", name="Enviar").click()


def expect_module_greeting(page: Page, nombre: str, tipo_label: str) -> None:
    expect(page.locator("main")).to_contain_text(nombre)
    expect(page.locator("main")).to_contain_text(tipo_label)
