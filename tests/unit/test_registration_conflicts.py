"""A slow registration that the reconciler completed first is a success, not a rollback."""
from __future__ import annotations

from registro.domain.storage_keys import responsiva_key
from tests.support.registration import mexican_form, post_registration


def _confirmations(fakes) -> list[str]:
    return [r["application_id"] for r in fakes.outbox_store.rows.values() if r["kind"] == "confirmacion"]


# --- the reconciler completed it first --------------------------------------------------------------
def test_a_registration_the_reconciler_completed_first_succeeds_without_rollback(client, fakes, monkeypatch):
    """Keycloak was slow: the reconciler found the account and completed the application (queuing the
    email) before registration's own `complete`, which then finds no `creando` row."""
    complete = fakes.applications.complete

    def reconciler_first(application_id, account_id, email, kind="confirmacion", events=()):
        assert complete(application_id, account_id, email, kind, events)  # the reconciler's transaction
        return False

    monkeypatch.setattr(fakes.applications, "complete", reconciler_first)
    assert post_registration(client, mexican_form()).status_code == 302
    (account,) = fakes.identity.accounts.values()
    assert fakes.applications.state_of(account.id) == "activa"
    assert responsiva_key(account.id, account.attr("folio")) in fakes.storage.objects
    assert len(_confirmations(fakes)) == 1


def test_a_registration_the_reconciler_cancelled_is_undone(client, fakes, monkeypatch):
    def reconciler_cancelled(application_id, account_id, email, kind="confirmacion", events=()):
        assert fakes.applications.cancel(application_id, "registro interrumpido antes de crear la cuenta")
        return False

    monkeypatch.setattr(fakes.applications, "complete", reconciler_cancelled)
    assert post_registration(client, mexican_form()).status_code == 503
    assert not fakes.identity.accounts and not fakes.storage.objects and not _confirmations(fakes)
