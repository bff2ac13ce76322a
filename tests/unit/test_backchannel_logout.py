"""Back-channel logout (issue 21, item 9): a logout token signed with the realm's key, for this
client, ends the console sessions of its Keycloak session; anything else is refused with 400 and
ends nothing. The realm's JWKS is a key made here, put where Authlib caches the real one."""
from __future__ import annotations

import time
import uuid

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from registro.adapters import oidc
from registro.adapters.logout_token import BACKCHANNEL_LOGOUT_EVENT
from registro.adapters.sessions import MemorySessions
from tests.unit.test_review_web import log_in

ISSUER = "http://keycloak.prueba/realms/anam"  # unit_settings(): keycloak_public_url + realm
REALM_KEY = RSAKey.generate_key(2048, parameters={"kid": "reino-1", "alg": "RS256", "use": "sig"})
URL = "/revision/backchannel-logout"


@pytest.fixture
def realm_jwks(app):
    client = oidc.client(app)
    client.server_metadata["jwks"] = KeySet([REALM_KEY]).as_dict(private=False)
    return client


def logout_token(key=REALM_KEY, drop=(), **claims) -> str:
    now = int(time.time())
    body = {"iss": ISSUER, "aud": "revision-console", "iat": now, "exp": now + 300, "jti": str(uuid.uuid4()),
            "sub": "id-ana", "sid": "kc-sesion-1", "typ": "Logout", "events": {BACKCHANNEL_LOGOUT_EVENT: {}},
            **claims}
    for name in drop:
        body.pop(name)
    return jwt.encode({"alg": "RS256", "kid": key.kid, "typ": "logout+jwt"}, body, key)


def session_alive(client) -> bool:
    return client.get("/revision/").status_code == 200


def test_a_valid_logout_token_ends_the_console_session_at_once(realm_jwks, client, fakes):
    log_in(client, fakes, sid="kc-sesion-1")
    assert session_alive(client)
    r = client.post(URL, data={"logout_token": logout_token()})  # no CSRF token: server to server
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    after = client.get("/revision/")
    assert after.status_code == 302 and after.location.endswith("/revision/login")


def test_it_ends_only_the_keycloak_session_it_names(realm_jwks, app, client, fakes):
    log_in(client, fakes, sid="kc-sesion-1")
    other_device = app.test_client()
    log_in(other_device, fakes, sid="kc-sesion-2")
    assert client.post(URL, data={"logout_token": logout_token()}).status_code == 200
    assert not session_alive(client)
    assert session_alive(other_device)


def test_a_token_with_only_sub_ends_every_session_of_the_account(realm_jwks, app, client, fakes):
    log_in(client, fakes, sid="kc-sesion-1")
    other_device = app.test_client()
    log_in(other_device, fakes, sid="kc-sesion-2")
    someone_else = app.test_client()
    log_in(someone_else, fakes, user_id="id-beto", sid="kc-sesion-3")
    assert client.post(URL, data={"logout_token": logout_token(drop=("sid",))}).status_code == 200
    assert not session_alive(client) and not session_alive(other_device)
    assert session_alive(someone_else)


OTHER_KEY = RSAKey.generate_key(2048, parameters={"kid": "reino-1"})  # same kid, not the realm's key


@pytest.mark.parametrize("token", [
    pytest.param(lambda: logout_token(key=OTHER_KEY), id="forged signature"),
    pytest.param(lambda: logout_token(aud="otro-cliente"), id="wrong aud"),
    pytest.param(lambda: logout_token(iss="http://keycloak.prueba/realms/otro"), id="wrong iss"),
    pytest.param(lambda: logout_token(drop=("events",)), id="missing events"),
    pytest.param(lambda: logout_token(events={"http://schemas.openid.net/event/otro": {}}), id="other event"),
    pytest.param(lambda: logout_token(nonce="n-0S6_WzA2Mj"), id="nonce present"),
    pytest.param(lambda: logout_token(drop=("sid", "sub")), id="neither sid nor sub"),
    pytest.param(lambda: logout_token(drop=("iat",)), id="missing iat"),
    pytest.param(lambda: logout_token(iat=int(time.time()) - 3600, exp=int(time.time()) + 60), id="issued an hour ago"),
    pytest.param(lambda: logout_token(iat=int(time.time()) + 3600), id="issued in the future"),
    pytest.param(lambda: "no.es.token", id="garbage"),
    pytest.param(lambda: "", id="empty"),
])
def test_a_bad_logout_token_is_refused_and_ends_nothing(realm_jwks, client, fakes, token):
    log_in(client, fakes, sid="kc-sesion-1")
    r = client.post(URL, data={"logout_token": token()})
    assert r.status_code == 400 and r.get_json()["error"] == "invalid_request"
    assert session_alive(client)


def test_an_unknown_key_id_fetches_the_jwks_once_more(realm_jwks, client, fakes, monkeypatch):
    """Keycloak rotated its keys: the cached JWKS lacks the new kid, the fresh one has it."""
    rotated = RSAKey.generate_key(2048, parameters={"kid": "reino-2"})
    fetched = []

    def refetch(force=False):
        fetched.append(force)
        keys = [REALM_KEY, rotated] if force else [REALM_KEY]
        return KeySet(keys).as_dict(private=False)

    monkeypatch.setattr(realm_jwks, "fetch_jwk_set", refetch)
    log_in(client, fakes, sid="kc-sesion-1")
    assert client.post(URL, data={"logout_token": logout_token(key=rotated)}).status_code == 200
    assert fetched == [False, True]
    assert not session_alive(client)


def test_memory_sessions_match_by_sid_and_sub():
    store = MemorySessions()
    a = store.create({"id": "u1", "sid": "s1"}, 60)
    b = store.create({"id": "u1", "sid": "s2"}, 60)
    c = store.create({"id": "u2", "sid": "s3"}, 60)
    assert store.end_matching(None, None) == 0
    assert store.end_matching("s1", "u2") == 0  # a sid of another account ends nothing
    assert store.end_matching("s1", "u1") == 1 and store.get(a) is None and store.get(b)
    assert store.end_matching(None, "u1") == 1 and store.get(b) is None
    assert store.get(c)


# --- the fallback: Keycloak sends no logout when an administrator resets a password --------------
def test_a_password_reset_after_login_ends_the_session_at_the_next_check(client, fakes):
    from tests.unit.test_console_access import staff

    account_id = staff(fakes)
    fakes.identity.set_temporary_password(account_id, "anterior-Segura-2026!")  # before the login: no effect
    session_id = log_in(client, fakes, user_id=account_id, verificado=0)  # re-checked at the next request
    assert session_alive(client)
    fakes.identity.set_temporary_password(account_id, "nueva-Segura-2026!")  # an administrator's reset
    assert session_alive(client)  # within the re-check interval the session stands
    fakes.console_sessions.update(session_id, {**fakes.console_sessions.get(session_id), "verificado": 0})
    after = client.get("/revision/")
    assert after.status_code == 302 and after.location.endswith("/revision/login")
    assert fakes.console_sessions.get(session_id) is None
