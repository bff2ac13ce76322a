"""registro's own PostgreSQL (issue 20): migrations, the stores' contract on the real tables, and the
registration saga killed at every step, against the test stack's Keycloak, S3, SMTP and PostgreSQL."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, select, text

from registro.kernel.applications import PgApplicationStore
from registro.kernel.audit import PgAuditLog
from registro.platform.db import Database, migrate
from registro.platform.outbox import PgOutboxStore
from tests.support import store_contract as contract
from tests.support import scratch_database
from tests.support.registration import mexican_form, post_registration, random_person

ROOT = Path(__file__).resolve().parents[2]
CRASH = 70


@pytest.fixture(scope="module")
def db(service_settings) -> Database:
    """The stack's own database, which its running registro uses too."""
    database = Database(service_settings.database_url)
    yield database
    database.engine.dispose()


@pytest.fixture(scope="module")
def scratch_url(service_settings):
    """An empty database of its own: the migrations run up and down on it."""
    with scratch_database.empty(service_settings.database_url, "registro_migraciones") as url:
        yield url


@pytest.fixture(scope="module")
def scratch_db(scratch_url) -> Database:
    """A database at head that no running registro reads: the stack's outbox worker would otherwise
    send (and count) the contract tests' rows."""
    migrate.upgrade(scratch_url)
    database = Database(scratch_url)
    yield database
    database.engine.dispose()


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_a_connection_is_pinged_only_after_idling_and_a_dropped_one_is_replaced(service_settings, monkeypatch):
    """A connection used a moment ago goes straight back to work (pool_pre_ping cost a round trip before
    every transaction); one idle past IDLE_PING_S is pinged first, and one the server dropped meanwhile
    (a restart, a failover) is replaced before any transaction sees it."""
    import registro.platform.db as platform_db

    database, other = Database(service_settings.database_url), Database(service_settings.database_url)
    pings = []
    real_ping = database.engine.dialect.do_ping
    monkeypatch.setattr(database.engine.dialect, "do_ping", lambda conn: pings.append(conn) or real_ping(conn))
    later = [0.0]
    monkeypatch.setattr(platform_db, "_clock", lambda: platform_db.time.monotonic() + later[0])
    backend = "SELECT pg_backend_pid()"
    try:
        with database.transaction() as conn:
            first = conn.execute(text(backend)).scalar_one()
        for _ in range(3):
            with database.transaction() as conn:
                assert conn.execute(text(backend)).scalar_one() == first
        assert pings == [], "a connection just used is handed out without a ping"

        with other.transaction() as conn:
            assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first}).scalar_one()
        later[0] = platform_db.IDLE_PING_S + 1
        with database.transaction() as conn:
            replacement = conn.execute(text(backend)).scalar_one()
        assert replacement != first and len(pings) == 1, "the dropped connection was pinged and replaced"
    finally:
        database.engine.dispose()
        other.engine.dispose()


def test_migrations_upgrade_an_empty_database_to_head_and_back_one_step(scratch_url):
    assert _tables(scratch_url) == set()
    migrate.upgrade(scratch_url)
    assert migrate.current(scratch_url) == migrate.head()
    assert {"applications", "identifiers", "outbox"} <= _tables(scratch_url)
    migrate.downgrade(scratch_url, "-1")
    assert migrate.current(scratch_url) != migrate.head()
    migrate.upgrade(scratch_url)  # and up again: the downgrade left nothing in the way
    assert migrate.current(scratch_url) == migrate.head()


def test_the_running_service_migrated_its_database_at_start(service_settings):
    assert migrate.current(service_settings.database_url) == migrate.head()


def test_the_tables_match_what_the_code_queries(db):
    """schema.py (what the code uses) and the migrations (what the database has) name the same
    columns and the same partial unique index."""
    from registro.platform.db.schema import metadata

    found = inspect(db.engine)
    for table in metadata.sorted_tables:
        assert {c["name"] for c in found.get_columns(table.name)} == {c.name for c in table.columns}, table.name
    unique = {i["name"]: i for i in found.get_indexes("identifiers") if i["unique"]}
    assert unique["uq_identifiers_vigente"]["column_names"] == ["kind", "value"]


def test_outbox_messages_are_stored_out_of_line_uncompressed(scratch_db):
    """A message is mostly a compressed PDF in base64: PostgreSQL must not spend CPU compressing it
    (migration 0006), and a message still comes back whole."""
    with scratch_db.engine.connect() as conn:
        storage = conn.execute(text("SELECT attstorage FROM pg_attribute WHERE attrelid = 'outbox'::regclass "
                                    "AND attname = 'message'")).scalar_one()
    assert storage == "e"  # EXTERNAL
    store = PgOutboxStore(scratch_db)
    message = os.urandom(90_000)
    row = store.add("prueba-almacenamiento", message)
    with scratch_db.engine.begin() as conn:
        stored = conn.execute(text("SELECT message FROM outbox WHERE id = :id"), {"id": row}).scalar_one()
        conn.execute(text("DELETE FROM outbox WHERE id = :id"), {"id": row})
    assert bytes(stored) == message


# --- the contract of tests/support/store_contract.py, on the real tables ------------------------------------
def test_concurrent_intents_of_one_curp_have_one_winner(scratch_db, unique):
    contract.concurrent_intents_of_one_curp_have_one_winner(_Isolated(scratch_db, unique), f"AU-T-{unique[:6].upper()}")


def test_a_folio_is_never_drawn_twice(scratch_db, unique):
    contract.a_folio_is_never_drawn_twice(PgApplicationStore(scratch_db), f"AU-T-F{unique[:10].upper()}")


def test_rejection_and_cancellation_release_the_identifiers(scratch_db, unique):
    contract.rejection_and_cancellation_release_the_identifiers(_Isolated(scratch_db, unique), f"AU-T-R{unique[:6].upper()}")


def test_released_identifiers_are_history_only(scratch_db, unique):
    contract.released_identifiers_are_history_only(_Isolated(scratch_db, unique), f"AU-T-H{unique[:6].upper()}")


def test_complete_changes_only_an_intent_and_queues_its_email(scratch_db, unique):
    contract.complete_changes_only_an_intent_and_queues_its_email(PgApplicationStore(scratch_db), PgOutboxStore(scratch_db),
                                                                  f"AU-T-C{unique[:10].upper()}")


def test_cancel_undoes_only_an_intent(scratch_db, unique):
    contract.cancel_undoes_only_an_intent(_Isolated(scratch_db, unique), f"AU-T-X{unique[:6].upper()}")


def test_a_rejected_application_keeps_its_folio(scratch_db, unique):
    contract.a_rejected_application_keeps_its_folio(PgApplicationStore(scratch_db), f"AU-T-J{unique[:10].upper()}")


def test_complete_writes_its_events_in_the_same_change(scratch_db, unique):
    contract.complete_writes_its_events_in_the_same_change(PgApplicationStore(scratch_db), PgAuditLog(scratch_db),
                                                           f"AU-T-E{unique[:10].upper()}")


def test_stale_intents_are_listed_after_their_bound(scratch_db, unique):
    contract.stale_intents_are_listed_after_their_bound(PgApplicationStore(scratch_db), f"AU-T-S{unique[:10].upper()}")


def test_stale_intents_are_listed_page_after_page(scratch_db, unique):
    contract.stale_intents_are_listed_page_after_page(PgApplicationStore(scratch_db), f"AU-T-P{unique[:10].upper()}")


def test_a_batch_of_due_emails_is_marked_sent_in_one_statement(scratch_db):
    """The worker's batch: one SELECT … FOR UPDATE SKIP LOCKED, the sends, one UPDATE for the rows sent
    (it was one UPDATE per email: under load the statements grew with the queue)."""
    from sqlalchemy import event

    store = PgOutboxStore(scratch_db)
    with scratch_db.transaction() as conn:
        conn.execute(text("DELETE FROM outbox WHERE state = 'pendiente'"))
    ids = [store.add("confirmacion", f"mensaje {i}".encode()) for i in range(6)]
    statements = []
    listener = lambda *args: statements.append(args[2].split()[0].upper())  # noqa: E731
    event.listen(scratch_db.engine, "before_cursor_execute", listener)
    try:
        assert store.deliver_due(lambda row: None, limit=1000) == (6, 0)
    finally:
        event.remove(scratch_db.engine, "before_cursor_execute", listener)
    assert statements == ["SELECT", "UPDATE"]
    with scratch_db.transaction() as conn:
        rows = conn.execute(text("SELECT state, attempts, length(message) AS size, sent_at IS NOT NULL AS sent "
                                 "FROM outbox WHERE id = ANY(:ids)"), {"ids": ids}).all()
    assert [(r.state, r.attempts, r.size, r.sent) for r in rows] == [("enviado", 1, 0, True)] * 6


def test_outbox_refusals_back_off_and_fail_after_max_attempts(scratch_db):
    def make_due():
        with scratch_db.transaction() as conn:
            conn.execute(text("UPDATE outbox SET next_attempt_at = now() WHERE state = 'pendiente'"))

    contract.outbox_refusals_back_off_and_fail_after_max_attempts(PgOutboxStore(scratch_db), make_due)


def test_unfinished_registrations_are_counted_after_their_bound(scratch_db, unique):
    contract.unfinished_registrations_are_counted_after_their_bound(PgApplicationStore(scratch_db),
                                                                    f"AU-T-U{unique[:10].upper()}")


def test_outbox_health_tells_waiting_rows_from_held_and_failed_ones(scratch_db):
    with scratch_db.transaction() as conn:  # what earlier tests left waiting or failed (nothing reads this database)
        conn.execute(text("DELETE FROM outbox WHERE state IN ('pendiente', 'fallido')"))

    def make_due():
        with scratch_db.transaction() as conn:
            conn.execute(text("UPDATE outbox SET next_attempt_at = now() WHERE state = 'pendiente' AND attempts > 0"))

    def backdate(row_id, seconds):
        with scratch_db.transaction() as conn:
            conn.execute(text("UPDATE outbox SET created_at = created_at - make_interval(secs => :s) WHERE id = :id"),
                         {"s": seconds, "id": row_id})

    contract.outbox_health_tells_waiting_rows_from_held_and_failed_ones(PgOutboxStore(scratch_db), make_due, backdate)
    with scratch_db.engine.connect() as conn:  # the console's list and the count can read the failed rows' index
        conn.execute(text("SET enable_seqscan = off"))  # a table this small is scanned whatever its indexes
        plan = "\n".join(conn.execute(text("EXPLAIN SELECT id FROM outbox WHERE state = 'fallido' "
                                            "ORDER BY created_at DESC, id DESC LIMIT 100")).scalars())
    assert "ix_outbox_failed" in plan


def test_two_senders_at_once_send_each_row_once(scratch_db):
    contract.two_senders_at_once_send_each_row_once(PgOutboxStore(scratch_db))


class _Isolated(PgApplicationStore):
    """The contract's fixed CURP made unique per test run, so runs on one database do not collide."""

    def __init__(self, db: Database, unique: str) -> None:
        super().__init__(db)
        self.suffix = unique[:4].upper()

    def _ids(self, ids):
        return {k: (v + self.suffix if k == "curp" else v) for k, v in ids.items()}

    def begin(self, intent, ids):
        return super().begin(intent, self._ids(ids))

    def rejections_of(self, ids):
        return super().rejections_of(self._ids(ids))

    def rejected_accounts(self, ids, limit=10):
        return super().rejected_accounts(self._ids(ids), limit)

    def record_released(self, application_id, ids):
        return super().record_released(application_id, self._ids(ids))


# --- the saga, killed at each boundary -----------------------------------------------------------------------
_CRASHING_REGISTRATION = r"""
import json, os, sys
from registro import create_app
from registro.config import Settings
from tests.support.registration import post_registration

step, form = sys.argv[1], json.loads(sys.argv[2])
app = create_app({"SETTINGS": Settings.from_env().with_changes(outbox_background=False), "TESTING": True})
a = app.extensions["registro.adapters"]

def die_after(obj, name, when=lambda *a, **k: True):
    real = getattr(obj, name)
    def wrapped(*args, **kwargs):
        result = real(*args, **kwargs)
        if when(*args, **kwargs):
            os._exit(70)
        return result
    setattr(obj, name, wrapped)

if step == "intent":
    die_after(a.applications, "begin")
elif step == "account":
    die_after(a.identity, "create_account")
elif step == "responsiva":
    die_after(a.storage, "put", lambda key, *x, **k: "/responsiva/" in key)
elif step == "complete":
    die_after(a.applications, "complete")
post_registration(app.test_client(), form)
sys.exit(0)
"""


def _register_and_die(step: str, form: dict) -> None:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'services'}"}
    done = subprocess.run([sys.executable, "-c", _CRASHING_REGISTRATION, step, json.dumps(form)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == CRASH, done.stderr[-2000:]


def _finish_leftovers(registro_app):
    """What the service's reconciler job (background.reconcile_now) does two minutes later, now:
    every intent counts as left behind; then the outbox is delivered."""
    from registro.registration.reconcile import reconcile

    a = registro_app.extensions["registro.adapters"]
    with registro_app.app_context():
        result = reconcile(applications=a.applications, identity=a.identity, storage=a.storage, outbox=a.outbox,
                           settings=registro_app.extensions["registro.settings"], renderer=a.pdf, older_than_s=0)
    a.outbox.deliver_due()
    return result


def _person(unique: str) -> dict:
    curp, rfc = random_person()
    return mexican_form(curp=curp, rfc=rfc, email=f"saga-{unique}@example.com")


@pytest.mark.parametrize("step", ["account", "responsiva", "complete"])
def test_a_registration_killed_after_its_account_exists_ends_with_one_account_and_one_email(
        step, registro_app, gateway, mailbox, unique):
    form = _person(unique)
    _register_and_die(step, form)
    done = _finish_leftovers(registro_app)
    assert done.finished == (0 if step == "complete" else 1)
    username = form["rfc"].lower()
    account = gateway.find_by_username(username)
    assert account is not None and not account.enabled
    # The privacy notice accepted in the form is in the trail once, whoever completed the registration.
    history = registro_app.extensions["registro.adapters"].audit.of_account(account.id)
    accepted = [e for e in history if e.action == "aceptar_aviso_privacidad"]
    assert len(accepted) == 1, [e.action for e in history]
    assert accepted[0].details["aviso_version"] and accepted[0].details["folio"] == account.attr("folio")
    (mail,) = mailbox.wait_for(form["email"], 1)
    link = next(w for w in mail.text.split() if "/activacion/" in w)
    client = registro_app.test_client()
    page = client.get(link.replace(registro_app.extensions["registro.settings"].public_url, ""))
    assert page.status_code == 200  # the person goes on: the link opens the activation
    assert _finish_leftovers(registro_app).finished == 0  # nothing left: a second round sends nothing more
    assert len(mailbox.messages_to(form["email"])) == 1
    gateway.delete_account(account.id)


def test_a_registration_killed_before_its_account_is_cancelled_and_the_person_registers_again(
        registro_app, gateway, mailbox, unique):
    form = _person(unique)
    _register_and_die("intent", form)
    assert post_registration(registro_app.test_client(), form).status_code == 200  # in flight: refused, kept
    assert _finish_leftovers(registro_app).cancelled == 1
    assert gateway.find_by_username(form["rfc"].lower()) is None
    assert post_registration(registro_app.test_client(), form).status_code == 302  # free again
    account = gateway.find_by_username(form["rfc"].lower())
    mailbox.wait_for(form["email"], 1)
    gateway.delete_account(account.id)


@pytest.mark.parametrize("lost", ["timeout", "retried_post"])
def test_a_lost_keycloak_answer_leaves_one_account_one_email_and_no_hidden_account(
        lost, registro_app, gateway, keycloak_gateway, mailbox, unique, monkeypatch):
    """Keycloak made the account but its answer never arrived, against the real Keycloak: a timeout
    (the person sees the Spanish 503, the intent is cancelled, and trying again the orphan makes room)
    or urllib3's retried POST answered 409 (the account carrying this intent's folio is its own). Either
    way one account holds the RFC and one confirmation email names its folio."""
    from keycloak_ext import AccountConflict, AccountNotFound, IdentityUnavailable

    form = _person(unique)
    identity = registro_app.extensions["registro.adapters"].identity
    real, made = identity.create_account, []

    def made_then_lost(**kwargs):
        made.append(real(**kwargs))
        if len(made) == 1:
            raise IdentityUnavailable("respuesta perdida") if lost == "timeout" else AccountConflict("409 del reintento")
        return made[-1]

    monkeypatch.setattr(identity, "create_account", made_then_lost)
    client = registro_app.test_client()
    if lost == "timeout":
        assert post_registration(client, form).status_code == 503
        assert post_registration(client, form).status_code == 302  # the person tries again
        with pytest.raises(AccountNotFound):
            keycloak_gateway.get_account(made[0])  # the orphan made room
    else:
        assert post_registration(client, form).status_code == 302
    account = gateway.find_by_username(form["rfc"].lower())
    assert account.id == made[-1] and account.attr("estatus") == "pendiente_correo"
    (mail,) = mailbox.wait_for(form["email"], 1)
    assert account.attr("folio") in mail.text
    gateway.delete_account(account.id)


def test_an_account_deleted_in_keycloaks_console_frees_the_person_to_register_again(registro_app, gateway,
                                                                                    kc_admin, unique):
    """…and what the deleted account left goes as the purge's deletion would take it: its responsiva and
    documents in S3, the application's personal data (the row stays, cancelled, with its folio)."""
    from registro.domain.storage_keys import application_prefix
    from registro.platform.db.schema import applications

    a = registro_app.extensions["registro.adapters"]
    form = _person(unique)
    assert post_registration(registro_app.test_client(), form).status_code == 302
    first = gateway.find_by_username(form["rfc"].lower())
    assert a.storage.list_keys(application_prefix(first.id))  # its responsiva
    kc_admin.delete_user(first.id)  # what an operator does in the admin console
    assert post_registration(registro_app.test_client(), form).status_code == 302
    second = gateway.find_by_username(form["rfc"].lower())
    assert second is not None and second.id != first.id
    assert a.storage.list_keys(application_prefix(first.id)) == []
    with a.database.transaction() as conn:
        row = conn.execute(select(applications).where(applications.c.account_id == first.id)).one()
    assert (row.state, row.record, row.email, row.search_text) == ("cancelada", {}, "", "") and row.folio
    gateway.delete_account(second.id)


def test_a_rejected_applicant_registers_again_and_the_earlier_rejection_is_kept(registro_app, gateway,
                                                                                keycloak_gateway, unique):
    """A Mexican's username is the RFC and Keycloak keeps it, and the email, unique: the rejected
    application's disabled account makes room for the new one; the rejection stays in the database,
    where its status page and the reviewer's "Solicitudes anteriores" read it."""
    from keycloak_ext import AccountNotFound
    from registro.kernel.status_links import signer
    from registro.platform.db.schema import outbox

    form = _person(unique)
    client = registro_app.test_client()
    assert post_registration(client, form).status_code == 302
    first = gateway.find_by_username(form["rfc"].lower())
    # What the review's rejection leaves: the record `rechazado`, the account disabled, the application
    # rejected and its identifiers released.
    gateway.update_account(first.id, enabled=False, attributes={"estatus": "rechazado"})
    store = registro_app.extensions["registro.adapters"].applications
    store.reject(first.id, "identificación ilegible")
    assert keycloak_gateway.get_account(first.id).username == form["rfc"].lower()  # the account stays
    a = registro_app.extensions["registro.adapters"]
    # Its rejection email, still held (an SMTP outage): it speaks of an account about to be deleted.
    waiting = a.outbox_store.add("decision", b"Ana, su solicitud fue rechazada", account_id=first.id, hold_s=3600)
    assert post_registration(client, form).status_code == 302
    with a.database.transaction() as conn:
        assert conn.execute(select(outbox.c.id).where(outbox.c.id == waiting)).first() is None
    second = gateway.find_by_username(form["rfc"].lower())
    assert second is not None and second.id != first.id and second.attr("estatus") == "pendiente_correo"
    with pytest.raises(AccountNotFound):
        keycloak_gateway.get_account(first.id)
    assert store.rejections_of({"curp": form["curp"].upper()}) == 1
    assert gateway.get_account(first.id).attr("estatus") == "rechazado"
    page = client.get(f"/consulta/{signer(registro_app.extensions['registro.settings']).issue(first.id)}")
    assert page.status_code == 200 and "Solicitud rechazada" in page.get_data(as_text=True)
    gateway.delete_account(second.id)
