"""The in-memory twin of registro's page_view_manifests table keeps the same contract as the real one
(tests/support/manifest_contract.py; on PostgreSQL: tests/integration/test_state_tables.py)."""
from __future__ import annotations

import pytest

from registro.platform.db import DatabaseUnavailable
from registro.review.page_views import ManifestStore
from tests.fakes import FakeManifestStore
from tests.support import manifest_contract as contract


@pytest.mark.parametrize("check", contract.CHECKS)
def test_the_fake_keeps_the_contract(check):
    check(FakeManifestStore())


@pytest.mark.parametrize("check", contract.VERSIONED)
def test_the_fake_reads_another_version_as_none(check, monkeypatch):
    check(FakeManifestStore(), monkeypatch)


def test_the_fake_is_a_manifest_store_and_fails_as_the_database_does():
    store = FakeManifestStore()
    assert isinstance(store, ManifestStore)
    store.down = True
    with pytest.raises(DatabaseUnavailable):
        store.get("solicitudes/a/documentos/curp/b")
