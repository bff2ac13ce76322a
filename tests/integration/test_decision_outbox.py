"""One delivery path (issue 20, item 5) against the real stack: decision emails and password-recovery
requests are outbox rows in registro's PostgreSQL. With the stack's SMTP server stopped (through its
own process, as the fault matrix does), an approval is queued and reaches the applicant once SMTP is
back with no reviewer action; a recovery request waits the same way; an email that keeps failing is
listed in the console, whose "Reenviar correo" queues it again. Plus the outbox's contract for held,
discarded and obsolete rows and its failed list, on a database of its own (the stack's registro
delivers whatever is due in the shared one)."""
from __future__ import annotations

import html
import re
import time

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from registro import create_app
from registro.config import Settings
from registro.kernel.applications import PgApplicationStore
from registro.platform import outbox as outbox_module
from registro.platform.db import Database, migrate
from registro.platform.outbox import PgOutboxStore
from registro.kernel.audit import PgAuditLog
from tests.support import review_data as data
from tests.support import store_contract as contract
from tests.support.captcha import challenge_in, csrf_in, solve
from tests.support.reviewer import ReviewerAccount, console_login, form_fields, new_reviewer, post_form

pytestmark = pytest.mark.integration

QUEUED = "quedó en la cola de envío"
SENT_TITLE = "Se ha enviado el restablecimiento de la contraseña"


def text_of(response) -> str:
    return html.unescape(response.get_data(as_text=True))


# --- the contract on an isolated database ---------------------------------------------------------
@pytest.fixture(scope="module")
def quiet_db(service_settings):
    """A migrated database no running service delivers from."""
    from tools.stack.prod import psql
    from tools.stack.profiles import Profile

    profile = Profile.named("test")
    psql(profile, "DROP DATABASE IF EXISTS registro_salida_contrato WITH (FORCE);")
    psql(profile, "CREATE DATABASE registro_salida_contrato OWNER registro;")
    url = make_url(service_settings.database_url).set(database="registro_salida_contrato").render_as_string(
        hide_password=False)
    migrate.upgrade(url)
    database = Database(url)
    yield database
    database.engine.dispose()
    psql(profile, "DROP DATABASE IF EXISTS registro_salida_contrato WITH (FORCE);")


def test_held_rows_wait_for_their_release_and_obsolete_ones_are_deleted(quiet_db):
    contract.held_rows_wait_for_their_release_and_obsolete_ones_are_deleted(PgOutboxStore(quiet_db))


def test_failed_rows_name_their_application_and_reason(quiet_db, unique):
    def make_due():
        with quiet_db.transaction() as conn:
            conn.execute(text("UPDATE outbox SET next_attempt_at = now() WHERE state = 'pendiente'"))

    contract.failed_rows_name_their_application_and_reason(PgApplicationStore(quiet_db), PgOutboxStore(quiet_db),
                                                          make_due, f"AU-T-O{unique[:10].upper()}")


# --- SMTP stopped --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def stack_control():
    from tools.stack.profiles import Profile
    from tools.stack.runner import Stack

    stack = Stack(Profile.named("test"))
    assert stack.pid_of("mail") is not None, "la pila de pruebas no está corriendo; ejecute `make test`"
    return stack


@pytest.fixture
def console_app():
    """The service in-process with its real adapters; its outbox worker runs in a thread, as in gunicorn."""
    settings = Settings.from_env().with_changes(recovery_user_limits="1000 per hour",
                                                recovery_client_limits="1000 per hour", outbox_background=True)
    return create_app({"SETTINGS": settings, "TESTING": True})


@pytest.fixture
def reviewer(make_account, kc_admin, unique) -> ReviewerAccount:
    return new_reviewer(make_account, kc_admin, f"revisor-salida-{unique}")


def recorded(service_settings, pending_app) -> str:
    """The application's row in registro's database (the service's identity directory made it with the
    account), whose id names the decision's outbox rows."""
    with Database.shared(service_settings.database_url).transaction() as conn:
        return conn.execute(text("SELECT id FROM applications WHERE account_id = :a"),
                            {"a": pending_app.id}).scalar_one()


def eventually(condition, timeout_s: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def decision_row(db: Database, application_id: str) -> tuple[int, str, int]:
    with db.transaction() as conn:
        return tuple(conn.execute(text("SELECT id, state, attempts FROM outbox WHERE application_id = :a "
                                       "AND kind = 'aprobacion'"), {"a": application_id}).one())


def test_smtp_stopped_approvals_wait_in_the_outbox_and_a_failed_one_is_queued_again_from_the_console(
        stack_control, console_app, reviewer, pending, gateway, storage, mailbox, service_settings, unique):
    db = Database.shared(service_settings.database_url)
    waiting, failing = pending(), pending()
    failing_application = recorded(service_settings, failing)
    client = console_app.test_client()
    assert console_login(client, reviewer).status_code == 302
    for app in (waiting, failing):
        assert post_form(client, app.id, "reservar").status_code == 303
    # A recovery request for an enabled account: Keycloak sends through the same SMTP server.
    recovering = data.create_pending(gateway, storage)
    gateway.update_account(recovering.id, enabled=True, attributes={"estatus": "aprobado"})
    page = client.get("/recuperar").get_data(as_text=True)
    recovery_form = {"csrf_token": csrf_in(page), "usuario": recovering.username.upper(),
                     "altcha": solve(challenge_in(page))}
    stack_control.stop("mail")
    try:
        for app in (waiting, failing):
            r = post_form(client, app.id, "aprobar")
            assert r.status_code == 303 and QUEUED in text_of(client.get(r.location))
            assert gateway.get_account(app.id).attr("estatus") == "aprobado"
        r = client.post("/recuperar", data=recovery_form)
        assert r.status_code == 200 and SENT_TITLE in text_of(r)
        # `failing` has met a long outage: its earlier refusals stand in for hours of them.
        row_id, _, _ = decision_row(db, failing_application)
        with db.transaction() as conn:
            conn.execute(text("UPDATE outbox SET attempts = :n, next_attempt_at = now() WHERE id = :id"),
                         {"n": outbox_module.MAX_ATTEMPTS - 1, "id": row_id})
        console_app.extensions["registro.adapters"].outbox.deliver_due()  # or another worker does: SKIP LOCKED
        assert eventually(lambda: decision_row(db, failing_application)[1] == "fallido")
        assert decision_row(db, failing_application) == (row_id, "fallido", outbox_module.MAX_ATTEMPTS)
    finally:
        stack_control.start("mail")
        stack_control.wait_ready("mail")

    # Nobody presses anything: the outbox's next rounds send the approval and the recovery email.
    message = mailbox.latest(waiting.email, timeout_s=120)
    assert f"Usuario: {waiting.username.upper()}" in message.text and "Contraseña temporal:" in message.text
    assert "/login-actions/action-token" in mailbox.latest(recovering.email, timeout_s=120).text
    assert mailbox.messages_to(failing.email) == []  # fallido: waits for a person

    queue = text_of(client.get("/revision/"))
    listed = re.search(rf'<tr data-correo="{row_id}">(.*?)</tr>', queue, re.S)
    assert listed, "the failed email is listed on the console's queue page"
    cells = listed.group(1)
    assert "Aprobación" in cells and failing.folio in cells and "MailUnavailable" in cells
    assert failing.email not in queue and "Contraseña" not in cells  # no address, no content
    detail = text_of(client.get(f"/revision/{failing.id}"))
    assert f'id="correo-fallido-{row_id}"' in detail and "Reenviar correo" in detail

    # Without the console's CSRF token nothing is queued (the role check: tests/unit/test_failed_emails_console.py).
    assert client.post(f"/revision/correos/{row_id}/reenviar").status_code == 400
    assert decision_row(db, failing_application)[1] == "fallido"

    token = form_fields(detail, "salir")["csrf_token"]
    r = client.post(f"/revision/correos/{row_id}/reenviar", data={"csrf_token": token, "solicitud": failing.id})
    assert r.status_code == 303 and r.location.endswith(f"/revision/{failing.id}")
    assert "volvió a la cola de envío" in text_of(client.get(r.location))
    assert "Contraseña temporal:" in mailbox.latest(failing.email, timeout_s=60).text
    assert f'data-correo="{row_id}"' not in text_of(client.get("/revision/"))
    again = client.post(f"/revision/correos/{row_id}/reenviar", data={"csrf_token": token})
    assert "ya no está entre los que fallaron" in text_of(client.get(again.location))
    assert len(mailbox.messages_to(failing.email)) == 1 and len(mailbox.messages_to(waiting.email)) == 1
    events = [e for e in data.audit_events(PgAuditLog(db), failing.id) if e["action"] == "reenviar_correo"]
    assert [e["actor_username"] for e in events] == [reviewer.username]
    with db.transaction() as conn:  # a sent approval keeps no password in the database
        assert conn.execute(text("SELECT length(message) FROM outbox WHERE id = :id"), {"id": row_id}).scalar() == 0
    data.cleanup(gateway, storage, recovering.id)
