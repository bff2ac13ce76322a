"""Issue 11, item 16 (unit part): every "Iniciar sesión" the service shows or sends leads to the
ANAM portal's login (PORTAL_LOGIN_URL), never to Keycloak's account console. Where each link lands
in the real Keycloak: tests/integration/test_no_dead_ends.py."""
from __future__ import annotations

import re

from registro.config import Settings
from registro.container import adapters
from tests.support.captcha import ask_recovery
from tests.unit.conftest import unit_settings

PORTAL = "http://portal.prueba/entrar"


def links(html: str) -> list[str]:
    return re.findall(r'href="([^"]+)"', html)


def test_recovery_pages_lead_to_the_portal(client):
    form = client.get("/recuperar").get_data(as_text=True)
    answer = ask_recovery(client, "PEPJ800101ABC").get_data(as_text=True)
    for page in (form, answer):
        assert PORTAL in links(page)
        assert not any("/account" in href for href in links(page))


def test_set_password_link_returns_to_the_portal(app):
    with app.app_context():
        target = adapters().recovery.target
    assert (target.client_id, target.redirect_uri) == ("portal", PORTAL)


def test_approval_email_links_to_the_portal():
    from registro.review.service import login_url
    assert login_url(unit_settings()) == PORTAL


def test_portal_defaults_to_the_configured_module_login():
    s = Settings.from_env({"APP_ENV": "local", "REGISTRO_SECRET_KEY": "x", "MODULO_PUBLIC_URL": "http://modulo.local:5001/"})
    assert (s.portal_login_url, s.portal_client_id) == ("http://modulo.local:5001/entrar", "modulo-ejemplo")
    s = Settings.from_env({"APP_ENV": "local", "REGISTRO_SECRET_KEY": "x", "PORTAL_LOGIN_URL": "https://portal.anam.gob.mx/entrar",
                           "PORTAL_CLIENT_ID": "portal-anam"})
    assert (s.portal_login_url, s.portal_client_id) == ("https://portal.anam.gob.mx/entrar", "portal-anam")


def test_make_run_prints_the_portal_login(tmp_path):
    from tools.stack.profiles import Profile
    from tools.stack.runner import Stack

    profile = Profile.named("run", {"STACK_DIR": str(tmp_path)})
    urls = dict(Stack(profile).urls())
    login = next(v for k, v in urls.items() if k.startswith("Inicio de sesión"))
    assert login.endswith("/entrar") and "/account" not in login


def test_enlace_mode_asks_keycloak_for_the_portal_as_the_way_back(app, fakes, monkeypatch):
    """Without a client Keycloak's "account updated" page offers no way forward (or the console)."""
    from registro.review.leases import Reviewer
    from registro.review.service import ReviewService, documents_digest, round_id
    from tests.support import review_data as data

    asked = []
    original = fakes.identity.send_actions_email
    monkeypatch.setattr(fakes.identity, "send_actions_email",
                        lambda account_id, actions, **kw: (asked.append(kw), original(account_id, actions, **kw)))
    with app.test_request_context():
        service = ReviewService(fakes.identity, fakes.storage, app.extensions["registro.adapters"].outbox,
                                unit_settings(credentials_mode="enlace"), leases=fakes.review_leases,
                                decisions=fakes.decisions, audit=fakes.audit)
        pending = data.create_pending(fakes.identity, fakes.storage)
        reviewer = Reviewer("id-ana", "ana.revisora")
        service.claim(pending.id, reviewer)
        current = service.application(pending.id)
        service.approve(pending.id, reviewer, round_seen=round_id(current), digest_seen=documents_digest(current))
    assert asked and asked[0]["client_id"] == "portal" and asked[0]["redirect_uri"] == PORTAL


def test_realm_sends_keycloaks_way_back_to_anam_pages():
    """Keycloak's "Volver a la aplicación" uses a client's base URL: every client a person meets has
    an ANAM page there, and the built-in account clients point to the portal's login."""
    from keycloak_ext.realm_files import BUILT_IN_CLIENTS, load_realm, render_import

    env = {"PORTAL_LOGIN_URL": "https://portal.anam.example/entrar", "MODULO_PUBLIC_URL": "https://modulo.example",
           "REGISTRO_PUBLIC_URL": "https://registro.example"}
    realm = load_realm(env=env)
    base = {c["clientId"]: c.get("baseUrl") for c in realm["clients"]}
    assert base["account"] == base["account-console"] == "https://portal.anam.example/entrar"
    assert base["modulo-ejemplo"] == "https://modulo.example/"
    assert base["revision-console"] == "https://registro.example/revision/"
    assert realm["accountTheme"] == "anam"
    # Partial entries for built-in clients would replace them on import: provisioning applies them.
    assert not {c["clientId"] for c in render_import()["clients"]} & set(BUILT_IN_CLIENTS)
