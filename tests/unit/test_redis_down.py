"""Redis holds only what may be lost (issue 20): with it unreachable, rate limits count in this
process's memory (with a warning), the console asks the reviewer to log in again, a submission goes
on without its queue entry, and /health/ready says "degradado" with a 200 — never a 5xx.

"Unreachable" is the real Redis adapters pointed at a local port nobody listens on (refused at
once): the same exceptions as a stopped Redis, without a server. Redis stopped and started again
under a running stack is tests/integration/test_redis_down.py.
"""
from __future__ import annotations

import logging
import re
from dataclasses import replace

import pytest

from registro import create_app
from registro.adapters.sessions import RedisSessions
from registro.container import Adapters
from registro.extensions import limiter
from tests.support import review_data as data
from tests.support.applications import create_application, path_of, submit, upload_valid_documents
from tests.support.ports import unused_port
from tests.support.registration import mexican_form, post_registration
from tests.unit.conftest import unit_settings


@pytest.fixture
def dead_redis() -> str:
    return f"redis://127.0.0.1:{unused_port()}/0"


@pytest.fixture(autouse=True)
def limiter_state_of_this_test_only():
    """The limiter is one module-level object bound to every app of the session; the in-memory mode
    a test switches it to must not leak into the next app (its own recovery probe comes seconds later)."""
    yield
    limiter._storage_dead = False


@pytest.fixture
def redis_down_app(dead_redis: str, fakes: Adapters):
    """`redis_down_app(**settings) -> (app, adapters)`: the service with the unit fakes, and every Redis
    part (limits, sessions) on an unreachable Redis (the queue is SQL: review/queue.py)."""
    return lambda **changes: _redis_down_app(dead_redis, fakes, **changes)


def _redis_down_app(dead_redis: str, fakes: Adapters, **changes):
    settings = unit_settings(redis_url=dead_redis, ratelimit_storage_uri=dead_redis, **changes)
    # No console_sessions: built from REDIS_URL, i.e. the real RedisSessions.
    fakes = replace(fakes, console_sessions=None)
    app = create_app({"SETTINGS": settings, "ADAPTERS": fakes, "TESTING": True})
    assert isinstance(app.extensions["registro.adapters"].console_sessions, RedisSessions)
    return app, fakes


def main_text(response) -> str:
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


# --- rate limits ------------------------------------------------------------------------------------
def test_limits_fall_back_to_process_memory_with_a_warning_and_still_hold(redis_down_app, caplog):
    app, fakes = redis_down_app(registration_limits="2 per hour")
    client = app.test_client()
    curp = "PENA800101MJCXXX01"  # the form refuses it: the limit counts every POST all the same
    with caplog.at_level(logging.WARNING):
        answers = [post_registration(client, mexican_form(curp=curp)).status_code for _ in range(3)]
    assert answers == [200, 200, 429], "the same limits, counted in this process"
    fallback = [r for r in caplog.records if r.name == "flask-limiter" and r.levelno == logging.WARNING]
    assert [r.getMessage() for r in fallback] == ["Rate limit storage unreachable - falling back to in-memory storage"]
    assert not any(curp in r.getMessage() or "127.0.0.1" in r.getMessage() for r in caplog.records)


def test_a_registration_succeeds_with_redis_down(redis_down_app):
    app, fakes = redis_down_app()
    r = post_registration(app.test_client(), mexican_form())
    assert r.status_code == 302, main_text(r)[:500]
    assert len(fakes.identity.accounts) == 1 and fakes.mailer.sent


# --- console sessions -------------------------------------------------------------------------------
def with_session_cookie(client, session_id: str = "una-sesion-guardada-en-redis") -> None:
    with client.session_transaction() as s:
        s["consola"] = session_id


def test_console_pages_ask_to_log_in_again_instead_of_a_5xx(redis_down_app):
    app, fakes = redis_down_app()
    pending = data.create_pending(fakes.identity, fakes.storage)
    client = app.test_client()
    with_session_cookie(client)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', client.get("/registro").get_data(as_text=True))[1]
    for method, path in (("get", "/revision/"), ("get", f"/revision/{pending.id}"), ("get", "/supervision/"),
                         ("post", f"/revision/{pending.id}/reservar"), ("get", "/revision/login")):
        kwargs = {"data": {"csrf_token": token}} if method == "post" else {}
        r = getattr(client, method)(path, **kwargs)
        assert r.status_code == 303 and r.location.endswith("/revision/sesion-interrumpida"), (path, r.status_code)
    page = client.get("/revision/sesion-interrumpida")
    text = main_text(page)
    assert page.status_code == 200 and 'lang="es-MX"' in text
    assert "Sesión interrumpida" in text and "Vuelva a iniciar sesión" in text and 'href="/revision/login"' in text
    assert "Traceback" not in text and "Redis" not in text


def test_login_callback_with_redis_down_asks_to_log_in_again(redis_down_app, monkeypatch):
    from registro.review import console_auth

    class Keycloak:  # what Authlib hands back after a valid code exchange
        def authorize_access_token(self):
            return {"id_token": "x", "userinfo": {"sub": "id-ana", "preferred_username": "ana.revisora",
                                                   "given_name": "Ana", "realm_roles": ["revisor"]}}

    monkeypatch.setattr(console_auth.oidc, "client", lambda app: Keycloak())
    app, _ = redis_down_app()
    r = app.test_client().get("/revision/callback?code=c&state=s")
    assert r.status_code == 303 and r.location.endswith("/revision/sesion-interrumpida")


def test_logout_with_redis_down_still_leaves_keycloak_and_forgets_the_cookie(redis_down_app, caplog):
    app, _ = redis_down_app()
    client = app.test_client()
    with_session_cookie(client)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', client.get("/registro").get_data(as_text=True))[1]
    with caplog.at_level(logging.WARNING):
        r = client.post("/revision/salir", data={"csrf_token": token})
    assert r.status_code == 302 and "/protocol/openid-connect/logout" in r.location
    with client.session_transaction() as s:
        assert "consola" not in s
    assert any("la sesión guardada caduca sola" in rec.getMessage() for rec in caplog.records)


# --- the queue ---------------------------------------------------------------------------------------
def test_a_submission_reaches_the_queue_with_redis_down(redis_down_app):
    app, fakes = redis_down_app()
    client = app.test_client()
    account_id, link = create_application(fakes.identity, fakes.storage, app.extensions["registro.settings"],
                                          status="pendiente_documentos")
    client.get(path_of(link))
    upload_valid_documents(client, link)
    assert submit(client, link).status_code == 303
    assert fakes.identity.get_account(account_id).attr("estatus") == "en_revision"
    # The queue is read from the record, not from Redis: nothing to rebuild later.
    assert fakes.queue_index.all_ids() == [account_id]


# --- readiness --------------------------------------------------------------------------------------
def test_ready_reports_redis_down_as_a_warning_with_a_200(redis_down_app):
    app, fakes = redis_down_app()
    client = app.test_client()
    for path in ("/health/ready", "/salud/lista"):
        r = client.get(path)
        body = r.get_json()
        assert r.status_code == 200 and body["estado"] == "degradado"
        assert body["servicios"] == {"keycloak": "ok", "s3": "ok", "smtp": "ok", "redis": "no disponible"}
        assert [w for w in body["advertencias"] if w.startswith("Redis no disponible")]
    fakes.identity.down = True  # a required part down still makes the replica unready
    r = client.get("/health/ready")
    assert r.status_code == 503 and r.get_json()["servicios"]["keycloak"] == "no disponible"
