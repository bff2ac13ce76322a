"""Issue 11, item 14: the purge re-reads the status under the application's edit lock, so an
application confirmed or submitted while a purge run is under way is not deleted."""
from __future__ import annotations

from registro.domain.storage_keys import application_prefix
from registro.ops import expiry as purge
from registro.ops.expiry import purge_expired
from registro.kernel.record_lock import editing
from tests.fakes import FakeIdentity, FakeStore
from tests.support.applications import create_application
from tests.unit.conftest import unit_settings
from tests.unit.test_activation import _ago


class SubmitsAfterSearch(FakeIdentity):
    """The applicant submits right after the purge's search listed the application as expired."""

    def __init__(self) -> None:
        super().__init__()
        self.submit_after_search: str | None = None

    def iter_by_attribute(self, name, value):
        found = list(super().iter_by_attribute(name, value))
        if self.submit_after_search and value == "pendiente_documentos":
            self.update_attributes(self.submit_after_search, {"estatus": "en_revision"})
        return iter(found)


def test_application_submitted_during_a_purge_run_is_kept():
    identity, store, settings = SubmitsAfterSearch(), FakeStore(), unit_settings()
    account_id, _ = create_application(identity, store, settings, status="pendiente_documentos",
                                       fecha_registro=_ago(31))
    identity.submit_after_search = account_id
    assert purge_expired(identity, store, settings) == []
    assert account_id in identity.accounts
    assert store.list_keys(application_prefix(account_id))


def test_application_being_changed_is_left_for_the_next_run(monkeypatch):
    identity, store, settings = FakeIdentity(), FakeStore(), unit_settings()
    account_id, _ = create_application(identity, store, settings, status="pendiente_correo", fecha_registro=_ago(8))
    identity.lock_wait_s = 0.0
    with editing(identity, account_id):  # an upload or a confirmation holding the record right now
        assert purge_expired(identity, store, settings) == []
    assert account_id in identity.accounts
    assert [f.account_id for f in purge_expired(identity, store, settings)] == [account_id]
    assert account_id not in identity.accounts and store.list_keys(application_prefix(account_id)) == []
