"""The in-memory twin of registro's document_readings table keeps the same contract as the real one
(tests/support/reading_contract.py; on PostgreSQL: tests/integration/test_state_tables.py)."""
from __future__ import annotations

import pytest

from registro.documents.readings import ReadingStore
from registro.platform.db import DatabaseUnavailable
from tests.fakes import FakeReadingStore
from tests.support import reading_contract as contract


@pytest.mark.parametrize("check", contract.CHECKS)
def test_the_fake_keeps_the_contract(check):
    check(FakeReadingStore())


def test_the_fake_is_a_reading_store_and_fails_as_the_database_does():
    store = FakeReadingStore()
    assert isinstance(store, ReadingStore)
    store.down = True
    with pytest.raises(DatabaseUnavailable):
        store.get("a", "curp")
