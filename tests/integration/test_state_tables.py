"""The audit trail, the used captcha solutions, the direct uploads' markers and the documents' readings on PostgreSQL (issue 20 §3: S3
keeps bytes only): the contract of tests/support/state_contract.py on the real tables, and what only the
database enforces (the audit trail's append-only trigger, the time index the supervisor's figures read)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError

from registro.platform.captcha_uses import PgUsedSolutions
from registro.platform.db import Database
from registro.platform.db.schema import audit_events, upload_markers
from registro.kernel import audit as au
from registro.documents.direct_uploads import PgUploadMarkers
from registro.documents.readings import PgReadingStore
from registro.review.page_views import PgManifestStore
from tests.support import manifest_contract, reading_contract
from tests.support import state_contract as contract
from tests.support import scratch_database


@pytest.fixture(scope="module")
def scratch_db(service_settings) -> Database:
    """A database at head of its own, so the contract's rows never reach the stack's running registro."""
    with scratch_database.at_head(service_settings.database_url, "registro_estado") as database:
        yield database


@pytest.mark.parametrize("check", [
    contract.an_application_history_is_kept_in_time_order_and_never_rewritten,
    contract.decisions_are_read_by_time_window,
    contract.concurrent_records_are_all_kept,
])
def test_the_audit_log_contract(scratch_db, check):
    check(au.PgAuditLog(scratch_db))


@pytest.mark.parametrize("check", [
    contract.a_solution_is_used_once_even_at_once,
    contract.expired_uses_are_forgotten_and_live_ones_kept,
])
def test_the_used_solutions_contract(scratch_db, check):
    check(PgUsedSolutions(scratch_db))


@pytest.mark.parametrize("check", [
    contract.the_later_issued_upload_holds_the_marker_whatever_the_order,
    contract.concurrent_marks_leave_the_latest_issued,
    contract.an_outcome_is_written_only_for_the_upload_the_marker_names,
    contract.a_lost_check_is_taken_up_by_one_view,
    contract.forgetting_an_application_deletes_its_markers_only,
])
def test_the_upload_markers_contract(scratch_db, check):
    check(PgUploadMarkers(scratch_db))


@pytest.mark.parametrize("check", reading_contract.CHECKS)
def test_the_document_readings_contract(scratch_db, check):
    check(PgReadingStore(scratch_db))


@pytest.mark.parametrize("check", manifest_contract.CHECKS)
def test_the_page_view_manifests_contract(scratch_db, check):
    check(PgManifestStore(scratch_db))


@pytest.mark.parametrize("check", manifest_contract.VERSIONED)
def test_the_page_view_manifests_version(scratch_db, check, monkeypatch):
    check(PgManifestStore(scratch_db), monkeypatch)


def test_an_audit_event_cannot_be_changed_but_may_be_deleted(scratch_db, unique):
    trail = au.AuditTrail(au.PgAuditLog(scratch_db))
    event = trail.record(au.APPROVE, f"cuenta-{unique}", actor_id="r1", actor_username="revisora",
                         status_before="en_revision", status_after="aprobado")
    with pytest.raises(DBAPIError, match="append-only"):
        with scratch_db.transaction() as conn:
            conn.execute(update(audit_events).where(audit_events.c.event_id == event.event_id)
                         .values(action=au.REJECT))
    assert trail.history(f"cuenta-{unique}") == [event]
    with scratch_db.transaction() as conn:  # a retention purge may delete an event, never rewrite it
        assert conn.execute(delete(audit_events).where(audit_events.c.event_id == event.event_id)).rowcount == 1
    assert trail.history(f"cuenta-{unique}") == []


def test_an_event_s_columns_say_what_its_json_says(scratch_db, unique):
    trail = au.AuditTrail(au.PgAuditLog(scratch_db))
    event = trail.record(au.CORRECTION, f"cuenta-{unique}", actor_id="r1", actor_username="revisora",
                         reasons={"curp": ["ilegible"]}, details={"folio": "AU-2026-1"})
    with scratch_db.transaction() as conn:
        row = conn.execute(select(audit_events).where(audit_events.c.event_id == event.event_id)).one()
    assert (row.account_id, row.action, row.at) == (event.account_id, au.CORRECTION, au.moment(event.at))
    assert au.AuditEvent.from_dict(row.event) == event


def test_decisions_between_two_moments_is_one_indexed_query(scratch_db):
    start = datetime(2026, 3, 1, 6, tzinfo=timezone.utc)
    query = (select(audit_events.c.event)
             .where(audit_events.c.at >= start, audit_events.c.at < start + timedelta(days=31),
                    audit_events.c.action.in_(au.DECISIONS)).order_by(audit_events.c.at, audit_events.c.id))
    with scratch_db.transaction() as conn:
        conn.execute(text("SET LOCAL enable_seqscan = off"))  # a tiny table: ask whether the index can serve it
        plan = "\n".join(r[0] for r in conn.execute(text("EXPLAIN " + str(query.compile(
            scratch_db.engine, compile_kwargs={"literal_binds": True})))))
    assert "ix_audit_events_at" in plan


def test_a_marker_row_keeps_its_columns_with_its_json(scratch_db, unique):
    from registro.documents import direct_uploads as du

    marks = PgUploadMarkers(scratch_db)
    account = f"cuenta-{unique}"
    receipt = du.Receipt(account_id=account, kind="curp", key=f"solicitudes/{account}/documentos/curp/x", size=3,
                         name="a.pdf", issued=datetime.now(timezone.utc).isoformat())
    assert marks.mark(du.Marker(du.CHECKING, receipt, since="2026-03-03T10:00:00+00:00")) == du.MARKED
    assert marks.finish(receipt, du.DONE, "")
    with scratch_db.transaction() as conn:
        row = conn.execute(select(upload_markers).where(upload_markers.c.account_id == account)).one()
    assert (row.kind, row.state, row.issued) == ("curp", du.DONE, receipt.issued)
    assert row.since == datetime(2026, 3, 3, 10, tzinfo=timezone.utc)
    assert du.Marker.from_dict(row.marker) == du.Marker(du.DONE, receipt, "2026-03-03T10:00:00+00:00", "")
