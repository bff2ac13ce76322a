"""The e.firma routes and page with the in-memory fakes: what is offered, what is stored, what is refused.
The signing itself is real (test CA, pyHanko, a local OCSP responder); the browser's part is done in Python
(tests/support/efirma_signing.py)."""
from __future__ import annotations

import hashlib
import json

import pytest

from registro import create_app
from registro.domain import documents as docs
from registro.domain.application import Application
from registro.domain.storage_keys import application_prefix
from tests.support.applications import MEXICAN_CURP, MEXICAN_RFC, create_application, path_of
from tests.support.efirma_fixtures import responder, sat  # noqa: F401 - pytest fixtures
from tests.support.efirma_signing import sign_through_service
from tests.unit.conftest import unit_settings


@pytest.fixture(scope="module")
def holder(sat):
    return sat.persona_fisica(rfc=MEXICAN_RFC, curp=MEXICAN_CURP)


@pytest.fixture
def settings(sat, responder, tmp_path):
    return unit_settings(efirma_roots_dir=str(sat.write_roots(tmp_path / "raices")), efirma_ocsp_url=responder.url)


@pytest.fixture
def app(fakes, settings):
    return create_app({"SETTINGS": settings, "ADAPTERS": fakes, "TESTING": True})


@pytest.fixture
def client(app):
    return app.test_client()


def pending(fakes, settings, **kw):
    return create_application(fakes.identity, fakes.storage, settings, status="pendiente_documentos", **kw)


def stored_keys(fakes, account_id: str) -> list[str]:
    prefix = application_prefix(account_id)
    return [k for k in fakes.storage.list_keys(prefix) if "/responsiva/" not in k]


def test_the_page_offers_efirma_beside_the_scan_with_inputs_that_are_never_submitted(client, fakes, settings):
    _, link = pending(fakes, settings)
    html = client.get(path_of(link)).get_data(as_text=True)
    section = html[html.index('id="efirma"'):html.index("</section>", html.index('id="efirma"'))]
    assert "Firmar con e.firma" in section and 'id="efirma-cer"' in section and 'id="efirma-key"' in section
    assert " name=" not in section  # nothing the browser would post by itself: the script reads them
    assert "js/efirma.js" in html
    assert "Para firmar con e.firma se necesita JavaScript" in html  # the scan path, for a page without JavaScript
    assert html.index('id="efirma"') < html.index('id="responsiva_firmada-archivo"')  # beside the scan's upload


def test_signing_stores_the_signed_responsiva_with_its_sha256_and_the_checks(client, fakes, settings, holder):
    account_id, link = pending(fakes, settings)
    result = sign_through_service(client, link, holder)
    assert result.prepared.status_code == 200 and result.completed.status_code == 200, result.completed.get_json()
    assert result.completed.get_json()["pagina"].endswith("#documento-responsiva_firmada")
    record = Application(fakes.identity.get_account(account_id)).documents[docs.RESPONSIVA]
    stored = fakes.storage.get(record.key)
    assert record.sha256 == hashlib.sha256(stored).hexdigest() and record.content_type == "application/pdf"
    assert stored.startswith(fakes.storage.get(f"solicitudes/{account_id}/responsiva/"
                                               f"{fakes.identity.get_account(account_id).attr('folio')}.pdf"))
    report = json.loads(record.details["efirma"])
    assert record.details["firma"] == "efirma"
    assert [c["outcome"] for c in report["checks"]] == ["ok"] * 7
    assert report["signer"]["rfc"] == MEXICAN_RFC and report["revocation"] == "vigente"
    assert stored_keys(fakes, account_id) == [record.key]  # the prepared PDF is gone
    page = client.get(path_of(link)).get_data(as_text=True)
    assert "Se firmó la responsiva con su e.firma" in page and "Firmada con e.firma" in page


def test_what_is_sent_is_the_certificate_and_the_signature_only(client, fakes, settings, holder):
    _, link = pending(fakes, settings)
    result = sign_through_service(client, link, holder)
    assert [sorted(form) for form in result.sent] == [["certificado", "csrf_token"],
                                                      ["certificado", "csrf_token", "estado", "firma"]]


def test_another_persons_efirma_is_refused_before_signing_and_nothing_is_stored(client, fakes, settings, sat):
    account_id, link = pending(fakes, settings)
    someone = sat.persona_fisica(rfc="GOCA741120HY0", curp="GOCA741120HVZMNR00", name="CARLOS GOMEZ")
    result = sign_through_service(client, link, someone)
    assert result.prepared.status_code == 422 and result.completed is None
    assert result.prepared.get_json()["error"] == ("La e.firma no corresponde al RFC y la CURP de su solicitud. "
                                                   "Use su propia e.firma.")
    assert stored_keys(fakes, account_id) == []


def test_a_signature_over_other_bytes_is_refused_and_nothing_is_stored(client, fakes, settings, holder):
    account_id, link = pending(fakes, settings)
    result = sign_through_service(client, link, holder, sign=lambda _: holder.sign(b"otra cosa"))
    assert result.completed.status_code == 422
    assert "no corresponde a la responsiva" in result.completed.get_json()["error"]
    assert stored_keys(fakes, account_id) == []
    assert docs.RESPONSIVA not in Application(fakes.identity.get_account(account_id)).documents


def test_a_state_token_of_another_application_is_refused(client, fakes, settings, holder):
    _, first = pending(fakes, settings)
    _, second = pending(fakes, settings)
    prepared = sign_through_service(client, first, holder, sign=lambda _: b"x").prepared
    token = client.get(path_of(second))  # the CSRF token of the session
    from tests.support.applications import csrf_token
    from tests.support.efirma_signing import b64

    r = client.post(f"{path_of(second)}/efirma/completar", data={
        "csrf_token": csrf_token(token.get_data(as_text=True)), "estado": prepared.get_json()["estado"],
        "firma": b64(b"\1" * 256), "certificado": b64(holder.cer)})
    assert r.status_code == 422 and "expiró o no es válida" in r.get_json()["error"]


def test_not_a_certificate_is_refused_in_spanish(client, fakes, settings, holder):
    _, link = pending(fakes, settings)
    result = sign_through_service(client, link, holder, certificate=holder.key_file())
    assert result.prepared.status_code == 422
    assert result.prepared.get_json()["error"].startswith("El archivo elegido como certificado (.cer) no es un")


def test_without_sat_roots_configured_efirma_is_not_offered(fakes):
    settings = unit_settings()
    app = create_app({"SETTINGS": settings, "ADAPTERS": fakes, "TESTING": True})
    _, link = pending(fakes, settings)
    client = app.test_client()
    html = client.get(path_of(link)).get_data(as_text=True)
    assert 'id="efirma"' not in html and "js/efirma.js" not in html
    from tests.support.applications import csrf_token

    r = client.post(f"{path_of(link)}/efirma/preparar", data={"csrf_token": csrf_token(html), "certificado": "eA=="})
    assert r.status_code == 404  # the route's own answer, past the CSRF check
    assert r.get_json()["error"] == "La firma con e.firma no está disponible. Cargue la responsiva firmada a mano."


def test_a_foreign_applicant_without_rfc_and_curp_is_not_offered_efirma(client, fakes, settings):
    _, link = pending(fakes, settings, foreign=True)
    assert 'id="efirma"' not in client.get(path_of(link)).get_data(as_text=True)


def test_the_reviewer_template_shows_each_named_check(app, sat, holder, tmp_path):
    from datetime import datetime, timezone

    from flask import render_template

    from registro.documents.efirma import verification as v
    from registro.documents.efirma.trust import read_folder
    from tests.support.files import pdf_bytes
    from tests.unit.test_efirma_verification import sign

    responsiva = pdf_bytes()
    result = v.verify_signed_responsiva(
        sign(responsiva, holder), v.Expected("AU-2026-X", MEXICAN_RFC, MEXICAN_CURP, responsiva),
        v.Authorities(trust=read_folder(sat.write_roots(tmp_path / "r"))), datetime.now(timezone.utc))
    with app.test_request_context():
        html = render_template("revision/_efirma.html", informe=result.as_record())
    assert "Firmada con e.firma" in html and "revocación no verificada" in html
    for check in result.checks:
        assert f'data-verificacion-efirma="{check.name}"' in html
    assert MEXICAN_RFC in html and result.signer.number in html
