"""The in-memory twins of registro's database keep the same rules as PostgreSQL (the same contract
runs against the real tables in tests/integration/test_database.py)."""
from __future__ import annotations

from tests.fakes import FakeApplicationStore, FakeAuditLog, FakeOutboxStore
from tests.support import store_contract as contract


def _stores():
    outbox = FakeOutboxStore()
    return FakeApplicationStore(outbox), outbox


def test_concurrent_intents_of_one_curp_have_one_winner():
    contract.concurrent_intents_of_one_curp_have_one_winner(_stores()[0], "AU-2026-A")


def test_a_folio_is_never_drawn_twice():
    contract.a_folio_is_never_drawn_twice(_stores()[0], "AU-2026-FOLIO001")


def test_rejection_and_cancellation_release_the_identifiers():
    contract.rejection_and_cancellation_release_the_identifiers(_stores()[0], "AU-2026-R")


def test_released_identifiers_are_history_only():
    contract.released_identifiers_are_history_only(_stores()[0], "AU-2026-H")


def test_complete_changes_only_an_intent_and_queues_its_email():
    store, outbox = _stores()
    contract.complete_changes_only_an_intent_and_queues_its_email(store, outbox, "AU-2026-COMPLETE")


def test_cancel_undoes_only_an_intent():
    contract.cancel_undoes_only_an_intent(_stores()[0], "AU-2026-CANCEL")


def test_a_rejected_application_keeps_its_folio():
    contract.a_rejected_application_keeps_its_folio(_stores()[0], "AU-2026-RECHAZO1")


def test_complete_writes_its_events_in_the_same_change():
    audit = FakeAuditLog()
    contract.complete_writes_its_events_in_the_same_change(FakeApplicationStore(audit_log=audit), audit,
                                                           "AU-2026-EVENTOS1")


def test_stale_intents_are_listed_after_their_bound():
    contract.stale_intents_are_listed_after_their_bound(_stores()[0], "AU-2026-STALE001")


def test_stale_intents_are_listed_page_after_page():
    contract.stale_intents_are_listed_page_after_page(_stores()[0], "AU-2026-PAGE000")


def test_unfinished_registrations_are_counted_after_their_bound():
    contract.unfinished_registrations_are_counted_after_their_bound(_stores()[0], "AU-2026-UNFIN001")


def test_outbox_health_tells_waiting_rows_from_held_and_failed_ones():
    outbox = FakeOutboxStore()

    def backdate(row_id, seconds):
        outbox.rows[row_id]["created_at"] -= seconds

    contract.outbox_health_tells_waiting_rows_from_held_and_failed_ones(outbox, outbox.expedite, backdate)


def test_outbox_refusals_back_off_and_fail_after_max_attempts():
    outbox = FakeOutboxStore()
    contract.outbox_refusals_back_off_and_fail_after_max_attempts(outbox, outbox.expedite)


def test_two_senders_at_once_send_each_row_once():
    contract.two_senders_at_once_send_each_row_once(FakeOutboxStore())


def test_held_rows_wait_for_their_release_and_obsolete_ones_are_deleted():
    contract.held_rows_wait_for_their_release_and_obsolete_ones_are_deleted(FakeOutboxStore())


def test_failed_rows_name_their_application_and_reason():
    store, outbox = _stores()
    contract.failed_rows_name_their_application_and_reason(store, outbox, outbox.expedite, "AU-2026-FALLIDO1")
