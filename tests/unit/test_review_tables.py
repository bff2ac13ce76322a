"""The review leases' and decision rows' rules (review/leases.py, review/decision_records.py) on the
in-memory twins; the same contract runs on PostgreSQL in tests/integration/test_review_tables.py."""
from __future__ import annotations

import inspect
from functools import partial

import pytest

from registro.review import decision_records as dr
from registro.review import leases as ls
from tests.fakes import FakeDecisionStore, FakeLeaseStore
from tests.support import review_contract as contract
from tests.unit.test_fakes_match_protocols import protocol_methods


def test_a_claim_is_held_renewed_and_released():
    contract.a_claim_is_held_renewed_and_released(FakeLeaseStore())


def test_two_claims_at_once_have_one_winner():
    contract.two_claims_at_once_have_one_winner(FakeLeaseStore())


def test_an_expired_lease_is_taken_over_and_its_old_holder_cannot_release_it():
    store = FakeLeaseStore()
    contract.an_expired_lease_is_taken_over_and_its_old_holder_cannot_release_it(
        store, partial(contract.expire_fake_lease, store))


def test_only_active_leases_are_listed():
    store = FakeLeaseStore()
    contract.only_active_leases_are_listed(store, partial(contract.expire_fake_lease, store))


def test_two_identical_requests_create_one_row():
    contract.two_identical_requests_create_one_row(FakeDecisionStore())


def test_a_stale_en_curso_row_is_taken_over_once():
    store = FakeDecisionStore()
    contract.a_stale_en_curso_row_is_taken_over_once(store, partial(contract.age_fake_decision, store))


def test_a_failed_change_removes_its_row():
    contract.a_failed_change_removes_its_row(FakeDecisionStore())


def test_a_decision_owing_its_completion_is_taken_once():
    store = FakeDecisionStore()
    contract.a_decision_owing_its_completion_is_taken_once(store, partial(contract.age_fake_decision, store))


def test_the_rows_owing_their_completion_are_listed():
    store = FakeDecisionStore()
    contract.the_rows_owing_their_completion_are_listed(store, partial(contract.age_fake_decision, store))


@pytest.mark.parametrize("protocol, real, fake", [
    (ls.LeaseStore, ls.PgLeaseStore, FakeLeaseStore),
    (dr.DecisionStore, dr.PgDecisionStore, FakeDecisionStore),
])
def test_the_twins_share_the_protocol(protocol, real, fake):
    methods = protocol_methods(protocol)
    assert methods
    for name in methods:
        expected = list(inspect.signature(getattr(protocol, name)).parameters)
        for implementation in (real, fake):
            assert list(inspect.signature(getattr(implementation, name)).parameters) == expected, \
                f"{implementation.__name__}.{name}"
