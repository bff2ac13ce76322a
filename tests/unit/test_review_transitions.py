"""The queue index follows Keycloak through every transition, survives a crash between the two
writes, is repaired by reindex; "Siguiente solicitud" under concurrency; every decision ends with
its email sent or listed for resend (issue 11 §12)."""
from __future__ import annotations

import json
import threading
from datetime import date

import pytest

from keycloak_ext import IdentityUnavailable
from registro.domain.application import Application
from registro.domain.storage_keys import decision_key, failed_email_key
from registro.workflow import decisions as decisions_mod
from registro.workflow.activation import submit_for_review
from registro.workflow.leases import Reviewer
from registro.workflow.queue_index import MemoryBackend, QueueFilters, QueueIndex, QueueIndexUnavailable, entry_for
from registro.workflow.queue_reconcile import reconcile
from registro.workflow.review import ReviewService
from tests.support import review_data as data
from tests.unit.conftest import unit_settings

# The reviewers, the service fixture and `seen` of the review workflow's own tests.
from tests.unit.test_review_workflow import ANA, BETO, seen, service  # noqa: E402,F401


def assert_index_agrees(identity, index):
    """Same ids, same entries (order, facets, search terms) as Keycloak's `en_revision` set."""
    pending = [Application(a) for a in identity.iter_by_attribute("estatus", "en_revision")
               if a.attr("estatus") == "en_revision"]
    want = [a.id for a in sorted(pending, key=lambda a: (entry_for(a).score, a.id))]
    assert index.all_ids() == want
    for app in pending:
        stored = index.get(app.id)
        assert stored == entry_for(app) and stored.terms == entry_for(app).terms
    assert index.counts().total == len(want)


def pending_documents_only(fakes):
    """An application with every document in, not yet submitted (status pendiente_documentos)."""
    created = data.create_pending(fakes.identity, fakes.storage)
    fakes.identity.update_attributes(created.id, {"estatus": "pendiente_documentos", "fecha_envio": None})
    return created


def replace_flagged(fakes, account_id):
    from dataclasses import replace as dc_replace

    from registro.domain.application import documents_attribute
    from registro.workflow.documents import CORRECTION_ROUND, correction_round

    app = Application(fakes.identity.get_account(account_id))
    documents = dict(app.documents)
    for kind in app.correction.get("documentos", {}):
        documents[kind] = dc_replace(documents[kind], sha256="0" * 64,
                                     details={**documents[kind].details, CORRECTION_ROUND: correction_round(app)})
    fakes.identity.update_attributes(account_id, {"documentos": documents_attribute(documents)})


def test_index_follows_every_transition(service, fakes):
    index = fakes.queue_index
    first = pending_documents_only(fakes)
    second = pending_documents_only(fakes)
    assert_index_agrees(fakes.identity, index)
    for created in (first, second):
        submit_for_review(fakes.identity, fakes.storage, Application(fakes.identity.get_account(created.id)),
                          date.today(), index)
        assert_index_agrees(fakes.identity, index)
    service.claim(first.id, ANA)
    assert index.counts().reserved == 1
    service.request_correction(first.id, ANA, reasons={"curp": ["ilegible"]}, comment="", **seen(service, first.id))
    assert_index_agrees(fakes.identity, index)
    assert index.counts().reserved == 0
    # the correction round: the flagged document replaced, sent again, queued at its new time (after `second`)
    replace_flagged(fakes, first.id)
    submit_for_review(fakes.identity, fakes.storage, Application(fakes.identity.get_account(first.id)),
                      date.today(), index)
    assert_index_agrees(fakes.identity, index)
    for created, decide in ((first, "approve"), (second, "reject")):
        service.claim(created.id, ANA)
        kwargs = {"reason": "Documentos apócrifos."} if decide == "reject" else {}
        getattr(service, decide)(created.id, ANA, **kwargs, **seen(service, created.id))
        assert_index_agrees(fakes.identity, index)
    assert index.counts().total == 0


def test_keycloak_failing_at_submission_leaves_no_entry(fakes):
    created = pending_documents_only(fakes)
    app = Application(fakes.identity.get_account(created.id))
    original = fakes.identity.update_account

    def crash(account_id, **changes):  # every read-modify-write goes through update_account (record_lock)
        if (changes.get("attributes") or {}).get("estatus") == "en_revision":
            raise IdentityUnavailable("caído")
        return original(account_id, **changes)

    fakes.identity.update_account = crash
    with pytest.raises(IdentityUnavailable):
        submit_for_review(fakes.identity, fakes.storage, app, date.today(), fakes.queue_index)
    fakes.identity.update_account = original
    assert_index_agrees(fakes.identity, fakes.queue_index)


class FlakyIndex(QueueIndex):
    """Fails the write after Keycloak's: the crash between the two writes."""

    def __init__(self):
        super().__init__(MemoryBackend())
        self.fail_remove = False

    def remove(self, account_id):
        if self.fail_remove:
            raise QueueIndexUnavailable("caído")
        super().remove(account_id)


def test_crash_between_the_two_writes_leaves_a_ghost_that_siguiente_and_reindex_remove(app, fakes):
    index = FlakyIndex()
    with app.test_request_context():
        service = ReviewService(fakes.identity, fakes.storage, fakes.mailer, unit_settings(), index)
        older = data.create_pending(fakes.identity, fakes.storage, index=index, fecha_envio="2026-01-01T00:00:00+00:00")
        newer = data.create_pending(fakes.identity, fakes.storage, index=index, fecha_envio="2026-01-02T00:00:00+00:00")
        service.claim(older.id, ANA)
        index.fail_remove = True
        assert service.approve(older.id, ANA, **seen(service, older.id)).email_sent  # the decision stands
        index.fail_remove = False
        assert older.id in index.all_ids()  # one too many, never one missing
        drift = reconcile(fakes.identity, fakes.storage, index, repair=False)
        assert drift.extra == [older.id] and not drift.missing
        # "Siguiente" never hands out the ghost; reindex removes it
        assert service.next(QueueFilters(), BETO).account_id == newer.id
        reconcile(fakes.identity, fakes.storage, index, repair=True)
        assert_index_agrees(fakes.identity, index)


def test_siguiente_drops_a_ghost_it_meets(service, fakes):
    index = fakes.queue_index
    ghost = data.create_pending(fakes.identity, fakes.storage, index=index, fecha_envio="2026-01-01T00:00:00+00:00")
    real = data.create_pending(fakes.identity, fakes.storage, index=index, fecha_envio="2026-01-02T00:00:00+00:00")
    fakes.identity.update_attributes(ghost.id, {"estatus": "rechazado"})  # as if the index write had been lost
    assert service.next(QueueFilters(), BETO).account_id == real.id
    assert ghost.id not in index.all_ids()
    assert_index_agrees(fakes.identity, index)


def test_reindex_repairs_a_damaged_index(service, fakes):
    index = fakes.queue_index
    apps = [data.create_pending(fakes.identity, fakes.storage, index=index, foreign=n % 2 == 0) for n in range(6)]
    service.claim(apps[0].id, ANA)
    index.remove(apps[1].id)  # lost
    fakes.identity.update_attributes(apps[2].id, {"folio": "AU-2026-CAMBIADO"})  # stale entry
    gone = data.create_pending(fakes.identity, fakes.storage, index=index)
    fakes.identity.delete_account(gone.id)  # a ghost
    index.mark_released(apps[0].id)  # reservation mirror lost
    drift = reconcile(fakes.identity, fakes.storage, index, repair=True)
    assert drift.missing == [apps[1].id] and drift.extra == [gone.id] and drift.stale == [apps[2].id]
    assert drift.reservations_fixed == 1
    assert_index_agrees(fakes.identity, index)
    assert index.counts().reserved == 1
    assert reconcile(fakes.identity, fakes.storage, index, repair=False).total == 0


def test_reindex_does_not_undo_a_submission_made_during_the_run(fakes):
    index = fakes.queue_index
    created = data.create_pending(fakes.identity, fakes.storage, index=index)
    original = fakes.identity.iter_by_attribute
    fakes.identity.iter_by_attribute = lambda name, value, page_size=200: iter([])  # snapshot taken before it
    try:
        drift = reconcile(fakes.identity, fakes.storage, index, repair=True)
    finally:
        fakes.identity.iter_by_attribute = original
    assert drift.extra == [created.id] and index.all_ids() == [created.id]


def test_siguiente_by_many_reviewers_at_the_same_instant_gives_different_applications(service, fakes):
    apps = [data.create_pending(fakes.identity, fakes.storage, index=fakes.queue_index,
                                fecha_envio=f"2026-01-01T00:00:{n:02d}+00:00") for n in range(6)]
    reviewers = [Reviewer(f"id-{n}", f"revisor{n}") for n in range(8)]
    barrier = threading.Barrier(len(reviewers))
    got = {}

    def ask(reviewer):
        barrier.wait()
        lease = service.next(QueueFilters(), reviewer)
        got[reviewer.id] = lease.account_id if lease else None

    threads = [threading.Thread(target=ask, args=(r,)) for r in reviewers]
    [t.start() for t in threads]
    [t.join() for t in threads]
    claimed = [v for v in got.values() if v]
    assert sorted(claimed) == sorted(a.id for a in apps)  # each one once; two reviewers got none
    assert list(got.values()).count(None) == 2


def test_siguiente_takes_the_oldest_free_matching_the_filters(service, fakes):
    index = fakes.queue_index
    a = data.create_pending(fakes.identity, fakes.storage, index=index, fecha_envio="2026-01-01T00:00:00+00:00")
    b = data.create_pending(fakes.identity, fakes.storage, index=index, fecha_envio="2026-01-02T00:00:00+00:00",
                            tipo_usuario="transportista")
    c = data.create_pending(fakes.identity, fakes.storage, index=index, fecha_envio="2026-01-03T00:00:00+00:00",
                            tipo_usuario="transportista")
    assert service.next(QueueFilters(tipo="transportista"), ANA).account_id == b.id
    assert service.next(QueueFilters(), BETO).account_id == a.id
    assert service.next(QueueFilters(), BETO).account_id == c.id
    assert service.next(QueueFilters(), BETO) is None


# --- issue 11 §12: every decision ends with its email sent or listed for resend ---------------------------
def test_correction_link_failing_after_the_status_change_is_listed_and_a_retry_completes_it(service, fakes):
    created = data.create_pending(fakes.identity, fakes.storage, index=fakes.queue_index)
    service.claim(created.id, ANA)
    before = seen(service, created.id)
    original = fakes.identity.update_account

    def link_fails(account_id, **changes):  # the link's version rotates through update_account (record_lock)
        if "enlace_version" in (changes.get("attributes") or {}):
            raise IdentityUnavailable("caído")
        return original(account_id, **changes)

    fakes.identity.update_account = link_fails
    outcome = service.request_correction(created.id, ANA, reasons={"curp": ["ilegible"]}, comment="", **before)
    assert not outcome.email_sent and service.failed_emails() == [created.id]
    assert fakes.identity.get_account(created.id).attr("estatus") == "requiere_correccion"
    fakes.identity.update_account = original
    assert service.resend(created.id, BETO).email_sent
    assert "/activacion/" in fakes.mailer.to(created.email)[-1].text and service.failed_emails() == []


def test_audit_failing_after_the_status_change_is_completed_by_the_repeated_post(service, fakes, monkeypatch):
    created = data.create_pending(fakes.identity, fakes.storage, index=fakes.queue_index)
    service.claim(created.id, ANA)
    before = seen(service, created.id)
    original = service.audit.record
    monkeypatch.setattr(service.audit, "record", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("S3")))
    first = service.reject(created.id, ANA, reason="Documentos apócrifos.", **before)
    assert first.email_sent and service.failed_emails() == [created.id]  # listed: its audit event is owed
    monkeypatch.setattr(service.audit, "record", original)
    # the reviewer presses the button again: the decision is completed (audit written, no second
    # email), not answered "already decided"
    again = service.reject(created.id, ANA, reason="Documentos apócrifos.", **before)
    assert again.email_sent and not again.already_decided
    assert len(fakes.mailer.to(created.email)) == 1 and service.failed_emails() == []
    assert [e["action"] for e in data.audit_events(fakes.storage, created.id)].count("rechazar") == 1


def test_a_crash_right_after_the_status_change_is_listed_for_resend(service, fakes, monkeypatch):
    created = data.create_pending(fakes.identity, fakes.storage, index=fakes.queue_index)
    service.claim(created.id, ANA)
    before = seen(service, created.id)

    def process_dies(*args, **kwargs):
        raise SystemExit("proceso terminado")  # nothing after the status change runs

    monkeypatch.setattr(service.decisions, "_complete", process_dies)
    with pytest.raises(SystemExit):
        service.approve(created.id, ANA, **before)
    monkeypatch.undo()
    assert fakes.identity.get_account(created.id).attr("estatus") == "aprobado"
    assert service.failed_emails() == [created.id]  # listed from before the status change
    monkeypatch.setattr(decisions_mod, "STALE_DECISION_S", -1)
    assert service.resend(created.id, BETO).email_sent
    assert service.failed_emails() == [] and len(fakes.mailer.to(created.email)) == 1


def test_a_resend_that_dies_half_way_does_not_stay_reenviando(service, fakes, monkeypatch):
    created = data.create_pending(fakes.identity, fakes.storage, index=fakes.queue_index)
    service.claim(created.id, ANA)
    fakes.mailer.down = True
    service.approve(created.id, ANA, **seen(service, created.id))
    fakes.mailer.down = False
    monkeypatch.setattr(service.decisions, "_complete", lambda *a, **k: (_ for _ in ()).throw(SystemExit("muere")))
    with pytest.raises(SystemExit):
        service.resend(created.id, BETO)
    monkeypatch.undo()
    ronda = Application(fakes.identity.get_account(created.id)).decision["ronda"]
    assert json.loads(fakes.storage.get(decision_key(created.id, ronda)))["correo"] == "reenviando"
    assert service.resend(created.id, BETO).already_decided  # another resend is still in its window
    monkeypatch.setattr(decisions_mod, "STALE_RESEND_S", -1)  # ... which has now passed
    assert service.resend(created.id, BETO).email_sent
    assert json.loads(fakes.storage.get(decision_key(created.id, ronda)))["correo"] == "enviado"
    assert not fakes.storage.objects.get(failed_email_key(created.id))


def test_a_resend_whose_mail_fails_again_stays_listed(service, fakes):
    created = data.create_pending(fakes.identity, fakes.storage, index=fakes.queue_index)
    service.claim(created.id, ANA)
    fakes.mailer.down = True
    service.approve(created.id, ANA, **seen(service, created.id))
    assert not service.resend(created.id, BETO).email_sent
    assert service.failed_emails() == [created.id]
    fakes.mailer.down = False
    assert service.resend(created.id, BETO).email_sent and service.failed_emails() == []
