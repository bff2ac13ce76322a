"""What a decision leaves behind when something fails after the status change: a rejection frees the person
in that same change (SPEC §9), and the audit event still owed is written by the background pass — once, from
the decision's own row — since the console no longer offers the reviewer the decision to repeat."""
from __future__ import annotations

import threading

import pytest

from registro.domain.application import Application
from registro.kernel.applications import Intent, identifiers_of
from registro.review.decisions import Decisions
from tests.support import review_contract as contract
from tests.support import review_data as data
from tests.unit.test_review_transitions import replace_flagged
from tests.unit.test_review_workflow import ANA, seen, service  # noqa: F401

REASON = "Documentos apócrifos."


def _recorded(fakes):
    """An application in review that registration recorded, holding its CURP and RFC."""
    created = data.create_pending(fakes.identity, fakes.storage)
    account = fakes.identity.get_account(created.id)
    fakes.applications.record(created.id, account.username, dict(account.attributes))
    return created


def _failing_audit(service, monkeypatch):
    monkeypatch.setattr(service.audit, "record", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("base de datos")))


def _decisions_of(fakes, account_id, action):
    return [e for e in data.audit_events(fakes.audit, account_id) if e["action"] == action]


def _ronda(fakes, account_id):
    return Application(fakes.identity.get_account(account_id)).decision["ronda"]


def _approved_until_the_process_dies(service, fakes, monkeypatch, owner, step: str):
    """ANA approves an application in review and the process dies at `owner.step` (nothing after it runs)."""
    created = data.create_pending(fakes.identity, fakes.storage)
    service.claim(created.id, ANA)
    before = seen(service, created.id)
    monkeypatch.setattr(owner, step, lambda *a, **k: (_ for _ in ()).throw(SystemExit("muere")))
    with pytest.raises(SystemExit):
        service.approve(created.id, ANA, **before)
    monkeypatch.undo()
    return created


def _another_replica(service, fakes) -> Decisions:
    return Decisions(fakes.identity, fakes.decisions, service.outbox, service.settings, service.leases,
                     service.audit)


def test_a_rejection_frees_the_person_in_the_change_of_its_status(service, fakes, monkeypatch):
    created = _recorded(fakes)
    ids = identifiers_of(fakes.identity.get_account(created.id).attributes)
    service.claim(created.id, ANA)
    before = seen(service, created.id)

    def process_dies(*args, **kwargs):
        raise SystemExit("proceso terminado")  # nothing after the status change runs

    # Whatever runs after the status change may never run: a separate step that closes the application.
    monkeypatch.setattr(fakes.applications, "reject", process_dies)
    monkeypatch.setattr(service.decisions, "_complete", process_dies)
    with pytest.raises(SystemExit):
        service.reject(created.id, ANA, reason=REASON, **before)
    monkeypatch.undo()
    assert fakes.identity.get_account(created.id).attr("estatus") == "rechazado"
    assert fakes.applications.state_of(created.id) == "rechazada"
    fakes.applications.begin(Intent.new(folio="AU-2026-OTRAVEZ01", username="otra-vez", link_version="v",
                                        es_extranjero=False), ids)  # the same CURP and RFC apply again
    assert fakes.applications.rejections_of(ids) == 1


def test_a_rejection_the_database_refuses_changes_nothing(service, fakes):
    created = _recorded(fakes)
    service.claim(created.id, ANA)
    before = seen(service, created.id)
    fakes.applications.down = True
    with pytest.raises(Exception):
        service.reject(created.id, ANA, reason=REASON, **before)
    fakes.applications.down = False
    assert fakes.identity.get_account(created.id).attr("estatus") == "en_revision"
    assert fakes.applications.state_of(created.id) == "activa"


def test_an_owed_audit_event_is_written_by_the_background_pass_once(app, service, fakes, monkeypatch):
    from registro.background import complete_decisions_now

    created = data.create_pending(fakes.identity, fakes.storage)
    service.claim(created.id, ANA)
    before = seen(service, created.id)
    original = service.audit.record
    _failing_audit(service, monkeypatch)
    service.reject(created.id, ANA, reason=REASON, **before)
    monkeypatch.setattr(service.audit, "record", original)
    assert _decisions_of(fakes, created.id, "rechazar") == []
    contract.age_fake_decision(fakes.decisions, created.id, _ronda(fakes, created.id), 3600)  # time passes
    assert complete_decisions_now(app) == 1  # what each replica's background job runs
    (event,) = _decisions_of(fakes, created.id, "rechazar")
    assert (event["actor_id"], event["actor_username"], event["comment"]) == (ANA.id, ANA.username, REASON)
    assert event["details"]["ronda"] == _ronda(fakes, created.id)
    assert complete_decisions_now(app) == 0
    assert len(_decisions_of(fakes, created.id, "rechazar")) == 1
    assert len(fakes.mailer.to(created.email)) == 1  # nothing sent again


def test_two_replicas_completing_at_once_write_one_event(service, fakes, monkeypatch):
    created = data.create_pending(fakes.identity, fakes.storage)
    service.claim(created.id, ANA)
    before = seen(service, created.id)
    original = service.audit.record
    _failing_audit(service, monkeypatch)
    service.approve(created.id, ANA, **before)
    monkeypatch.setattr(service.audit, "record", original)
    replicas = [_another_replica(service, fakes) for _ in range(4)]
    barrier, done = threading.Barrier(len(replicas)), []

    def run(decisions):
        barrier.wait()
        done.append(decisions.complete_owed())

    threads = [threading.Thread(target=run, args=(d,)) for d in replicas]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(done) == [0, 0, 0, 1]
    (event,) = _decisions_of(fakes, created.id, "aprobar")
    assert event["actor_username"] == ANA.username


def test_a_decision_whose_process_died_after_the_change_is_completed_once_stale(service, fakes, monkeypatch):
    created = _approved_until_the_process_dies(service, fakes, monkeypatch, service.decisions, "_complete")
    passing = _another_replica(service, fakes)
    assert passing.complete_owed() == 0  # within STALE_DECISION_S its request may still be finishing
    contract.age_fake_decision(fakes.decisions, created.id, _ronda(fakes, created.id), 121)
    assert passing.complete_owed() == 1
    (event,) = _decisions_of(fakes, created.id, "aprobar")
    assert (event["actor_id"], event["actor_username"]) == (ANA.id, ANA.username)
    assert fakes.decisions.get(created.id, _ronda(fakes, created.id)).record["auditoria"] == "escrita"


def test_a_decision_that_died_before_the_change_is_left_to_the_reviewer(service, fakes, monkeypatch):
    created = data.create_pending(fakes.identity, fakes.storage)
    service.claim(created.id, ANA)
    before = seen(service, created.id)
    ronda = before["round_seen"]
    monkeypatch.setattr(service.decisions, "_change", lambda *a, **k: (_ for _ in ()).throw(SystemExit("muere")))
    with pytest.raises(SystemExit):
        service.approve(created.id, ANA, **before)
    monkeypatch.undo()
    contract.age_fake_decision(fakes.decisions, created.id, ronda, 121)
    assert service.decisions.complete_owed() == 0  # nothing was decided: no event, the row stays for a retry
    assert _decisions_of(fakes, created.id, "aprobar") == []
    assert fakes.decisions.get(created.id, ronda).state == "en_curso"


def test_the_completed_event_names_the_documents_the_reviewer_saw(service, fakes, monkeypatch):
    created = data.create_pending(fakes.identity, fakes.storage)
    service.claim(created.id, ANA)
    before = seen(service, created.id)
    saw = {k: d.sha256 for k, d in service.application(created.id).documents.items()}
    original = service.audit.record
    _failing_audit(service, monkeypatch)
    reasons = {kind: ["ilegible"] for kind in list(saw)[:1]}
    service.request_correction(created.id, ANA, reasons=reasons, comment="Vuelva a subirlo.", **before)
    monkeypatch.setattr(service.audit, "record", original)
    replace_flagged(fakes, created.id)  # the applicant replaced the document since
    assert {k: d.sha256 for k, d in service.application(created.id).documents.items()} != saw
    # completed by the repeated POST here; the background pass writes it from the same row
    service.request_correction(created.id, ANA, reasons=reasons, comment="Vuelva a subirlo.", **before)
    (event,) = _decisions_of(fakes, created.id, "solicitar_correccion")
    assert event["documents_sha256"] == saw


def test_a_completion_that_died_after_its_event_is_not_audited_twice(service, fakes, monkeypatch):
    """The event is written, then the process dies before the row is marked: whoever takes the row over
    once stale finds the decision's event written (its id is the decision's own) and writes no second."""
    created = _approved_until_the_process_dies(service, fakes, monkeypatch, fakes.decisions, "finish")
    assert len(_decisions_of(fakes, created.id, "aprobar")) == 1
    contract.age_fake_decision(fakes.decisions, created.id, _ronda(fakes, created.id), 3600)
    passing = _another_replica(service, fakes)
    assert passing.complete_owed() == 1
    assert fakes.decisions.get(created.id, _ronda(fakes, created.id)).record["auditoria"] == "escrita"
    (event,) = _decisions_of(fakes, created.id, "aprobar")
    assert (event["actor_id"], event["actor_username"]) == (ANA.id, ANA.username)
    assert passing.complete_owed() == 0
