"""The example module as an OIDC client of the real Keycloak: login through the ANAM login form,
greeting from the token's claims, a page restricted to one user type, logout."""
from __future__ import annotations

import os
from urllib.parse import parse_qs, urlparse

import pytest
import requests

from modulo_ejemplo import create_app
from modulo_ejemplo.config import ModuloSettings
from tests.support.oidc import LoginPage, trust_loopback_cookies

PASSWORD = "Modulo-Prueba-2024!"


@pytest.fixture
def modulo():
    settings = ModuloSettings.from_env({**os.environ, "MODULO_SECRET_KEY": "clave-modulo-pruebas"})
    return create_app({"SETTINGS": settings, "TESTING": True}).test_client()


def _user(make_account, kc_admin, unique, tipo: str, n: int) -> str:
    username = f"modulo-{unique}-{n}"
    account = make_account(username=username, enabled=True, role=tipo, first_name="Lucía",
                           attributes={"estatus": "aprobado", "tipo_usuario": tipo, "es_extranjero": "false",
                                       "curp": "PEPL800101MDFRRC09", "rfc": "PEPL800101AB1"})
    kc_admin.set_user_password(account, PASSWORD, temporary=False)
    return username


def _log_in(modulo, username: str) -> requests.Session:
    start = modulo.get("/entrar")
    assert start.status_code == 302
    auth_url = start.headers["Location"]
    query = parse_qs(urlparse(auth_url).query)
    assert query["code_challenge_method"] == ["S256"] and query["client_id"] == ["modulo-ejemplo"]
    session = requests.Session()
    page = session.get(auth_url, timeout=15)
    trust_loopback_cookies(session)
    assert "Bienvenido" in page.text
    back = LoginPage(session, page).submit({"username": username, "password": PASSWORD})
    callback = urlparse(back.headers["Location"])
    assert callback.path == "/auth", back.headers.get("Location")
    done = modulo.get(f"/auth?{callback.query}")
    assert done.status_code == 302 and done.headers["Location"].endswith("/perfil")
    return session


def test_home_offers_login_with_acceso_unico(modulo):
    body = modulo.get("/").get_data(as_text=True)
    assert "Iniciar sesión con Acceso Único" in body and "HACIENDA" in body and "ADUANAS" in body


def test_agent_sees_greeting_from_the_token_and_the_restricted_page(modulo, make_account, kc_admin, unique):
    browser = _log_in(modulo, _user(make_account, kc_admin, unique, "agente_aduanal", 0))
    profile = modulo.get("/perfil").get_data(as_text=True)
    assert "Bienvenido(a), Lucía" in profile
    assert '<dd id="tipo-usuario">Agente Aduanal</dd>' in profile
    assert "PEPL800101AB1" in profile and "PEPL800101MDFRRC09" in profile
    restricted = modulo.get("/agentes")
    assert restricted.status_code == 200 and "Página para Agente Aduanal" in restricted.get_data(as_text=True)

    out = modulo.get("/salir")
    location = urlparse(out.headers["Location"])
    assert out.status_code == 302 and location.path.endswith("/protocol/openid-connect/logout")
    assert "id_token_hint" in parse_qs(location.query)
    assert modulo.get("/perfil").status_code == 302  # the module's session is gone too
    # Keycloak ends its own session and sends the browser back to the module.
    ended = browser.get(out.headers["Location"], allow_redirects=False, timeout=15)
    assert ended.status_code == 302 and ended.headers["Location"].startswith(os.environ["MODULO_PUBLIC_URL"])
    again = browser.get(modulo.get("/entrar").headers["Location"], timeout=15)
    assert 'id="kc-form-login"' in again.text  # no single sign-on left: the login form again


def test_other_user_type_gets_403_in_spanish(modulo, make_account, kc_admin, unique):
    _log_in(modulo, _user(make_account, kc_admin, unique, "transportista", 1))
    assert '<dd id="tipo-usuario">Transportista</dd>' in modulo.get("/perfil").get_data(as_text=True)
    r = modulo.get("/agentes")
    assert r.status_code == 403
    assert "Acceso denegado" in r.get_data(as_text=True) and "Agente Aduanal" in r.get_data(as_text=True)


def test_restricted_page_sends_strangers_to_login(modulo):
    r = modulo.get("/agentes")
    assert r.status_code == 302 and r.headers["Location"].endswith("/entrar")
