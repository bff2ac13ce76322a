"""A rejected applicant still reads "Consultar mi solicitud" (SPEC: the rejection and its reason are
shown there), so a new link can be asked for by folio and email after the rejection too."""
from __future__ import annotations

import threading

from tests.support.registration import RFC, csrf_token, mexican_form, post_registration


def _status_links(fakes) -> list[dict]:
    return [r for r in fakes.outbox_store.rows.values() if r["kind"] == "enlace_estado"]


def _ask(client, folio: str, correo: str) -> None:
    page = client.get("/consulta").get_data(as_text=True)
    r = client.post("/consulta", data={"csrf_token": csrf_token(page), "folio": folio, "correo": correo})
    assert r.status_code == 200 and 'id="consulta-enviado"' in r.get_data(as_text=True)
    for thread in threading.enumerate():
        if thread.name == "consulta-correo":
            thread.join(5)


def test_a_rejected_applicant_gets_a_new_status_link_by_folio_and_email(client, fakes):
    assert post_registration(client, mexican_form()).status_code == 302
    account = fakes.identity.find_by_username(RFC)
    fakes.identity.update_account(account.id, enabled=False, attributes={"estatus": "rechazado"})
    fakes.applications.reject(account.id, "documentos falsos")
    assert fakes.applications.state_of(account.id) == "rechazada"
    _ask(client, account.attr("folio"), "otra@example.com")  # the folio with another address: nothing
    assert not _status_links(fakes)
    _ask(client, account.attr("folio"), "ana.pena@example.com")
    assert len(_status_links(fakes)) == 1
