"""The queue follows the record through every transition (it is read from it: nothing to repair);
"Siguiente solicitud" under concurrency; every applied decision's
email reaches the applicant through the outbox, whatever fails on the way (issue 11 §12, issue 20 §5)."""
from __future__ import annotations

import threading
from datetime import date

import pytest

from keycloak_ext import IdentityUnavailable
from registro.domain.application import Application
from registro.review import decisions as decisions_mod
from registro.documents.activation import submit_for_review
from registro.review.leases import Reviewer
from registro.review.queue import QueueFilters, entry_for
from registro.review.service import ReviewService
from tests.support import review_data as data
from tests.unit.conftest import unit_settings

# The reviewers, the service fixture and `seen` of the review workflow's own tests.
from tests.unit.test_review_workflow import ANA, BETO, outbox_of, seen, service  # noqa: E402,F401


def assert_index_agrees(identity, index):
    """Same ids, same entries (order, facets, status) as the records' `en_revision` set."""
    pending = [Application(a) for a in identity.iter_by_attribute("estatus", "en_revision")
               if a.attr("estatus") == "en_revision"]
    want = [a.id for a in sorted(pending, key=lambda a: (entry_for(a).score, a.id))]
    assert index.all_ids() == want
    for app in pending:
        stored = index.get(app.id)
        want_entry = entry_for(app)
        assert (stored.account_id, stored.folio, stored.full_name, stored.tipo_usuario, stored.es_extranjero,
                stored.estatus, stored.score) == (want_entry.account_id, want_entry.folio, want_entry.full_name,
                                                  want_entry.tipo_usuario, want_entry.es_extranjero,
                                                  want_entry.estatus, want_entry.score)
    assert index.counts().total == len(want)


def pending_documents_only(fakes):
    """An application with every document in, not yet submitted (status pendiente_documentos)."""
    created = data.create_pending(fakes.identity, fakes.storage)
    fakes.identity.update_attributes(created.id, {"estatus": "pendiente_documentos", "fecha_envio": None})
    return created


def replace_flagged(fakes, account_id):
    from dataclasses import replace as dc_replace

    from registro.domain.application import documents_attribute
    from registro.documents.service import CORRECTION_ROUND, correction_round

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
                          date.today())
        assert_index_agrees(fakes.identity, index)
    service.claim(first.id, ANA)
    assert index.counts().reserved == 1
    service.request_correction(first.id, ANA, reasons={"curp": ["ilegible"]}, comment="", **seen(service, first.id))
    assert_index_agrees(fakes.identity, index)
    assert index.counts().reserved == 0
    # the correction round: the flagged document replaced, sent again, queued at its new time (after `second`)
    replace_flagged(fakes, first.id)
    submit_for_review(fakes.identity, fakes.storage, Application(fakes.identity.get_account(first.id)),
                      date.today())
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
        submit_for_review(fakes.identity, fakes.storage, app, date.today())
    fakes.identity.update_account = original
    assert_index_agrees(fakes.identity, fakes.queue_index)


def test_siguiente_drops_a_ghost_it_meets(service, fakes):
    index = fakes.queue_index
    ghost = data.create_pending(fakes.identity, fakes.storage, fecha_envio="2026-01-01T00:00:00+00:00")
    real = data.create_pending(fakes.identity, fakes.storage, fecha_envio="2026-01-02T00:00:00+00:00")
    fakes.identity.update_attributes(ghost.id, {"estatus": "rechazado"})  # decided meanwhile
    assert service.next(QueueFilters(), BETO).account_id == real.id
    assert ghost.id not in index.all_ids()
    assert_index_agrees(fakes.identity, index)


def test_siguiente_by_many_reviewers_at_the_same_instant_gives_different_applications(service, fakes):
    apps = [data.create_pending(fakes.identity, fakes.storage,
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
    a = data.create_pending(fakes.identity, fakes.storage, fecha_envio="2026-01-01T00:00:00+00:00")
    b = data.create_pending(fakes.identity, fakes.storage, fecha_envio="2026-01-02T00:00:00+00:00",
                            tipo_usuario="transportista")
    c = data.create_pending(fakes.identity, fakes.storage, fecha_envio="2026-01-03T00:00:00+00:00",
                            tipo_usuario="transportista")
    assert service.next(QueueFilters(tipo="transportista"), ANA).account_id == b.id
    assert service.next(QueueFilters(), BETO).account_id == a.id
    assert service.next(QueueFilters(), BETO).account_id == c.id
    assert service.next(QueueFilters(), BETO) is None


# --- issue 11 §12, issue 20 §5: every applied decision's email goes out, with no reviewer's help -----------
def test_the_correction_link_rotates_with_the_status_so_a_keycloak_failure_leaves_neither(service, fakes):
    created = data.create_pending(fakes.identity, fakes.storage)
    service.claim(created.id, ANA)
    before = seen(service, created.id)
    version = fakes.identity.get_account(created.id).attr("enlace_version")
    original = fakes.identity.update_account

    def link_fails(account_id, **changes):  # the status and the link's version are one write
        if "enlace_version" in (changes.get("attributes") or {}):
            raise IdentityUnavailable("caído")
        return original(account_id, **changes)

    fakes.identity.update_account = link_fails
    with pytest.raises(IdentityUnavailable):
        service.request_correction(created.id, ANA, reasons={"curp": ["ilegible"]}, comment="", **before)
    account = fakes.identity.get_account(created.id)
    assert account.attr("estatus") == "en_revision" and account.attr("enlace_version") == version
    assert fakes.outbox_store.rows == {} and fakes.mailer.to(created.email) == []  # its held email discarded
    fakes.identity.update_account = original
    assert not service.request_correction(created.id, ANA, reasons={"curp": ["ilegible"]}, comment="",
                                          **before).already_decided  # the reviewer's retry starts clean
    (mail,) = fakes.mailer.to(created.email)
    link_version = fakes.identity.get_account(created.id).attr("enlace_version")
    assert link_version != version
    from registro.kernel.confirmation_links import link_for
    assert link_for(unit_settings(), created.id, link_version) in mail.text  # the link the account holds


def test_audit_failing_after_the_status_change_is_completed_by_the_repeated_post(service, fakes, monkeypatch):
    created = data.create_pending(fakes.identity, fakes.storage)
    service.claim(created.id, ANA)
    before = seen(service, created.id)
    original = service.audit.record
    monkeypatch.setattr(service.audit, "record", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("S3")))
    first = service.reject(created.id, ANA, reason="Documentos apócrifos.", **before)
    assert not first.already_decided and len(fakes.mailer.to(created.email)) == 1  # the email does not wait
    ronda = Application(fakes.identity.get_account(created.id)).decision["ronda"]
    assert fakes.decisions.get(created.id, ronda).record["auditoria"] == "pendiente"
    monkeypatch.setattr(service.audit, "record", original)
    # the reviewer presses the button again: the decision is completed (audit written, no second
    # email), not answered "already decided"
    again = service.reject(created.id, ANA, reason="Documentos apócrifos.", **before)
    assert not again.already_decided
    assert len(fakes.mailer.to(created.email)) == 1
    assert fakes.decisions.get(created.id, ronda).record["auditoria"] == "escrita"
    assert [e["action"] for e in data.audit_events(fakes.audit, created.id)].count("rechazar") == 1
    assert service.reject(created.id, ANA, reason="Documentos apócrifos.", **before).already_decided


def test_a_crash_right_after_the_status_change_still_emails_the_applicant(service, fakes, monkeypatch):
    created = data.create_pending(fakes.identity, fakes.storage)
    service.claim(created.id, ANA)
    before = seen(service, created.id)

    def process_dies(*args, **kwargs):
        raise SystemExit("proceso terminado")  # nothing after the status change runs

    monkeypatch.setattr(service.decisions, "_complete", process_dies)
    with pytest.raises(SystemExit):
        service.approve(created.id, ANA, **before)
    monkeypatch.undo()
    assert fakes.identity.get_account(created.id).attr("estatus") == "aprobado"
    assert fakes.mailer.to(created.email) == []  # held: its release never came
    fakes.outbox_store.pass_hold()  # HOLD_S passes; the worker's next round sends it, no reviewer involved
    service.outbox.deliver_due()
    (mail,) = fakes.mailer.to(created.email)
    assert fakes.identity.passwords[created.id][0] in mail.text
    # The audit event the crash left owed: written by the repeated decision, which sends nothing again.
    monkeypatch.setattr(decisions_mod, "STALE_DECISION_S", -1)
    assert not service.approve(created.id, ANA, **before).already_decided
    assert [e["action"] for e in data.audit_events(fakes.audit, created.id)].count("aprobar") == 1
    assert len(fakes.mailer.to(created.email)) == 1


def approval_dying_before_the_change(service, fakes, monkeypatch):
    """A claimed application whose approval's process dies before the status change; returns it and
    the version the reviewer saw, to decide again."""
    created = data.create_pending(fakes.identity, fakes.storage)
    service.claim(created.id, ANA)
    before = seen(service, created.id)
    monkeypatch.setattr(service.decisions, "_change", lambda *a, **k: (_ for _ in ()).throw(SystemExit("muere")))
    with pytest.raises(SystemExit):
        service.approve(created.id, ANA, **before)
    monkeypatch.undo()
    return created, before


def test_a_crash_before_the_status_change_sends_nothing_and_the_retry_sends_once(service, fakes, monkeypatch):
    created, before = approval_dying_before_the_change(service, fakes, monkeypatch)
    assert fakes.identity.get_account(created.id).attr("estatus") == "en_revision"
    (orphan,) = fakes.outbox_store.rows  # written held before the change that never came
    fakes.outbox_store.pass_hold()
    service.outbox.deliver_due()
    assert fakes.outbox_store.rows == {} and fakes.mailer.to(created.email) == []  # deleted unsent: obsolete
    monkeypatch.setattr(decisions_mod, "STALE_DECISION_S", -1)  # the dead request's record is taken over
    assert not service.approve(created.id, ANA, **before).already_decided
    (mail,) = fakes.mailer.to(created.email)
    assert fakes.identity.passwords[created.id][0] in mail.text


def test_a_late_row_of_an_earlier_attempt_is_not_sent(service, fakes, monkeypatch):
    """A request dies before its change; the reviewer decides again after STALE_DECISION_S: the dead
    attempt's row (with a password never set) falls due after the new one was sent — and is dropped."""
    created, before = approval_dying_before_the_change(service, fakes, monkeypatch)
    monkeypatch.setattr(decisions_mod, "STALE_DECISION_S", -1)
    service.approve(created.id, ANA, **before)
    fakes.outbox_store.pass_hold()
    service.outbox.deliver_due()
    (mail,) = fakes.mailer.to(created.email)
    assert fakes.identity.passwords[created.id][0] in mail.text and fakes.outbox_store.pending_count() == 0


def test_a_completion_that_dies_half_way_is_taken_over_once_stale(service, fakes, monkeypatch):
    created = data.create_pending(fakes.identity, fakes.storage)
    service.claim(created.id, ANA)
    before = seen(service, created.id)
    original = service.audit.record
    monkeypatch.setattr(service.audit, "record", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("S3")))
    service.approve(created.id, ANA, **before)
    monkeypatch.setattr(service.audit, "record", original)
    complete = service.decisions._complete
    monkeypatch.setattr(service.decisions, "_complete", lambda *a, **k: (_ for _ in ()).throw(SystemExit("muere")))
    with pytest.raises(SystemExit):
        service.approve(created.id, ANA, **before)  # the repeat takes the record, then dies
    monkeypatch.setattr(service.decisions, "_complete", complete)
    ronda = Application(fakes.identity.get_account(created.id)).decision["ronda"]
    assert fakes.decisions.get(created.id, ronda).state == "completando"
    assert service.approve(created.id, ANA, **before).already_decided  # another completion is in its window
    monkeypatch.setattr(decisions_mod, "STALE_COMPLETION_S", -1)  # ... which has now passed
    assert not service.approve(created.id, ANA, **before).already_decided
    row = fakes.decisions.get(created.id, ronda)
    assert row.record["auditoria"] == "escrita" and row.state == "aplicada"
    assert [e["action"] for e in data.audit_events(fakes.audit, created.id)].count("aprobar") == 1
    assert len(fakes.mailer.to(created.email)) == 1
