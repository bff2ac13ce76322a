"""The activation page's "Firmar con e.firma" in Chromium (static/js/efirma.js): a test e.firma signs the
responsiva through the page; every request made while signing is recorded and none carries the key file's
bytes or the password; a wrong password is answered in the page without a request; without JavaScript
the page explains the scan path. The service runs in-process on 127.0.0.1 (real Keycloak and S3 of the
test stack) with the test CA as its SAT roots and a local OCSP responder."""
from __future__ import annotations

import base64
import threading
from urllib.parse import quote_plus

import pytest
from playwright.sync_api import expect
from werkzeug.serving import make_server

from registro.domain import documents as docs
from registro.domain.application import Application
from tests.e2e.conftest import assert_accessible
from tests.support.applications import MEXICAN_CURP, MEXICAN_RFC, path_of
from tests.support.efirma_fixtures import sat  # noqa: F401 - a pytest fixture
from tests.support.ocsp_responder import OcspResponder
from tests.support.ports import unused_port

PASSWORD = "ClaveDePrueba-2026"


@pytest.fixture(scope="module")
def served(service_settings, sat, tmp_path_factory):
    """registro with e.firma configured, served on a port of its own for the browser."""
    from registro import create_app

    with OcspResponder(sat) as responder:
        port = unused_port()
        settings = service_settings.with_changes(
            public_url=f"http://127.0.0.1:{port}", efirma_ocsp_url=responder.url,
            efirma_roots_dir=str(sat.write_roots(tmp_path_factory.mktemp("raices-sat"))))
        server = make_server("127.0.0.1", port, create_app({"SETTINGS": settings}), threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        yield f"http://127.0.0.1:{port}"
        server.shutdown()


@pytest.fixture
def efirma_files(sat, tmp_path):
    holder = sat.persona_fisica(rfc=MEXICAN_RFC, curp=MEXICAN_CURP)
    cer, key = tmp_path / "00001000000500000001.cer", tmp_path / "Claveprivada_FIEL.key"
    cer.write_bytes(holder.cer)
    key.write_bytes(holder.key_file(PASSWORD))
    return cer, key


def _recorded(page) -> list:
    seen: list = []
    page.on("request", lambda r: seen.append((r.method, r.url, r.post_data_buffer or b"")))
    return seen


def _fill(page, cer, key, password):
    page.locator("#efirma-cer").set_input_files(str(cer))
    page.locator("#efirma-key").set_input_files(str(key))
    page.locator("#efirma-contrasena").fill(password)


def test_signing_through_the_page_sends_neither_the_key_nor_the_password(page, served, applications, gateway,
                                                                         efirma_files):
    account_id, link = applications(status="pendiente_documentos")
    cer, key = efirma_files
    page.goto(served + path_of(link))
    expect(page.locator("#efirma")).to_be_visible()
    assert_accessible(page, "firma con e.firma")
    seen = _recorded(page)
    _fill(page, cer, key, PASSWORD)
    with page.expect_navigation(timeout=30_000):
        page.get_by_role("button", name="Firmar con e.firma").click()
    expect(page.locator("main")).to_contain_text("Se firmó la responsiva con su e.firma")
    expect(page.locator("#documento-responsiva_firmada")).to_contain_text("Firmada con e.firma")

    posts = [(url, body) for method, url, body in seen if method == "POST"]
    assert [url.rsplit("/", 1)[1] for url, _ in posts] == ["preparar", "completar"], posts
    key_bytes = key.read_bytes()
    forbidden = [key_bytes[:64], base64.b64encode(key_bytes)[:64], quote_plus(base64.b64encode(key_bytes)[:64].decode()).encode(),
                 PASSWORD.encode(), quote_plus(PASSWORD).encode()]
    for _, _, body in seen:
        assert not any(f in body for f in forbidden)
    assert any(quote_plus(base64.b64encode(cer.read_bytes()).decode()).encode()[:200] in body for _, body in posts)
    assert Application(gateway.get_account(account_id)).documents[docs.RESPONSIVA].details["firma"] == "efirma"
    assert_accessible(page, "responsiva firmada con e.firma")


def test_a_wrong_password_is_answered_in_the_page_without_a_request(page, served, applications, efirma_files):
    _, link = applications(status="pendiente_documentos")
    cer, key = efirma_files
    page.goto(served + path_of(link))
    seen = _recorded(page)
    _fill(page, cer, key, "no-es-la-contraseña")
    page.get_by_role("button", name="Firmar con e.firma").click()
    expect(page.locator("#efirma-error")).to_contain_text("La contraseña no abre la clave privada")
    expect(page.locator("#efirma-contrasena")).to_be_focused()
    expect(page.locator("#efirma-contrasena")).to_have_attribute("aria-invalid", "true")
    assert seen == []
    assert_accessible(page, "contraseña incorrecta")


def test_a_refusal_by_the_service_is_shown_beside_the_field(page, served, applications, sat, tmp_path):
    _, link = applications(status="pendiente_documentos")
    someone = sat.persona_fisica(rfc="GOCA741120HY0", curp="GOCA741120HVZMNR00", name="CARLOS GOMEZ")
    cer, key = tmp_path / "otro.cer", tmp_path / "otro.key"
    cer.write_bytes(someone.cer)
    key.write_bytes(someone.key_file(PASSWORD))
    page.goto(served + path_of(link))
    _fill(page, cer, key, PASSWORD)
    page.get_by_role("button", name="Firmar con e.firma").click()
    expect(page.locator("#efirma-error")).to_contain_text("La e.firma no corresponde al RFC y la CURP de su solicitud")
    expect(page.locator("#documento-responsiva_firmada")).to_contain_text("Sin cargar.")


def test_without_javascript_the_page_explains_the_scan_path(browser, served, applications):
    _, link = applications(status="pendiente_documentos")
    context = browser.new_context(locale="es-MX", java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(served + path_of(link))
        expect(page.locator("#efirma")).to_be_hidden()
        expect(page.locator("main")).to_contain_text("Para firmar con e.firma se necesita JavaScript")
        expect(page.locator("#responsiva_firmada-archivo")).to_be_visible()
    finally:
        context.close()
