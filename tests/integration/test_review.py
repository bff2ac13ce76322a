"""The review console against the real Keycloak (login form + OTP), S3 (conditional writes) and
the mail catcher (SPEC §7)."""
from __future__ import annotations

import json
import logging
import re
import threading
from urllib.parse import parse_qs, urlparse

import pytest
import requests

from registro import create_app
from registro.adapters.storage import S3Store
from registro.config import Settings
from registro.platform.db import Database
from registro.kernel.audit import PgAuditLog
from registro.review.leases import LeaseHeld, Leases, PgLeaseStore, Reviewer
from tests.support import oidc
from tests.support import review_data as data
from tests.support.reviewer import (PASSWORD, ReviewerAccount, console_login, form_fields, keycloak_steps, post_form,
                                     within_keycloak)

pytestmark = pytest.mark.integration


# --- fixtures -----------------------------------------------------------------------------------
@pytest.fixture
def settings() -> Settings:
    return Settings.from_env()


@pytest.fixture
def store(settings):
    return S3Store(settings.s3)


@pytest.fixture
def audit(settings) -> PgAuditLog:
    """The audit trail's table in the stack's registro database."""
    return PgAuditLog(Database.shared(settings.database_url))


def make_console(settings: Settings, **changes):
    return create_app({"SETTINGS": settings.with_changes(**changes), "TESTING": True})


@pytest.fixture
def review_app(settings):
    return make_console(settings)


@pytest.fixture
def new_reviewer(make_account, kc_admin, unique):
    def make(role: str | None = "revisor") -> ReviewerAccount:
        username = f"revisor-{unique}-{len(created)}"
        account_id = make_account(username=username, role=role, enabled=True, first_name="Rita",
                                  last_name="Revisora")
        kc_admin.update_user(account_id, {"emailVerified": True})
        kc_admin.set_user_password(account_id, PASSWORD, temporary=False)
        reviewer = ReviewerAccount(id=account_id, username=username)
        created.append(reviewer)
        return reviewer

    created: list[ReviewerAccount] = []
    return make


@pytest.fixture
def console(review_app, new_reviewer):
    """A test client with a reviewer logged in (OTP enrolled on the way)."""
    reviewer = new_reviewer()
    client = review_app.test_client()
    r = console_login(client, reviewer)
    assert r.status_code == 302 and r.location.endswith("/revision/"), (r.status_code, r.get_data(as_text=True)[:500])
    client.reviewer = reviewer
    return client



def claim(client, account_id: str):
    r = post_form(client, account_id, "reservar")
    assert r.status_code == 303
    return r


# --- login ----------------------------------------------------------------------------------------
def test_anonymous_is_sent_to_keycloak_login_with_pkce(review_app, settings):
    client = review_app.test_client()
    r = client.get("/revision/")
    assert r.status_code == 302 and r.location.endswith("/revision/login")
    r = client.get("/revision/login")
    assert r.status_code == 302
    target = urlparse(r.location)
    query = parse_qs(target.query)
    assert r.location.startswith(f"{settings.keycloak_public_url}/realms/anam/protocol/openid-connect/auth")
    assert query["client_id"] == ["revision-console"]
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) >= 43
    assert query["redirect_uri"] == [f"{settings.public_url}/revision/callback"]
    assert client.get("/revision/00000000-0000-0000-0000-000000000000").status_code == 302


def test_reviewer_logs_in_with_password_and_otp_then_logout_ends_the_keycloak_session(review_app, new_reviewer):
    reviewer = new_reviewer()
    client = review_app.test_client()
    r = console_login(client, reviewer)  # first login: Keycloak makes the reviewer enrol an OTP app
    assert r.status_code == 302 and r.location.endswith("/revision/")
    assert reviewer.totp_secret, "Keycloak exige configurar el segundo factor al revisor"
    queue = client.get("/revision/")
    assert queue.status_code == 200
    body = queue.get_data(as_text=True)
    assert "Validación de usuarios" in body and reviewer.username in body
    cookie = client.get_cookie("session")
    assert cookie.http_only and cookie.same_site == "Lax"

    out = client.post("/revision/salir", data={"csrf_token": form_fields(body, "salir")["csrf_token"]})
    assert out.status_code == 302
    logout = parse_qs(urlparse(out.location).query)
    assert out.location.startswith(review_app.extensions["registro.settings"].keycloak_public_url)
    assert logout["id_token_hint"] and logout["post_logout_redirect_uri"][0].endswith("/revision/sesion-cerrada")
    back = reviewer.browser.get(out.location, allow_redirects=False, timeout=15)
    assert back.status_code == 302 and "/revision/sesion-cerrada" in back.headers["Location"]
    assert client.get("/revision/").status_code == 302  # the console session is gone

    # The Keycloak session ended too: logging in again asks for the password, then the OTP form.
    start = client.get("/revision/login")
    page = reviewer.browser.get(start.location, allow_redirects=False, timeout=15)
    assert page.status_code == 200 and 'name="password"' in page.text
    again = keycloak_steps(oidc.LoginPage(reviewer.browser, page), reviewer, reviewer.username, reviewer.password)
    assert again.status_code == 302 and "code=" in again.headers["Location"]


def test_revocation_in_keycloak_and_logout_end_the_console_session(settings, new_reviewer, kc_admin):
    """Issue 11 §5: the role and the account are re-checked against Keycloak (here at every request),
    and logout ends the session server-side, so a cookie copied before it opens nothing."""
    app = make_console(settings, console_recheck_s=0)
    removed, disabled, leaving = new_reviewer(), new_reviewer(), new_reviewer()
    clients = {}
    for reviewer in (removed, disabled, leaving):
        clients[reviewer.id] = app.test_client()
        assert console_login(clients[reviewer.id], reviewer).status_code == 302
        assert clients[reviewer.id].get("/revision/").status_code == 200
    role = kc_admin.get_realm_role("revisor")
    kc_admin.delete_realm_roles_of_user(removed.id, [role])
    assert clients[removed.id].get("/revision/").status_code == 302
    kc_admin.update_user(disabled.id, {"enabled": False})
    assert clients[disabled.id].get("/revision/").status_code == 302

    client = clients[leaving.id]
    copied = app.test_client()
    copied.set_cookie("session", client.get_cookie("session").value)
    assert copied.get("/revision/").status_code == 200
    body = client.get("/revision/").get_data(as_text=True)
    assert client.post("/revision/salir", data={"csrf_token": form_fields(body, "salir")["csrf_token"]}).status_code == 302
    assert copied.get("/revision/").status_code == 302


def test_wrong_otp_code_is_refused(review_app, new_reviewer):
    reviewer = new_reviewer()
    console_login(review_app.test_client(), reviewer)  # enrols
    client = review_app.test_client()
    browser = requests.Session()
    page = browser.get(client.get("/revision/login").location, timeout=15)
    oidc.trust_loopback_cookies(browser)
    r = oidc.LoginPage(browser, page).submit({"username": reviewer.username, "password": reviewer.password})
    assert r.status_code == 200 and 'name="otp"' in r.text
    wrong = str((int(reviewer.next_code()) + 1) % 1_000_000).zfill(6)
    r = oidc.LoginPage(browser, r).submit({"otp": wrong})
    assert r.status_code == 200 and 'name="otp"' in r.text  # still on the OTP form, no code issued


def test_a_supervisor_without_the_reviewer_role_also_logs_in_with_a_second_factor(review_app, new_reviewer):
    """The supervisor's console (figures, the decisions' CSV) is staff's too: a supervisor-only account enrols
    and then gives its code like a reviewer (it once logged in with the password alone)."""
    supervisor = new_reviewer(role="supervisor")
    client = review_app.test_client()
    r = console_login(client, supervisor)
    assert supervisor.totp_secret, "Keycloak exige configurar el segundo factor al supervisor"
    assert r.status_code == 302 and r.location.endswith("/supervision/")
    assert client.get("/supervision/").status_code == 200
    browser = requests.Session()
    page = browser.get(review_app.test_client().get("/revision/login").location, timeout=15)
    oidc.trust_loopback_cookies(browser)
    r = oidc.LoginPage(browser, page).submit({"username": supervisor.username, "password": supervisor.password})
    assert r.status_code == 200 and 'name="otp"' in r.text  # the password alone issues no code


def test_user_without_revisor_role_is_refused(review_app, new_reviewer):
    outsider = new_reviewer(role="agente_aduanal")
    client = review_app.test_client()
    r = console_login(client, outsider)  # no OTP for non-reviewers
    assert r.status_code == 403
    assert "no tiene el rol de revisor" in r.get_data(as_text=True)
    assert client.get("/revision/").status_code == 302


# --- queue ------------------------------------------------------------------------------------
def test_queue_lists_oldest_first_with_counts_and_filters(console, pending):
    newer = pending(fecha_envio="2000-01-02T00:00:00+00:00", tipo_usuario="transportista")
    older = pending(fecha_envio="2000-01-01T00:00:00+00:00", foreign=True, tipo_usuario="transportista")
    body = console.get("/revision/?tipo=transportista").get_data(as_text=True)
    assert body.index(older.folio) < body.index(newer.folio)
    body = console.get("/revision/?tipo=transportista&extranjero=si").get_data(as_text=True)
    assert older.folio in body and newer.folio not in body
    claim(console, newer.id)
    body = console.get("/revision/?tipo=transportista&reserva=reservadas").get_data(as_text=True)
    assert newer.folio in body and older.folio not in body and f"Reservada por {console.reviewer.username}" in body
    body = console.get("/revision/?tipo=transportista&reserva=libres").get_data(as_text=True)
    assert older.folio in body and newer.folio not in body
    assert re.search(r"Transportista \((\d+)\)", body) and int(re.search(r"Transportista \((\d+)\)", body).group(1)) >= 2


# --- claims -----------------------------------------------------------------------------------
def test_two_reviewers_claiming_at_the_same_instant_exactly_one_wins(pending, settings):
    apps = [pending(with_documents=False) for _ in range(5)]
    for app in apps:
        leases = Leases(PgLeaseStore(Database.shared(settings.database_url)), settings.claim_lease_s)
        barrier = threading.Barrier(2)
        results: dict[str, object] = {}

        def attempt(who: str) -> None:
            barrier.wait()
            try:
                results[who] = leases.claim(app.id, Reviewer(who, who))
            except LeaseHeld as held:
                results[who] = held

        threads = [threading.Thread(target=attempt, args=(w,)) for w in ("revisor-a", "revisor-b")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        winners = [w for w, r in results.items() if not isinstance(r, LeaseHeld)]
        assert len(winners) == 1, results
        loser = next(r for r in results.values() if isinstance(r, LeaseHeld))
        assert loser.lease.holder_id == winners[0]
        assert leases.current(app.id).holder_id == winners[0]


def test_expired_lease_can_be_taken_over_and_the_old_holder_cannot_release_it(pending, settings):
    from tests.support.review_contract import expire_pg_lease

    db = Database.shared(settings.database_url)
    app = pending(with_documents=False)
    leases = Leases(PgLeaseStore(db), 1800)
    a, b = Reviewer("a", "revisor-a"), Reviewer("b", "revisor-b")
    leases.claim(app.id, a)
    with pytest.raises(LeaseHeld):
        leases.claim(app.id, b)
    expire_pg_lease(db, app.id)  # its 1800 s have passed (by the database's clock)
    assert leases.claim(app.id, b).holder_id == "b"
    assert leases.release(app.id, a) is False
    assert leases.current(app.id).holder_id == "b"
    assert leases.release(app.id, b) is True
    assert leases.claim(app.id, a).holder_id == "a"  # a released lease is free again


def test_decision_needs_the_lease_and_another_reviewer_cannot_decide(review_app, console, new_reviewer, pending,
                                                                        mailbox):
    app = pending()
    other = review_app.test_client()
    console_login(other, new_reviewer())
    page = console.get(f"/revision/{app.id}").get_data(as_text=True)
    assert "primero reserve la solicitud" in page
    claim(console, app.id)
    fields = form_fields(console.get(f"/revision/{app.id}").get_data(as_text=True), "aprobar")
    r = other.post(f"/revision/{app.id}/reservar",
                   data={"csrf_token": form_fields(other.get(f"/revision/{app.id}").get_data(as_text=True),
                                                   "salir")["csrf_token"]})
    assert r.status_code == 303
    assert f"reservada por {console.reviewer.username}" in other.get(r.location).get_data(as_text=True)
    token = form_fields(other.get(f"/revision/{app.id}").get_data(as_text=True), "salir")["csrf_token"]
    r = other.post(f"/revision/{app.id}/aprobar", data={**fields, "csrf_token": token})
    assert r.status_code == 303
    assert "primero reserve la solicitud" in other.get(r.location).get_data(as_text=True)
    assert mailbox.messages_to(app.email) == []


# --- decisions --------------------------------------------------------------------------------
def _approve(console, app):
    claim(console, app.id)
    return post_form(console, app.id, "aprobar")


def test_approval_gives_the_role_to_an_account_registered_before_the_groups(console, pending, gateway, kc_admin):
    app = pending(tipo_usuario="transportista", role="none")  # neither the group nor a direct mapping
    assert "transportista" not in gateway.realm_roles_of(app.id)
    assert _approve(console, app).status_code == 303
    assert "transportista" in {r["name"] for r in kc_admin.get_realm_roles_of_user(app.id)}
    assert "transportista" in gateway.realm_roles_of(app.id)


def test_approve_temporal_sends_credentials_that_only_work_through_the_forced_change(
        console, pending, gateway, kc_admin, store, mailbox, settings, caplog, audit):
    app = pending(tipo_usuario="mandatario")
    caplog.set_level(logging.DEBUG)
    r = _approve(console, app)
    assert r.status_code == 303
    assert "Solicitud aprobada" in console.get(r.location).get_data(as_text=True)

    message = mailbox.latest(app.email)
    assert "Estimado usuario le informamos que el proceso de alta finalizó con éxito" in message.text
    assert f"Usuario: {app.username.upper()}" in message.text
    password = re.search(r"Contraseña temporal: (\S+)", message.text).group(1)
    assert len(password) >= 12
    assert password not in caplog.text

    account = gateway.get_account(app.id)
    assert account.enabled and account.attr("estatus") == "aprobado"
    assert "mandatario" in gateway.realm_roles_of(app.id)
    # Held through its user type's group: approval adds no redundant direct mapping.
    assert "mandatario" not in {r["name"] for r in kc_admin.get_realm_roles_of_user(app.id)}

    events = data.audit_events(audit, app.id)
    approve = [e for e in events if e["action"] == "aprobar"]
    assert len(approve) == 1
    e = approve[0]
    assert e["actor_id"] == console.reviewer.id and e["actor_username"] == console.reviewer.username
    assert e["status_before"] == "en_revision" and e["status_after"] == "aprobado" and e["at"]
    assert e["account_id"] == app.id
    assert e["documents_sha256"] == {k: v.sha256 for k, v in app.documents.items()}
    assert [x["action"] for x in events].count("reservar") == 1
    assert all(password not in json.dumps(e) for e in events)
    assert password not in json.dumps(account.attributes)

    # The temporary password works only through Keycloak's forced password change.
    redirect_uri = f"{settings.public_url}/revision/callback"
    verifier, challenge = oidc.pkce_pair()
    page = oidc.open_login(settings.keycloak_public_url, "revision-console", redirect_uri, challenge)
    r = within_keycloak(page.session, page.submit({"username": app.username, "password": password}))
    assert r.status_code == 200 and 'name="password-new"' in r.text, "Keycloak exige cambiar la contraseña"
    new_password = "Propia-Nueva-2026#"
    r = oidc.LoginPage(page.session, r).submit({"password-new": new_password, "password-confirm": new_password})
    tokens = oidc.exchange(settings.keycloak_public_url, "revision-console", settings.review_client_secret,
                           redirect_uri, oidc.code_from(r), verifier)
    claims = oidc.claims_of(tokens["access_token"])
    assert "mandatario" in claims["realm_roles"] and claims["tipo_usuario"] == "mandatario"

    detail = console.get(f"/revision/{app.id}").get_data(as_text=True)
    assert 'data-accion="aprobar"' in detail and "Aprobada" in detail


def test_approve_enlace_sends_keycloaks_set_password_link(settings, new_reviewer, pending, gateway, mailbox):
    client = make_console(settings, credentials_mode="enlace").test_client()
    reviewer = new_reviewer()
    console_login(client, reviewer)
    app = pending()
    claim(client, app.id)
    assert post_form(client, app.id, "aprobar").status_code == 303

    messages = mailbox.wait_for(app.email, 2)
    ours = next(m for m in messages if "finalizó con éxito" in m.text)
    assert f"Usuario: {app.username.upper()}" in ours.text and "Contraseña temporal" not in ours.text
    keycloak_mail = next(m for m in messages if m is not ours)
    link = re.search(r"https?://\S+/login-actions/action-token\?\S+", keycloak_mail.text).group(0)
    link = link.rstrip(".)>\"'")

    browser = requests.Session()
    r = browser.get(link, timeout=15)
    oidc.trust_loopback_cookies(browser)
    for _ in range(3):  # an information page ("proceed") may come before the form
        if 'name="password-new"' in r.text:
            break
        proceed = re.search(r'href="([^"]*login-actions/action-token[^"]*)"', r.text) \
            or re.search(r'href="([^"]*login-actions/required-action[^"]*)"', r.text)
        assert proceed, r.text[:1500]
        r = browser.get(proceed.group(1).replace("&amp;", "&"), timeout=15)
        oidc.trust_loopback_cookies(browser)
    new_password = "Enlace-Propio-2026#"
    r = oidc.LoginPage(browser, r).submit({"password-new": new_password, "password-confirm": new_password})
    assert r.status_code in (200, 302)

    tokens = oidc.login(settings.keycloak_public_url, "revision-console", settings.review_client_secret,
                        f"{settings.public_url}/revision/callback", app.username, new_password)
    assert oidc.claims_of(tokens["access_token"])["preferred_username"] == app.username
    assert gateway.get_account(app.id).enabled


def test_correction_round_trip_back_to_review_then_rejection(console, pending, gateway, mailbox, store, queue_index,
                                                             audit):
    app = pending()
    claim(console, app.id)
    page = console.get(f"/revision/{app.id}").get_data(as_text=True)
    fields = form_fields(page, "corregir")
    r = console.post(f"/revision/{app.id}/corregir", data={**fields, "motivos_identificacion": ["vencido", "ilegible"],
                                                           "comentario": "Suba la credencial vigente, por ambos lados."})
    assert r.status_code == 303

    account = gateway.get_account(app.id)
    assert account.attr("estatus") == "requiere_correccion" and not account.enabled
    motivos = json.loads(account.attr("motivos_correccion"))
    assert motivos["documentos"] == {"identificacion": ["vencido", "ilegible"]}
    assert motivos["comentario"] == "Suba la credencial vigente, por ambos lados." and motivos["fecha"]
    message = mailbox.latest(app.email)
    assert "El documento no está vigente." in message.text and "El documento no es legible." in message.text
    assert "Suba la credencial vigente" in message.text
    link = re.search(r"http\S+/activacion/\S+", message.text).group(0)
    assert link.startswith(Settings.from_env().public_url)

    # The applicant uploads again and sends: a new round appears in the queue.
    data.resubmit(gateway, app.id)
    assert app.folio in console.get("/revision/?tipo=agente_aduanal").get_data(as_text=True)
    claim(console, app.id)
    fields = form_fields(console.get(f"/revision/{app.id}").get_data(as_text=True), "rechazar")
    empty = console.post(f"/revision/{app.id}/rechazar", data={**fields, "motivo": "  "})
    assert empty.status_code == 400 and "Indique el motivo del rechazo." in empty.get_data(as_text=True)
    assert gateway.get_account(app.id).attr("estatus") == "en_revision"
    r = console.post(f"/revision/{app.id}/rechazar", data={**fields, "motivo": "La identificación no corresponde."})
    assert r.status_code == 303
    after = console.get(r.location).get_data(as_text=True)
    assert "Solicitud rechazada" in after, re.findall(r"class=\"aviso[^>]*>([^<]*)<", after)
    account = gateway.get_account(app.id)
    assert account.attr("estatus") == "rechazado" and not account.enabled
    rejection = mailbox.wait_for(app.email, 2)[-1]
    assert "fue rechazada" in rejection.text and "La identificación no corresponde." in rejection.text
    actions = [e["action"] for e in data.audit_events(audit, app.id)]
    assert actions.count("solicitar_correccion") == 1 and actions.count("rechazar") == 1


def test_double_post_makes_one_decision_and_one_email(console, pending, review_app, store, mailbox, gateway, audit):
    app = pending()
    claim(console, app.id)
    page = console.get(f"/revision/{app.id}").get_data(as_text=True)
    fields = form_fields(page, "aprobar")
    second = review_app.test_client()
    second.set_cookie("session", console.get_cookie("session").value)
    barrier = threading.Barrier(2)
    statuses = []

    def click(client) -> None:
        barrier.wait()
        statuses.append(client.post(f"/revision/{app.id}/aprobar", data=fields).status_code)

    threads = [threading.Thread(target=click, args=(c,)) for c in (console, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [303, 303]
    again = console.post(f"/revision/{app.id}/aprobar", data=fields)  # a third, late click
    assert "ya estaba registrada" in console.get(again.location).get_data(as_text=True)

    mailbox.wait_for(app.email, 1)
    assert len(mailbox.messages_to(app.email)) == 1
    assert [e["action"] for e in data.audit_events(audit, app.id)].count("aprobar") == 1
    assert gateway.get_account(app.id).attr("estatus") == "aprobado"


# SMTP down during a decision: tests/integration/test_decision_outbox.py (the approval waits in the outbox
# and goes out when SMTP is back, with no reviewer action; a failed one is queued again from the console).


# --- detail -----------------------------------------------------------------------------------
def test_detail_shows_checks_and_streams_documents_inline(console, pending, review_app):
    app = pending(first_name="Ana", last_name="Pérez López", vigencia="2001-01-01")
    page = console.get(f"/revision/{app.id}").get_data(as_text=True)
    assert "PELA800101MDFRPN06" in page and app.email in page
    assert re.search(r'data-verificacion="Nombre y CURP"><td>[^<]*</td><td><strong>Correcto', page)
    assert re.search(r'data-verificacion="Vigencia de la identificación"><td>[^<]*</td><td><strong>No coincide', page)
    # The signed responsiva here is a text PDF without the QR code (tests/integration/test_viewer.py has one).
    assert re.search(r'data-verificacion="Folio de la responsiva"><td>[^<]*</td><td><strong>Revisar', page)
    assert console.get(f"/revision/{app.id}/documentos/otro").status_code == 404

    anonymous = review_app.test_client().get(f"/revision/{app.id}/documentos/identificacion")
    assert anonymous.status_code == 302 and "/revision/login" in anonymous.location
