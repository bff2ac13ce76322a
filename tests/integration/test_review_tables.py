"""Review leases and decision rows on PostgreSQL (issue 20): the contract the in-memory twins also pass
(tests/support/review_contract.py) on a scratch database no running registro reads, and a double-clicked
decision through the review workflow against the stack's Keycloak, S3 and database: one applies it, the
other is told it was already decided."""
from __future__ import annotations

from functools import partial

import pytest

from registro import create_app
from registro.platform.db import Database
from registro.review.decision_records import APLICADA, PgDecisionStore
from registro.review.leases import PgLeaseStore, Reviewer
from registro.review.service import ReviewService, documents_digest, round_id
from tests.support import review_contract as contract
from tests.support import scratch_database

pytestmark = pytest.mark.integration


@pytest.fixture
def queue_index(service_settings):
    """The queue the stack's registro reads: SQL over its own database."""
    from registro.review.queue import PgQueueIndex

    return PgQueueIndex(Database.shared(service_settings.database_url))


@pytest.fixture(scope="module")
def scratch_db(service_settings) -> Database:
    with scratch_database.at_head(service_settings.database_url, "registro_revision_tablas") as database:
        yield database


# --- leases ----------------------------------------------------------------------------------------------
def test_a_claim_is_held_renewed_and_released(scratch_db):
    contract.a_claim_is_held_renewed_and_released(PgLeaseStore(scratch_db))


def test_two_claims_at_once_have_one_winner(scratch_db):
    contract.two_claims_at_once_have_one_winner(PgLeaseStore(scratch_db))


def test_an_expired_lease_is_taken_over_and_its_old_holder_cannot_release_it(scratch_db):
    contract.an_expired_lease_is_taken_over_and_its_old_holder_cannot_release_it(
        PgLeaseStore(scratch_db), partial(contract.expire_pg_lease, scratch_db))


def test_only_active_leases_are_listed(scratch_db):
    contract.only_active_leases_are_listed(PgLeaseStore(scratch_db), partial(contract.expire_pg_lease, scratch_db))


def test_lease_times_are_the_database_clock(scratch_db):
    """Claimed and expiry times are the server's now(), whatever the replica's clock says."""
    from sqlalchemy import text

    lease = PgLeaseStore(scratch_db).claim(contract._account(), "a", "a", 60)
    with scratch_db.transaction() as conn:
        db_now = conn.execute(text("SELECT extract(epoch FROM now())")).scalar_one()
    assert abs(lease.claimed_at - float(db_now)) < 5 and abs(lease.expires_at - lease.claimed_at - 60) < 0.01


# --- decision rows ---------------------------------------------------------------------------------------
def test_two_identical_requests_create_one_row(scratch_db):
    contract.two_identical_requests_create_one_row(PgDecisionStore(scratch_db))


def test_a_stale_en_curso_row_is_taken_over_once(scratch_db):
    contract.a_stale_en_curso_row_is_taken_over_once(PgDecisionStore(scratch_db),
                                                     partial(contract.age_pg_decision, scratch_db))


def test_a_failed_change_removes_its_row(scratch_db):
    contract.a_failed_change_removes_its_row(PgDecisionStore(scratch_db))


def test_a_decision_owing_its_completion_is_taken_once(scratch_db):
    contract.a_decision_owing_its_completion_is_taken_once(PgDecisionStore(scratch_db),
                                                           partial(contract.age_pg_decision, scratch_db))


def test_the_rows_owing_their_completion_are_listed(scratch_db):
    contract.the_rows_owing_their_completion_are_listed(PgDecisionStore(scratch_db),
                                                        partial(contract.age_pg_decision, scratch_db))


def test_the_rows_owing_their_completion_are_read_from_their_index(scratch_db):
    """The background pass runs in every replica every RECONCILE_EVERY_S: it reads ix_decisions_owed."""
    from sqlalchemy import select, text

    from registro.platform.db.schema import decisions
    from registro.review.decision_records import OWED_PREDICATE, _owed

    query = select(decisions.c.account_id, decisions.c.ronda).where(OWED_PREDICATE, _owed(120, 120)) \
        .order_by(decisions.c.updated_at).limit(100)
    with scratch_db.transaction() as conn:
        conn.execute(text("SET LOCAL enable_seqscan = off"))  # a tiny table: only a usable index is chosen
        compiled = query.compile(dialect=conn.dialect)
        plan = "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + str(compiled), compiled.params))
    assert "ix_decisions_owed" in plan, plan


# --- through the review workflow -------------------------------------------------------------------------
def test_a_double_clicked_approval_is_applied_once_and_the_other_click_is_already_decided(
        service_settings, pending, gateway, storage, queue_index, mailbox):
    app = create_app({"SETTINGS": service_settings, "TESTING": True})
    a = app.extensions["registro.adapters"]
    assert isinstance(a.review_leases, PgLeaseStore) and isinstance(a.decisions, PgDecisionStore)
    created = pending()
    reviewer = Reviewer("id-revisora-doble", "revisora.doble")
    # two replicas: each its own service over its own connections
    services = [ReviewService(gateway, storage, a.outbox, service_settings, queue_index,
                              leases=PgLeaseStore(db), decisions=PgDecisionStore(db), audit=a.audit)
                for db in (Database(service_settings.database_url), Database(service_settings.database_url))]
    with app.test_request_context():
        services[0].claim(created.id, reviewer)
        current = services[0].application(created.id)
        seen = {"round_seen": round_id(current), "digest_seen": documents_digest(current)}

        def click(i: int):
            with app.test_request_context():
                return services[i].approve(created.id, reviewer, **seen)

        outcomes = contract._at_once(2, click)
    assert sorted(o.already_decided for o in outcomes) == [False, True], outcomes
    ronda = seen["round_seen"]
    row = a.decisions.get(created.id, ronda)
    assert row.state == APLICADA and row.record["auditoria"] == "escrita"
    assert a.review_leases.active(created.id) is None  # released by the decision
    assert gateway.get_account(created.id).attr("estatus") == "aprobado"
    mailbox.wait_for(created.email, 1)
    assert len(mailbox.messages_to(created.email)) == 1
    for service in services:
        service.decision_records.db.engine.dispose()
