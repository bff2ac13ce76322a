"""The activation page's script (static/js/subida.js) in Chromium: a document goes from the browser
straight to the S3 server (a presigned PUT, across origins under the bucket's CORS rule), the service
checks it after answering, and the page shows the outcome; when S3 cannot be reached the form upload
through the service takes over; without JavaScript the form alone does the job."""
from __future__ import annotations

from urllib.parse import urlsplit

from playwright.sync_api import expect

from tests.e2e.conftest import assert_accessible
from tests.support import files
from tests.support.applications import path_of


def _requests(page):
    seen: list[tuple[str, str]] = []
    page.on("request", lambda r: seen.append((r.method, r.url)))
    return seen


def _choose(page, kind: str, tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    page.locator(f"#{kind}-archivo").set_input_files(str(path))


def test_a_document_goes_to_s3_from_the_browser_and_the_page_shows_it_checked(page, stack, applications, storage,
                                                                               tmp_path, service_settings):
    account_id, link = applications(status="pendiente_documentos")
    s3_host = urlsplit(service_settings.s3.public_url).netloc
    seen = _requests(page)
    page.goto(link)
    data = files.pdf_bytes(padding=2 * 1024 * 1024)
    _choose(page, "curp", tmp_path, "mi curp.pdf", data)
    with page.expect_navigation(timeout=30_000):
        page.locator("form:has(#curp-archivo)").get_by_role("button", name="Cargar").click()
    expect(page.locator("main")).to_contain_text("Se cargó el documento «CURP».")
    expect(page.locator("#documento-curp")).to_contain_text("mi curp.pdf")
    puts = [url for method, url in seen if method == "PUT"]
    assert len(puts) == 1 and urlsplit(puts[0]).netloc == s3_host, seen
    # The bytes never went through the service: no form upload was posted.
    assert not [u for m, u in seen if m == "POST" and u.endswith("/documentos/curp")], seen
    keys = storage.list_keys(f"solicitudes/{account_id}/documentos/curp/")
    assert len(keys) == 1 and storage.get(keys[0]) == data
    assert_accessible(page, "documento cargado directo a S3")


def test_an_unreadable_file_sent_to_s3_is_refused_on_the_page(page, applications, storage, tmp_path):
    account_id, link = applications(status="pendiente_documentos")
    page.goto(link)
    _choose(page, "curp", tmp_path, "curp.pdf", files.elf_bytes())
    with page.expect_navigation(timeout=30_000):
        page.locator("form:has(#curp-archivo)").get_by_role("button", name="Cargar").click()
    expect(page.locator("#curp-archivo-error")).to_contain_text("debe ser PDF, JPEG o PNG")
    expect(page.locator("#curp-archivo")).to_have_attribute("aria-invalid", "true")
    assert storage.list_keys(f"solicitudes/{account_id}/documentos/") == []
    assert_accessible(page, "documento rechazado tras la carga directa")


def test_a_field_error_is_shown_without_sending_the_file(page, applications, tmp_path):
    _, link = applications(status="pendiente_documentos")
    page.goto(link)
    seen = _requests(page)
    form = page.locator("form:has(#identificacion-archivo)")
    form.locator("#identificacion-tipo_identificacion").select_option("ine")
    _choose(page, "identificacion", tmp_path, "ine.pdf", files.pdf_bytes(padding=512 * 1024))
    form.get_by_role("button", name="Cargar").click()  # no expiry date given
    expect(form.locator(".error-campo")).to_contain_text("Indique la fecha de vigencia de su identificación.")
    expect(page.locator("#identificacion-vigencia")).to_be_focused()
    assert not [u for m, u in seen if m == "PUT"], seen
    assert_accessible(page, "error de campo antes de enviar el archivo")


def test_when_s3_cannot_be_reached_the_form_upload_takes_over(page, applications, tmp_path, service_settings):
    account_id, link = applications(status="pendiente_documentos")
    s3_host = urlsplit(service_settings.s3.public_url).netloc
    page.route(f"http://{s3_host}/**", lambda route: route.abort("connectionrefused"))
    seen = _requests(page)
    page.goto(link)
    _choose(page, "curp", tmp_path, "curp.pdf", files.pdf_bytes())
    with page.expect_navigation(timeout=30_000):
        page.locator("form:has(#curp-archivo)").get_by_role("button", name="Cargar").click()
    expect(page.locator("main")).to_contain_text("Se cargó el documento «CURP».")
    assert [u for m, u in seen if m == "POST" and u.endswith("/documentos/curp")], seen


def test_without_javascript_the_form_uploads_through_the_service(browser, stack, applications, tmp_path):
    _, link = applications(status="pendiente_documentos")
    context = browser.new_context(locale="es-MX", java_script_enabled=False)
    try:
        page = context.new_page()
        seen = _requests(page)
        page.goto(link)
        _choose(page, "curp", tmp_path, "curp.pdf", files.pdf_bytes())
        page.locator("form:has(#curp-archivo)").get_by_role("button", name="Cargar").click()
        expect(page.locator("main")).to_contain_text("Se cargó el documento «CURP».")
        assert not [u for m, u in seen if m == "PUT"] and path_of(link) in page.url
    finally:
        context.close()
