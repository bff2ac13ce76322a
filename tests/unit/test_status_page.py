"""“Consultar mi solicitud” (issue 14 §3): the timeline per status, the signed link, and the
enumeration-safe request of a new link."""
from __future__ import annotations

import json
import re

import pytest

from registro.kernel.audit import AuditTrail
from registro.kernel.status_links import signer, status_url
from tests.support.registration import csrf_token

from .conftest import unit_settings

REVIEWER = "revisora.gomez"


def _application(fakes, estatus: str, **attributes) -> str:
    attrs = {"estatus": estatus, "folio": "AU-2026-7K3M9QX2", "fecha_registro": "2026-11-01T15:00:00+00:00",
             "es_extranjero": "false", "tipo_usuario": "agente_aduanal", **attributes}
    account_id = fakes.identity.create_account(username="pela800101ab8", email="ana.pena@example.com",
                                               first_name="Ana", last_name="Peña", attributes=attrs,
                                               enabled=estatus == "aprobado")
    # As registration leaves it: the application recorded in registro's database.
    fakes.applications.record(account_id, "pela800101ab8", attrs)
    return account_id


def _decide(fakes, account_id: str, action: str, **kwargs) -> None:
    AuditTrail(fakes.audit).record(action, account_id, actor_id="r-1", actor_username=REVIEWER, **kwargs)


def _page(client, account_id: str) -> str:
    token = signer(unit_settings()).issue(account_id)
    r = client.get(f"/consulta/{token}")
    assert r.status_code == 200
    assert r.headers["Cache-Control"] == "no-store" and r.headers["Referrer-Policy"] == "no-referrer"
    return r.get_data(as_text=True)


def _steps(page: str) -> list[str]:
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", s)).strip()
            for s in re.findall(r'<span class="paso-titulo">(.*?)</span>', page, re.S)]


def test_pending_email(client, fakes):
    page = _page(client, _application(fakes, "pendiente_correo"))
    assert _steps(page) == ["Solicitud registrada 01/11/2026 09:00"]
    assert "Pendiente de confirmar correo" in page and "Abra el enlace del correo de confirmación" in page


def test_pending_documents(client, fakes):
    page = _page(client, _application(fakes, "pendiente_documentos", fecha_confirmacion="2026-11-01T16:00:00+00:00"))
    assert _steps(page) == ["Solicitud registrada 01/11/2026 09:00", "Correo electrónico confirmado 01/11/2026 10:00"]
    assert "Cargue sus documentos" in page


def test_in_review_shows_since_when(client, fakes):
    page = _page(client, _application(fakes, "en_revision", fecha_confirmacion="2026-11-01T16:00:00+00:00",
                                      fecha_envio="2026-11-02T17:30:00+00:00"))
    assert _steps(page)[-2:] == ["Documentos enviados a validación 02/11/2026 11:30",
                                 "En revisión desde 02/11/2026 11:30"]
    assert "No tiene que hacer nada por ahora" in page


def test_correction_shows_reasons_and_comment_but_no_reviewer(client, fakes):
    account_id = _application(fakes, "requiere_correccion", fecha_envio="2026-11-02T17:30:00+00:00",
                              revision=json.dumps({"decision": "requiere_correccion", "revisor": REVIEWER}))
    _decide(fakes, account_id, "reservar")
    _decide(fakes, account_id, "solicitar_correccion", reasons={"identificacion": ["ilegible", "vencido"]},
            comment="La foto está borrosa.")
    page = _page(client, account_id)
    steps = _steps(page)
    assert steps[-1].startswith("Corrección solicitada") and "Documentos enviados a validación" in steps[-2]
    assert "Identificación oficial vigente: El documento no es legible. El documento no está vigente." in \
        re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", page))
    assert "La foto está borrosa." in page and "Corrija los documentos señalados" in page
    assert REVIEWER not in page and "Reservó" not in page


def test_approved(client, fakes):
    account_id = _application(fakes, "aprobado", fecha_envio="2026-11-02T17:30:00+00:00")
    _decide(fakes, account_id, "aprobar")
    page = _page(client, account_id)
    assert _steps(page)[-1].startswith("Solicitud aprobada") and "Ingrese con el usuario y la contraseña" in page
    assert REVIEWER not in page


def test_rejected_shows_the_reason(client, fakes):
    account_id = _application(fakes, "rechazado", fecha_envio="2026-11-02T17:30:00+00:00")
    _decide(fakes, account_id, "rechazar", comment="La identificación no corresponde al solicitante.")
    page = _page(client, account_id)
    assert _steps(page)[-1].startswith("Solicitud rechazada")
    assert "Motivo: La identificación no corresponde al solicitante." in page and REVIEWER not in page


def test_the_page_shows_no_document(client, fakes):
    documents = {"identificacion": {"key": "solicitudes/x/documentos/identificacion/abc", "sha256": "f" * 64,
                                    "size": 10, "content_type": "image/png", "original_name": "ine-frente.png",
                                    "uploaded_at": "2026-11-02T17:00:00+00:00"}}
    page = _page(client, _application(fakes, "en_revision", documentos=json.dumps(documents),
                                      fecha_envio="2026-11-02T17:30:00+00:00"))
    assert "ine-frente.png" not in page and "solicitudes/" not in page and "f" * 64 not in page
    assert "<img" not in page and "/documentos/" not in page


def test_the_page_follows_the_applicants_language(client, fakes):
    page = _page(client, _application(fakes, "pendiente_correo", locale="en"))
    assert '<html lang="en">' in page and "Application registered" in page and "What happens next" in page


def test_tampered_and_foreign_tokens_get_the_request_page(client, fakes):
    account_id = _application(fakes, "en_revision")
    token = signer(unit_settings()).issue(account_id)
    for bad in (token[:-2] + "xx", signer(unit_settings(secret_key="otra")).issue(account_id)):
        r = client.get(f"/consulta/{bad}")
        assert r.status_code == 404 and "no es válido o expiró" in r.get_data(as_text=True)


def test_a_deleted_application_says_so(client, fakes):
    account_id = _application(fakes, "pendiente_correo")
    fakes.identity.delete_account(account_id)
    r = client.get(f"/consulta/{signer(unit_settings()).issue(account_id)}")
    assert r.status_code == 404 and "ya no existe" in r.get_data(as_text=True)


def test_every_email_and_the_confirmation_page_link_the_status_page(client, fakes):
    from tests.support.registration import mexican_form
    page = client.get("/registro").get_data(as_text=True)
    assert client.post("/registro", data=mexican_form(csrf_token=csrf_token(page))).status_code == 302
    (account,) = fakes.identity.accounts.values()
    (mail,) = fakes.mailer.sent
    page = client.get("/registro/enviado").get_data(as_text=True)
    # Each link is signed when it is made, with its time: the email's and the page's differ once a second
    # has passed between them, so each is read back instead of compared with one issued here.
    for text in (mail.text, mail.html, page):
        tokens = re.findall(re.escape(status_url(unit_settings(), account.id).rsplit("/", 1)[0] + "/")
                            + r"([A-Za-z0-9_.\-]+)", text)
        assert tokens, text[:300]
        assert {signer(unit_settings()).read(t) for t in tokens} == {account.id}


# --- a new link by folio and email --------------------------------------------------------------
def _ask(client, folio: str, correo: str):
    page = client.get("/consulta").get_data(as_text=True)
    return client.post("/consulta", data={"csrf_token": csrf_token(page), "folio": folio, "correo": correo})


def _wait_for_mail(fakes, count: int) -> None:
    import threading
    for thread in threading.enumerate():
        if thread.name == "consulta-correo":
            thread.join(5)
    assert len(fakes.mailer.sent) == count


@pytest.mark.parametrize("folio, correo", [
    ("AU-2026-7K3M9QX2", "ana.pena@example.com"),   # both match
    ("AU-2026-7K3M9QX2", "otra@example.com"),       # folio of someone else
    ("AU-2026-ZZZZZZZZ", "ana.pena@example.com"),   # unknown folio
])
def test_the_answer_is_the_same_whether_or_not_folio_and_email_match(client, fakes, folio, correo):
    _application(fakes, "en_revision")
    r = _ask(client, folio, correo)
    body = r.get_data(as_text=True)
    assert r.status_code == 200 and 'id="consulta-enviado"' in body
    generic = re.search(r'<div class="aviso aviso-exito".*?</div>', body, re.S).group(0)
    assert "Si el folio y el correo electrónico corresponden a una solicitud" in generic
    matches = folio == "AU-2026-7K3M9QX2" and correo == "ana.pena@example.com"
    _wait_for_mail(fakes, 1 if matches else 0)
    if matches:
        (mail,) = fakes.mailer.sent
        assert "/consulta/" in mail.text and mail.to == "ana.pena@example.com"


def test_the_folio_is_found_by_its_claim_without_a_keycloak_attribute_search(client, fakes, monkeypatch):
    """A Keycloak attribute search grows with the realm (≈ 400 ms at 20,000 accounts) and this page is
    public: the folio is read from its uniqueness claim and the account by its exact username."""
    _application(fakes, "en_revision")

    def no_search(*args, **kwargs):
        raise AssertionError("búsqueda por atributo en Keycloak")

    monkeypatch.setattr(fakes.identity, "find_by_attribute", no_search)
    monkeypatch.setattr(fakes.identity, "iter_by_attribute", no_search)
    _ask(client, "AU-2026-7K3M9QX2", "ana.pena@example.com")
    _wait_for_mail(fakes, 1)


def test_a_folio_whose_account_was_deleted_sends_nothing(client, fakes):
    """The database still names the account, but Keycloak no longer has it (deleted in its console)."""
    account_id = _application(fakes, "en_revision")
    fakes.identity.delete_account(account_id)
    _ask(client, "AU-2026-7K3M9QX2", "ana.pena@example.com")
    _wait_for_mail(fakes, 0)


@pytest.mark.parametrize("down", ["applications", "identity"])
def test_database_or_keycloak_down_gets_the_same_answer_and_sends_nothing(client, fakes, down):
    _application(fakes, "en_revision")
    page = client.get("/consulta").get_data(as_text=True)
    getattr(fakes, down).down = True
    r = client.post("/consulta", data={"csrf_token": csrf_token(page), "folio": "AU-2026-7K3M9QX2",
                                       "correo": "ana.pena@example.com"})
    assert r.status_code == 200 and 'id="consulta-enviado"' in r.get_data(as_text=True)
    _wait_for_mail(fakes, 0)


def test_the_email_match_ignores_case_and_spaces(client, fakes):
    _application(fakes, "en_revision")
    _ask(client, " au-2026-7k3m9qx2 ", " Ana.Pena@Example.com ")
    _wait_for_mail(fakes, 1)


def test_requests_are_throttled_per_folio(client, fakes):
    _application(fakes, "en_revision")
    answers = [_ask(client, "AU-2026-7K3M9QX2", f"x{i}@example.com").status_code for i in range(4)]
    assert answers == [200, 200, 200, 429]


def test_empty_fields_are_explained(client):
    r = _ask(client, "", "")
    body = r.get_data(as_text=True)
    assert r.status_code == 400 and "Escriba el folio de su solicitud" in body
    assert "Escriba el correo electrónico con el que se registró." in body
