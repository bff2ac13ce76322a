"""The reconciler (registration/reconcile.py) over the fakes: what a round reaches."""
from keycloak_ext import IdentityUnavailable

from registro.kernel.applications import Intent
from registro.registration.reconcile import PAGE, reconcile


def test_intents_that_keep_failing_do_not_hide_the_ones_behind_them(app, fakes, monkeypatch):
    """A round used to list the oldest 100 intents only: 100 that kept failing (Keycloak refusing each
    lookup) were retried every minute and the 101st, which could be settled, never was."""
    for n in range(PAGE + 1):
        fakes.applications.begin(Intent.new(folio=f"AU-2026-REC{n:05d}", username=f"user{n}", link_version="v1",
                                            es_extranjero=False), {})
    *stuck, settleable = [s.intent for s in fakes.applications.stale_intents(-1, limit=10 ** 9)]
    failing = {i.username for i in stuck}

    def lookup(username):
        if username in failing:
            raise IdentityUnavailable("Keycloak no responde")
        return None  # no account: the intent is cancelled

    monkeypatch.setattr(fakes.identity, "find_by_username", lookup)
    with app.app_context():
        done = reconcile(applications=fakes.applications, identity=fakes.identity, storage=fakes.storage,
                         outbox=fakes.outbox, settings=app.extensions["registro.settings"], older_than_s=-1)
    assert (done.failed, done.cancelled) == (PAGE, 1)
    assert fakes.applications.state_of_account("", settleable.folio) == "cancelada"
    assert settleable.id not in {s.intent.id for s in fakes.applications.stale_intents(-1, limit=10 ** 9)}
