"""The realm's login theme, fetched from the running Keycloak: Spanish texts, ANAM look, the two
links to the registro service (configured through REGISTRO_PUBLIC_URL), and the update-password
page a user meets at first login."""
from __future__ import annotations

import html
import re

import requests

from tests.support.oidc import open_login, pkce_pair, trust_loopback_cookies

CLIENT = "modulo-ejemplo"


def _text(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def _login_page(stack):
    _, challenge = pkce_pair()
    return open_login(stack.keycloak_url, CLIENT, f"{stack.modulo_url}/auth", challenge)


def test_login_page_is_the_anam_page_in_spanish(stack):
    page = _login_page(stack).response
    body = page.text
    text = _text(body)
    assert page.headers["Content-Language"] == "es"
    for expected in ("Bienvenido", "Usuario", "Contraseña", "Ingresar", "Registrarse", "¿Olvidó su contraseña?",
                     "HACIENDA", "ADUANAS"):
        assert expected in text, expected
    assert f'href="{stack.registro_url}/registro"' in body
    assert f'href="{stack.registro_url}/recuperar"' in body
    assert "Acceder a tu cuenta" not in text and "Sign in" not in text
    # The ANAM stylesheet is served by Keycloak from the theme folder.
    css = re.search(r'href="([^"]+/login/anam/css/anam\.css)"', body)
    assert css, "falta la hoja de estilos de ANAM"
    sheet = requests.get(stack.keycloak_url + css.group(1), timeout=10)
    assert sheet.status_code == 200 and "#691c32" in sheet.text and "#bc955c" in sheet.text


def test_wrong_password_message_is_spanish(stack):
    r = _login_page(stack).submit({"username": "nadie-existe", "password": "incorrecta"})
    assert "Usuario o contraseña incorrectos." in _text(r.text)


def test_update_password_page_at_first_login_is_spanish(stack, make_account, kc_admin, unique):
    account = make_account(enabled=True, attributes={"estatus": "aprobado"})
    kc_admin.set_user_password(account, "Temporal-2024-abc", temporary=True)
    username = f"prueba-{unique}-0"
    page = _login_page(stack)
    r = page.submit({"username": username, "password": "Temporal-2024-abc"})
    while r.status_code in (302, 303) and r.headers["Location"].startswith(stack.keycloak_url):
        trust_loopback_cookies(page.session)
        r = page.session.get(r.headers["Location"], allow_redirects=False, timeout=15)
    assert r.status_code == 200
    text = _text(r.text)
    for expected in ("Actualizar contraseña", "Nueva contraseña", "Confirme la contraseña",
                     "Debe cambiar su contraseña para activar su cuenta.", "Enviar"):
        assert expected in text, expected
    assert "Update password" not in text and "Modificar contraseña" not in text


def test_a_broken_action_link_gets_the_spanish_error_page(stack):
    """What a person meets when an emailed Keycloak link was cut or altered: the ANAM error page."""
    r = requests.get(f"{stack.keycloak_url}/realms/anam/login-actions/action-token",
                     params={"key": "no-es-un-token", "client_id": "account"}, timeout=15)
    text = _text(r.text)
    assert r.status_code == 400
    assert "Lo sentimos…" in text and "Ocurrió un error. Vuelva a iniciar sesión desde su aplicación." in text
    assert "HACIENDA" in text and "ADUANAS" in text
