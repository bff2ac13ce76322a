"""The request of a new status link does the same work whatever the folio and email (issue 21, item 13):
an existing folio answered 1.5–3.5 ms later than an unknown one, because the lookup beside the request
read the account and rendered the email only for a folio that exists. Here the work is counted; the time
it takes is measured in benchmarks/bench_status_link.py."""
from __future__ import annotations

import threading

import pytest

from registro.kernel import emails
from tests.support.registration import csrf_token

FOLIO, EMAIL = "AU-2026-7K3M9QX2", "ana.pena@example.com"


@pytest.fixture
def application(fakes):
    attrs = {"estatus": "en_revision", "folio": FOLIO, "fecha_registro": "2026-11-01T15:00:00+00:00",
             "es_extranjero": "false", "tipo_usuario": "agente_aduanal"}
    account_id = fakes.identity.create_account(username="pela800101ab8", email=EMAIL, first_name="Ana",
                                               last_name="Peña", attributes=attrs, enabled=False)
    fakes.applications.record(account_id, "pela800101ab8", attrs)
    return account_id


def _work_of(client, fakes, monkeypatch, folio: str, correo: str) -> dict[str, int]:
    """Reads of an application's record (by id for a known folio, by folio for an unknown one: one
    indexed query of the database either way) and emails composed."""
    counted = {"lecturas": 0, "compose": 0}
    real_get, real_find, real_compose = fakes.identity.get_account, fakes.identity.find_by_attribute, emails.compose

    def get_account(account_id):
        counted["lecturas"] += 1
        return real_get(account_id)

    def find_by_attribute(name, value, **kwargs):
        counted["lecturas"] += 1
        return real_find(name, value, **kwargs)

    def compose(*args, **kwargs):
        counted["compose"] += 1
        return real_compose(*args, **kwargs)

    monkeypatch.setattr(fakes.identity, "get_account", get_account)
    monkeypatch.setattr(fakes.identity, "find_by_attribute", find_by_attribute)
    monkeypatch.setattr(emails, "compose", compose)
    page = client.get("/consulta").get_data(as_text=True)
    r = client.post("/consulta", data={"csrf_token": csrf_token(page), "folio": folio, "correo": correo})
    assert r.status_code == 200
    for thread in threading.enumerate():  # the lookup beside the request
        if thread.name == "consulta-correo":
            thread.join(10)
    monkeypatch.undo()
    return counted


def test_an_existing_folio_an_unknown_one_and_a_wrong_address_cost_the_same(client, fakes, monkeypatch,
                                                                           application):
    matching = _work_of(client, fakes, monkeypatch, FOLIO, EMAIL)
    other_address = _work_of(client, fakes, monkeypatch, FOLIO, "otra@example.com")
    unknown = _work_of(client, fakes, monkeypatch, "AU-2026-ZZZZZZZZ", EMAIL)
    assert matching == other_address == unknown == {"lecturas": 1, "compose": 1}


def test_only_the_matching_request_sends_anything(client, fakes, monkeypatch, application):
    for folio, correo in ((FOLIO, "otra@example.com"), ("AU-2026-ZZZZZZZZ", EMAIL), (FOLIO, EMAIL)):
        _work_of(client, fakes, monkeypatch, folio, correo)
    sent = [m for m in fakes.mailer.sent if "/consulta/" in m.text]
    assert [m.to for m in sent] == [EMAIL]
