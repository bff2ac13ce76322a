"""The phone as a camera (issue 23) in Chromium, two browser contexts: the desktop shows a QR, the "phone"
(a second context with a phone's screen) opens what the QR encodes, uploads a photo through its camera
input, and the desktop's page shows the document by itself (static/js/movil.js); the QR's link then
opens nothing. axe at zero on the three pages."""
from __future__ import annotations

import io

import zxingcpp
from PIL import Image
from playwright.sync_api import expect

from tests.e2e.conftest import assert_accessible
from tests.support.scans import content_jpeg


def test_the_desktop_shows_what_the_phone_uploaded(new_page, applications, tmp_path, screens):
    account_id, link = applications(status="pendiente_documentos")
    desk = new_page()
    desk.goto(link)
    with desk.expect_navigation():
        desk.get_by_role("button", name="Usar mi teléfono como cámara").click()
    code = desk.locator("#movil-codigo").inner_text().strip()
    assert len(code) == 9 and code[4] == "-"
    shot = desk.locator("#movil svg").screenshot()
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(shot)).convert("L"))
    assert len(decoded) == 1 and "/movil/" in decoded[0].text, decoded
    phone_url = decoded[0].text
    screens.shot(desk, "escritorio-codigo-qr")
    assert_accessible(desk, "página de activación con el código QR")

    phone = new_page(width=390, height=844)
    phone.goto(phone_url)
    assert_accessible(phone, "teléfono: abrir el enlace")
    with phone.expect_navigation():
        phone.get_by_role("button", name="Continuar en este teléfono").click()
    camera = phone.locator("#responsiva_firmada-archivo")
    expect(camera).to_have_attribute("capture", "environment")
    assert_accessible(phone, "teléfono: cargar documentos")
    photo = tmp_path / "responsiva-desde-telefono.jpg"
    photo.write_bytes(content_jpeg())
    camera.set_input_files(str(photo))
    with phone.expect_navigation():
        phone.locator("form:has(#responsiva_firmada-archivo)").get_by_role("button", name="Cargar").click()
    expect(phone.locator("main")).to_contain_text("Se cargó el documento «Responsiva firmada».")
    screens.shot(phone, "telefono-cargado")

    # The desktop's page polls every 2 s and shows itself again once the phone has uploaded.
    expect(desk.locator("#documento-responsiva_firmada")).to_contain_text("responsiva-desde-telefono.jpg",
                                                                          timeout=15_000)
    expect(desk.locator("#movil")).to_contain_text("Hay un teléfono conectado")
    screens.shot(desk, "escritorio-con-el-documento")
    assert_accessible(desk, "página de activación tras la carga desde el teléfono")

    again = new_page(width=390, height=844)
    again.goto(phone_url)
    with again.expect_navigation():
        again.get_by_role("button", name="Continuar en este teléfono").click()
    expect(again.locator("h1")).to_have_text("Enlace no válido")
