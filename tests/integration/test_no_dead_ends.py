"""Issue 11, item 16, against the real Keycloak: where every "log in" link of the service lands.
None may end in Keycloak's stock account console (raw attribute values, developer texts): each
leads to the ANAM portal's login (PORTAL_LOGIN_URL, the example module's in the local stacks)."""
from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlparse

import pytest
import requests

from keycloak_ext.catalog import USER_TYPES
from registro.config import Settings
from registro.review.service import login_url
from tests.support.captcha import ask_recovery
from tests.support.oidc import trust_loopback_cookies

pytestmark = pytest.mark.integration
NEW_PASSWORD = "Otra-Clave-2025!zz"


@pytest.fixture
def portal(stack) -> str:
    return Settings.from_env().portal_login_url


def hrefs(page: str) -> list[str]:
    return [html.unescape(h) for h in re.findall(r'href="([^"]+)"', page)]


def follow(session: requests.Session, url: str, stop_at: str | None = None) -> tuple[requests.Response, list[str]]:
    """Follows redirects by hand (Keycloak's loopback cookies need help); returns the last response and
    every URL visited."""
    visited = [url]
    r = session.get(url, allow_redirects=False, timeout=15)
    for _ in range(10):
        trust_loopback_cookies(session)
        if r.status_code not in (301, 302, 303) or (stop_at and visited[-1].startswith(stop_at)):
            break
        visited.append(requests.compat.urljoin(visited[-1], r.headers["Location"]))
        r = session.get(visited[-1], allow_redirects=False, timeout=15)
    return r, visited


def assert_lands_on_the_anam_login(session, url: str, stack) -> None:
    r, visited = follow(session, url)
    assert not any("/realms/anam/account" in u for u in visited), visited
    auth = next(u for u in visited if "/protocol/openid-connect/auth" in u)
    assert parse_qs(urlparse(auth).query)["client_id"] == ["modulo-ejemplo"]
    text = html.unescape(r.text)
    assert r.status_code == 200 and "Bienvenido" in text and "Registrarse" in text and "HACIENDA" in text


def test_recovery_pages_lead_to_the_portal_login(registro_app, portal, stack):
    client = registro_app.test_client()
    form = client.get("/recuperar").get_data(as_text=True)
    answer = ask_recovery(client, "nadie-conocido").get_data(as_text=True)
    for page in (form, answer):
        login = [h for h in hrefs(page) if h.startswith("http")]
        assert portal in login and not any("/account" in h for h in login)
    assert_lands_on_the_anam_login(requests.Session(), portal, stack)


def test_approval_email_link_leads_to_the_portal_login(portal, stack):
    assert login_url(Settings.from_env()) == portal
    assert_lands_on_the_anam_login(requests.Session(), portal, stack)


def test_account_console_is_replaced_by_a_spanish_page_leading_to_the_portal(portal, stack):
    r = requests.get(f"{stack.keycloak_url}/realms/anam/account", timeout=15)
    text = html.unescape(r.text)
    assert r.status_code == 200 and '<html lang="es-MX">' in text and "Mi cuenta" in text
    assert portal in hrefs(r.text) and f'url={portal}' in text
    # Nothing of the stock console: no script app, no raw values, no developer texts.
    assert "<script" not in text and "false" not in text
    assert not any(t.slug in text for t in USER_TYPES)


def _set_password_through(link: str, stack) -> tuple[requests.Session, requests.Response]:
    session = requests.Session()
    page, _ = follow(session, link)
    proceed = re.search(r'href="([^"]+)"[^>]*>\s*Haga clic aquí para continuar', page.text)
    if proceed:
        page, _ = follow(session, html.unescape(proceed.group(1)))
    action = html.unescape(re.search(r'<form[^>]*id="kc-passwd-update-form"[^>]*action="([^"]+)"', page.text).group(1))
    done = session.post(action, data={"password-new": NEW_PASSWORD, "password-confirm": NEW_PASSWORD},
                        allow_redirects=False)
    trust_loopback_cookies(session)
    return session, done


def _return_link(done: requests.Response) -> str:
    if done.status_code in (302, 303):
        return done.headers["Location"]
    back = re.search(r'href="([^"]+)"[^>]*>\s*(?:&laquo;\s*)?(?:Volver a la aplicación|Ir al portal de la ANAM)',
                     done.text)
    assert back, html.unescape(done.text)[:3000]
    return html.unescape(back.group(1))


@pytest.mark.parametrize("with_target", [True, False], ids=["recuperacion", "enlace-sin-cliente"])
def test_after_setting_a_password_the_way_back_is_the_portal(registro_app, gateway, make_account, mailbox, portal,
                                                              stack, unique, with_target):
    """Recovery asks Keycloak's email with the portal's client and address; the approval's `enlace`
    mode asks it without a client, which Keycloak fills with the `account` client: its base URL is the
    portal too."""
    email = f"vuelta-{unique}@example.com"
    account_id = make_account(username=f"vuelta{unique}", email=email, enabled=True, attributes={"estatus": "aprobado"})
    if with_target:
        target = registro_app.extensions["registro.adapters"].recovery.target
        gateway.send_actions_email(account_id, ["UPDATE_PASSWORD"], client_id=target.client_id,
                                   redirect_uri=target.redirect_uri)
    else:
        gateway.send_actions_email(account_id, ["UPDATE_PASSWORD"])
    message = mailbox.latest(email)
    link = html.unescape(re.search(r"(http\S+/login-actions/action-token\S+)", message.text).group(1))
    session, done = _set_password_through(link, stack)
    back = _return_link(done)
    assert back.rstrip("/") == portal.rstrip("/"), back
    r, visited = follow(session, back)
    assert not any("/realms/anam/account" in u for u in visited), visited
