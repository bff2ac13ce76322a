"""Signing a real responsiva with e.firma end to end against the test stack: the responsiva rendered by the
service (WeasyPrint / the prepared form), Keycloak as the record, the S3 server holding the bytes, a test
CA shaped like SAT's as the operator's roots and a local OCSP responder. The browser's part (signing the
signed attributes) is done in Python with the same primitives (tests/support/efirma_signing.py); the
page's own script is driven in Chromium by tests/e2e/test_efirma_browser.py."""
from __future__ import annotations

import hashlib
import io
import json

import pytest
from asn1crypto import x509 as asn1_x509

from registro.domain import documents as docs
from registro.domain.application import Application
from registro.domain.storage_keys import responsiva_key
from tests.support.applications import MEXICAN_CURP, MEXICAN_RFC, path_of
from tests.support.efirma_fixtures import responder, sat  # noqa: F401 - pytest fixtures
from tests.support.efirma_signing import sign_through_service


@pytest.fixture
def efirma_app(service_settings, sat, responder, tmp_path):
    from registro import create_app

    settings = service_settings.with_changes(efirma_roots_dir=str(sat.write_roots(tmp_path / "raices-sat")),
                                             efirma_ocsp_url=responder.url)
    return create_app({"SETTINGS": settings, "TESTING": True})


def issue_real_responsiva(app, gateway, storage, account_id: str) -> bytes:
    """Renders the application's responsiva as registration does and stores it under its folio."""
    from registro.container import settings
    from registro.registration.responsiva import render_responsiva
    from registro.registration.responsiva_context import responsiva_context
    from registro.registration.responsiva_qr import mac_key

    account = gateway.get_account(account_id)
    with app.app_context():
        pdf = render_responsiva(responsiva_context(first_name=account.first_name, last_name=account.last_name,
                                                   email=account.email, attributes=account.attributes),
                                mac_key=mac_key(settings()))
    storage.put(responsiva_key(account_id, account.attr("folio")), pdf, content_type="application/pdf")
    return pdf


def test_a_real_responsiva_signed_with_efirma_is_stored_and_verifies_in_any_pades_validator(
        efirma_app, applications, gateway, storage, sat):
    account_id, link = applications(status="pendiente_documentos")
    issued = issue_real_responsiva(efirma_app, gateway, storage, account_id)
    holder = sat.persona_fisica(rfc=MEXICAN_RFC, curp=MEXICAN_CURP)
    client = efirma_app.test_client()
    result = sign_through_service(client, link, holder)
    assert result.completed.status_code == 200, result.completed.get_json()

    record = Application(gateway.get_account(account_id)).documents[docs.RESPONSIVA]
    signed = storage.get(record.key)
    assert record.sha256 == hashlib.sha256(signed).hexdigest() and signed.startswith(issued)
    report = json.loads(record.details["efirma"])
    assert {c["outcome"] for c in report["checks"]} == {"ok"} and report["revocation"] == "vigente"
    assert storage.list_keys(f"solicitudes/{account_id}/efirma/") == []  # the prepared file is gone

    # What any PAdES validator sees, independently of the service's own checks: pyHanko's full validation.
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    signature = PdfFileReader(io.BytesIO(signed)).embedded_signatures[0]
    status = validate_pdf_signature(signature, ValidationContext(
        trust_roots=[asn1_x509.Certificate.load(sat.root.der)],
        other_certs=[asn1_x509.Certificate.load(sat.issuing.der)]))
    assert status.bottom_line, status.pretty_print_details()
    assert signature.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"

    page = client.get(path_of(link)).get_data(as_text=True)
    assert "Firmada con e.firma" in page


def test_a_revoked_efirma_is_refused_with_a_clear_message_and_nothing_is_stored(
        efirma_app, applications, gateway, storage, sat, responder):
    account_id, link = applications(status="pendiente_documentos")
    issue_real_responsiva(efirma_app, gateway, storage, account_id)
    holder = sat.persona_fisica(rfc=MEXICAN_RFC, curp=MEXICAN_CURP)
    responder.revoke(holder.cert)
    result = sign_through_service(efirma_app.test_client(), link, holder)
    assert result.prepared.status_code == 422 and result.completed is None
    assert result.prepared.get_json()["error"].startswith("Su e.firma fue revocada.")
    assert docs.RESPONSIVA not in Application(gateway.get_account(account_id)).documents
    assert storage.list_keys(f"solicitudes/{account_id}/documentos/") == []
    assert storage.list_keys(f"solicitudes/{account_id}/efirma/") == []


def test_the_scan_path_still_works_beside_efirma(efirma_app, applications, gateway):
    from tests.support import files
    from tests.support.applications import upload

    account_id, link = applications(status="pendiente_documentos")
    client = efirma_app.test_client()
    assert 'id="efirma"' in client.get(path_of(link)).get_data(as_text=True)
    response = upload(client, link, docs.RESPONSIVA, files.jpeg_bytes(), "responsiva firmada.jpg")
    assert response.status_code == 303
    record = Application(gateway.get_account(account_id)).documents[docs.RESPONSIVA]
    assert record.content_type == "image/jpeg" and "efirma" not in record.details
