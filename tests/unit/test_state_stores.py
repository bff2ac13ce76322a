"""The stores of the audit trail, the used captcha solutions and the direct uploads' markers on their
in-memory twins (tests/fakes.py); the same contract runs on PostgreSQL in tests/integration/test_state_tables.py."""
from __future__ import annotations

import inspect

import pytest

from registro.adapters.captcha import UsedSolutions
from registro.platform.captcha_uses import PgUsedSolutions
from registro.kernel.audit import AuditLog, PgAuditLog
from registro.documents.direct_uploads import PgUploadMarkers, UploadMarkers
from tests.fakes import FakeAuditLog, FakeUploadMarkers, FakeUsedSolutions
from tests.support import state_contract as contract


@pytest.mark.parametrize("protocol, real, fake", [
    (AuditLog, PgAuditLog, FakeAuditLog),
    (UsedSolutions, PgUsedSolutions, FakeUsedSolutions),
    (UploadMarkers, PgUploadMarkers, FakeUploadMarkers),
])
def test_real_and_fake_share_the_protocol(protocol, real, fake):
    methods = [n for n, v in vars(protocol).items() if callable(v) and not n.startswith("_")]
    assert methods
    for name in methods:
        expected = list(inspect.signature(getattr(protocol, name)).parameters)
        for implementation in (real, fake):
            assert list(inspect.signature(getattr(implementation, name)).parameters) == expected, name


def test_an_application_history_is_kept_in_time_order_and_never_rewritten():
    contract.an_application_history_is_kept_in_time_order_and_never_rewritten(FakeAuditLog())


def test_decisions_are_read_by_time_window():
    contract.decisions_are_read_by_time_window(FakeAuditLog())


def test_concurrent_records_are_all_kept():
    contract.concurrent_records_are_all_kept(FakeAuditLog())


def test_a_solution_is_used_once_even_at_once():
    contract.a_solution_is_used_once_even_at_once(FakeUsedSolutions())


def test_expired_uses_are_forgotten_and_live_ones_kept():
    contract.expired_uses_are_forgotten_and_live_ones_kept(FakeUsedSolutions())


def test_the_later_issued_upload_holds_the_marker_whatever_the_order():
    contract.the_later_issued_upload_holds_the_marker_whatever_the_order(FakeUploadMarkers())


def test_concurrent_marks_leave_the_latest_issued():
    contract.concurrent_marks_leave_the_latest_issued(FakeUploadMarkers())


def test_an_outcome_is_written_only_for_the_upload_the_marker_names():
    contract.an_outcome_is_written_only_for_the_upload_the_marker_names(FakeUploadMarkers())


def test_a_lost_check_is_taken_up_by_one_view():
    contract.a_lost_check_is_taken_up_by_one_view(FakeUploadMarkers())


def test_forgetting_an_application_deletes_its_markers_only():
    contract.forgetting_an_application_deletes_its_markers_only(FakeUploadMarkers())
