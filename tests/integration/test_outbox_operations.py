"""registro's PostgreSQL as operations meet it: an SMTP outage's failed emails recovered (by id however old,
all at once by the operator's command), database errors that keep their bound values out of logs, and
migrations that say they wait and give way to a long transaction instead of queueing every write behind them.
On databases of their own (the stack's running registro would deliver rows of the shared one)."""
from __future__ import annotations

import logging
import threading

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError, OperationalError

from registro.domain.status import PENDIENTE_DOCUMENTOS
from registro.kernel import audit
from registro.kernel.applications import PgApplicationStore
from registro.kernel.audit import PgAuditLog
from registro.ops import retry_emails
from registro.platform import db as platform_db
from registro.platform import outbox as outbox_module
from registro.platform.db import Database, migrate
from registro.platform.outbox import PgOutboxStore
from tests.support import scratch_database
from tests.support import store_contract as contract

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def ops_url(service_settings):
    with scratch_database.empty(service_settings.database_url, "registro_operaciones") as url:
        migrate.upgrade(url)
        yield url


@pytest.fixture(scope="module")
def ops_db(ops_url) -> Database:
    database = Database(ops_url)
    yield database
    database.engine.dispose()


def make_due_in(database: Database):
    def make_due():
        with database.transaction() as conn:
            conn.execute(text("UPDATE outbox SET next_attempt_at = now() WHERE state = 'pendiente' "
                              "AND attempts > 0"))
    return make_due


# --- failed emails ---------------------------------------------------------------------------------
def test_an_old_failed_row_is_retried_by_its_id(ops_db, unique):
    contract.an_old_failed_row_is_retried_by_its_id(PgApplicationStore(ops_db), PgOutboxStore(ops_db),
                                                   make_due_in(ops_db), f"AU-T-V{unique[:10].upper()}")


def test_an_account_gone_takes_its_undelivered_emails(ops_db, unique):
    contract.an_account_gone_takes_its_undelivered_emails(PgApplicationStore(ops_db), PgOutboxStore(ops_db),
                                                          make_due_in(ops_db), f"AU-T-G{unique[:10].upper()}")


def test_an_applications_undelivered_emails_are_found_by_their_index(ops_db):
    """Delivered rows stay in the table, one per email ever sent: deleting an account's undelivered ones
    must not read them (sequential scans off, so a tiny table's statistics do not decide)."""
    with ops_db.transaction() as conn:
        conn.execute(text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(conn.execute(text(
            "EXPLAIN SELECT id FROM outbox WHERE application_id IN (CAST(:a AS uuid)) AND state <> 'enviado' "
            "FOR UPDATE SKIP LOCKED"), {"a": "00000000-0000-0000-0000-000000000001"}).scalars())
    assert "ix_outbox_unsent_by_application" in plan, plan


def test_the_operators_command_queues_every_failed_row_again(ops_db, ops_url, monkeypatch, capsys, unique):
    """…and writes each in its application's history, as the console's "Reenviar correo" does."""
    store = PgOutboxStore(ops_db)
    contract.every_failed_row_is_queued_again(store, make_due_in(ops_db))
    it = contract.intent(f"AU-T-R{unique[:10].upper()}")
    PgApplicationStore(ops_db).begin(it, {})
    PgApplicationStore(ops_db).complete(it.id, f"cuenta-{it.id}", None)
    with ops_db.transaction() as conn:  # as the record writes it (kernel/records.py)
        conn.execute(text("UPDATE applications SET estatus = :s WHERE id = :id"),
                     {"s": PENDIENTE_DOCUMENTOS, "id": it.id})
    failed = {store.add("decision", contract.email("c0@example.com"), account_id=f"cuenta-{it.id}"),
              store.add("prueba", contract.email("c1@example.com"))}  # of no application: no event

    def refuse(row):
        if row.id in failed:
            raise OSError("smtp")

    for _ in range(outbox_module.MAX_ATTEMPTS):
        make_due_in(ops_db)()
        store.deliver_due(refuse, limit=1000)
    assert failed <= {f.id for f in store.failed(1000)}
    monkeypatch.setenv("DATABASE_URL", ops_url)
    assert retry_emails.main([]) == 0
    assert "2 correo(s) fallido(s) de nuevo en la cola de envío" in capsys.readouterr().out
    assert store.failed(1000) == []
    (event,) = PgAuditLog(ops_db).of_account(f"cuenta-{it.id}")
    assert (event.action, event.actor_id, event.actor_username) == (audit.RESEND, "operador", "make retry-emails")
    assert event.details == {"correo": "decision", "intentos": outbox_module.MAX_ATTEMPTS}
    assert event.status_before == event.status_after == PENDIENTE_DOCUMENTOS
    monkeypatch.delenv("DATABASE_URL")
    assert retry_emails.main([]) == 2


# --- no bound values in errors ---------------------------------------------------------------------
def test_a_database_error_does_not_carry_its_bound_values(ops_db):
    """What web/errors.py logs for an unexpected database error: the statement, not the applicant's data."""
    with pytest.raises(IntegrityError) as caught:
        with ops_db.transaction() as conn:
            outbox_module.insert(conn, "prueba", b"ana.pena@example.com PELA800101MDFRPN06",
                                 application_id="00000000-0000-0000-0000-000000000000")
    assert "INSERT INTO outbox" in str(caught.value)
    assert "ana.pena" not in str(caught.value) and "PELA800101" not in str(caught.value)


# --- migrations ------------------------------------------------------------------------------------
@pytest.fixture
def holder(ops_url):
    engine = create_engine(ops_url)
    conn = engine.connect()
    yield conn
    conn.rollback()
    conn.close()
    engine.dispose()


def test_a_migration_waiting_for_its_turn_says_so(ops_url, holder, caplog):
    holder.execute(text("SELECT pg_advisory_lock(7202611)"))
    holder.commit()
    caplog.set_level(logging.INFO, logger="registro.platform.db.migrations")
    done = threading.Event()
    waiter = threading.Thread(target=lambda: (migrate.upgrade(ops_url), done.set()), daemon=True)
    waiter.start()
    try:
        with create_engine(ops_url).connect() as probe:  # the waiter is blocked on the advisory lock
            for _ in range(200):
                if probe.execute(text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                                      "AND objid = 7202611 AND NOT granted")).scalar_one():
                    break
                probe.rollback()
                done.wait(0.05)
        assert not done.is_set()
        assert "otro proceso está migrando la base de datos; se espera a que termine" in caplog.text
    finally:
        holder.execute(text("SELECT pg_advisory_unlock(7202611)"))
        holder.commit()
    waiter.join(30)
    assert done.is_set() and "turno obtenido" in caplog.text


def test_a_migration_gives_way_to_a_long_transaction_and_the_start_fails_after_its_attempts(
        ops_url, holder, caplog, monkeypatch):
    """Migration 0008 builds an index on the outbox; a transaction that wrote to the outbox and stays
    open holds it. The migration's lock_timeout refuses it within its bound, it is tried again, and after
    its attempts the upgrade raises (gunicorn_conf: "registro no arranca") with a line that says why."""
    migrate.downgrade(ops_url, "0007")
    monkeypatch.setattr(platform_db, "MIGRATION_LOCK_WAIT_S", 0.2)
    monkeypatch.setattr(platform_db, "MIGRATION_ATTEMPTS", 2)
    monkeypatch.setattr(platform_db, "MIGRATION_PAUSE_S", 0.1)
    caplog.set_level(logging.INFO, logger="registro.platform.db.migrations")
    holder.execute(text("LOCK TABLE outbox IN ROW EXCLUSIVE MODE"))  # an open write transaction on the outbox
    try:
        with pytest.raises(OperationalError) as refused:
            migrate.upgrade(ops_url)
        assert getattr(refused.value.orig, "sqlstate", None) == "55P03"
        assert "intento 1 de 2" in caplog.text and "tras 2 intentos; se desiste y registro no arranca" in caplog.text
        assert migrate.current(ops_url) == "0007"
    finally:
        holder.rollback()
    migrate.upgrade(ops_url)  # the transaction ended: the same migration goes through
    assert migrate.current(ops_url) == migrate.head()
