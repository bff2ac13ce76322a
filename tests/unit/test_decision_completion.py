"""What a decision leaves behind when something fails after the status change: a rejection frees the person
in that same change (SPEC §9), and the audit event still owed is written by the background pass — once, from
the decision's own row — since the console no longer offers the reviewer the decision to repeat."""
from __future__ import annotations

import pytest

from registro.kernel.applications import Intent, identifiers_of
from tests.support import review_data as data
from tests.unit.test_review_workflow import ANA, seen, service  # noqa: F401

REASON = "Documentos apócrifos."


def _recorded(fakes):
    """An application in review that registration recorded, holding its CURP and RFC."""
    created = data.create_pending(fakes.identity, fakes.storage)
    account = fakes.identity.get_account(created.id)
    fakes.applications.record(created.id, account.username, dict(account.attributes))
    return created


def _decisions_of(fakes, account_id, action):
    return [e for e in data.audit_events(fakes.audit, account_id) if e["action"] == action]


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