"""The QR code on the responsiva (domain/responsiva_code.py, registration/responsiva_qr.py): printed on
the real generated PDF, read back from the signed copy — as uploaded, scanned, or photographed
with a phone (rotated, skewed, dim, low contrast) — by the responsiva check."""
from __future__ import annotations

import pytest

from registro.adapters.page_render import SubprocessPageRenderer
from registro.adapters.page_render_worker import render_pdf
from registro.config import Settings
from registro.domain import responsiva_code
from registro.domain.application import Application, documents_attribute
from registro.review.page_views import PageViews
from registro.registration.responsiva import render_responsiva
from registro.registration.responsiva_context import context_of
from registro.registration.responsiva_qr import expected_identity, mac_key
from registro.review.service import ReviewService
from tests.support import review_data as data
from tests.support import scans
from tests.unit.conftest import unit_settings

CHECK = "Folio de la responsiva"


@pytest.fixture
def service(fakes):
    return ReviewService(fakes.identity, fakes.storage, None, unit_settings(), None,
                         PageViews(fakes.storage, SubprocessPageRenderer(), fakes.page_view_store), leases=fakes.review_leases,
                         decisions=fakes.decisions, audit=fakes.audit)


def generated_responsiva(app, fakes, account_id: str) -> bytes:
    with app.app_context():
        return render_responsiva(context_of(fakes.identity.get_account(account_id)), mac_key=mac_key(unit_settings()))


def check_with_signed(fakes, service, account_id: str, content: bytes, content_type: str):
    records = Application(fakes.identity.get_account(account_id)).documents
    records["responsiva_firmada"] = data._store_document(fakes.storage, account_id, "responsiva_firmada", content,
                                                         content_type, "responsiva firmada")
    fakes.identity.update_attributes(account_id, {"documentos": documents_attribute(records)})
    return next(c for c in service.detail(account_id).checks if c.name == CHECK)


def test_the_generated_responsiva_carries_its_code(app, fakes):
    pending = data.create_pending(fakes.identity, fakes.storage)
    pdf = generated_responsiva(app, fakes, pending.id)
    codes = render_pdf(pdf, max_pages=1, max_width=1600, dpi=150, codes=True).codes
    account = fakes.identity.get_account(pending.id)
    assert codes == [responsiva_code.payload(expected_identity(account), unit_settings().secret_key)]
    assert codes[0].startswith(f"ANAM-AU:1:{pending.folio}:")
    assert b"/Subtype /Image" not in pdf  # the code is vector paths (SVG), not a bitmap


def test_phone_photos_and_scans_of_the_signed_responsiva_verify_the_folio(app, fakes, service):
    pending = data.create_pending(fakes.identity, fakes.storage)
    pdf = generated_responsiva(app, fakes, pending.id)
    page = scans.sign(scans.render_pdf_page(pdf, dpi=150))
    uploads = {
        "el PDF tal cual": (pdf, "application/pdf"),
        "escaneo en PDF": (scans.pdf_of_pages([scans.phone_photo(page, angle=1.5, contrast=0.8)], 150),
                           "application/pdf"),
        "foto de lado (EXIF)": (scans.jpeg(page.rotate(-90, expand=True), 75, exif_orientation=6), "image/jpeg"),
        "foto girada": (scans.jpeg(scans.phone_photo(page, angle=-12)), "image/jpeg"),
        "foto al revés": (scans.jpeg(scans.phone_photo(page, angle=177)), "image/jpeg"),
        "foto inclinada": (scans.jpeg(scans.phone_photo(page, skew=0.18, angle=4)), "image/jpeg"),
        "foto con poco contraste": (scans.jpeg(scans.phone_photo(page, contrast=0.3, brightness=0.7)), "image/jpeg"),
        "foto difícil": (scans.jpeg(scans.phone_photo(page, angle=-8, skew=0.12, contrast=0.35, brightness=0.75,
                                                      blur=0.8, noise=40), 60), "image/jpeg"),
        "captura PNG": (scans.image_bytes(page, "PNG"), "image/png"),
    }
    for name, (content, content_type) in uploads.items():
        check = check_with_signed(fakes, service, pending.id, content, content_type)
        assert check.outcome == "ok" and check.detail.startswith("Folio verificado"), (name, check)


def test_a_responsiva_of_another_application_is_caught(app, fakes, service):
    mine = data.create_pending(fakes.identity, fakes.storage)
    other = data.create_pending(fakes.identity, fakes.storage, first_name="Beatriz")
    page = scans.render_pdf_page(generated_responsiva(app, fakes, other.id))
    check = check_with_signed(fakes, service, mine.id, scans.jpeg(scans.phone_photo(page, angle=5)), "image/jpeg")
    assert check.outcome == "error" and check.detail.startswith("Pertenece a otra solicitud")
    assert other.folio in check.detail


def test_a_responsiva_whose_data_no_longer_match_is_caught(app, fakes, service):
    pending = data.create_pending(fakes.identity, fakes.storage)
    pdf = generated_responsiva(app, fakes, pending.id)
    fakes.identity.update_attributes(pending.id, {"rfc": "PELA800101XY9"})  # the paper shows other data
    check = check_with_signed(fakes, service, pending.id, pdf, "application/pdf")
    assert check.outcome == "error" and check.detail.startswith("Pertenece a otra solicitud")


def test_a_responsiva_without_a_readable_code_asks_to_look(fakes, service):
    pending = data.create_pending(fakes.identity, fakes.storage)
    check = check_with_signed(fakes, service, pending.id, scans.content_jpeg("Sin código"), "image/jpeg")
    assert check.outcome == "aviso" and check.detail.startswith("No se pudo leer el código")
    assert pending.folio in check.detail


def test_an_unrenderable_signed_responsiva_says_it_could_not_be_analysed(fakes, service):
    from tests.support.files import truncated_pdf

    pending = data.create_pending(fakes.identity, fakes.storage)
    check = check_with_signed(fakes, service, pending.id, truncated_pdf(), "application/pdf")
    assert check.outcome == "aviso" and "aún no se ha podido analizar el archivo" in check.detail


def test_the_mac_key_comes_from_settings_with_the_secret_key_as_fallback():
    env = {"APP_ENV": "local", "REGISTRO_SECRET_KEY": "secreto-del-servicio"}
    assert mac_key(Settings.from_env(env)) == "secreto-del-servicio"
    assert mac_key(Settings.from_env({**env, "RESPONSIVA_MAC_KEY": "clave-qr"})) == "clave-qr"
    identity = {"folio": "AU-2026-ABC", "nombre_completo": "Ana Pérez", "curp": "PELA800101MDFRPN06"}
    assert responsiva_code.payload(identity, "clave-qr") != responsiva_code.payload(identity, "otra")
    # Case, accents' composition and spacing of the printed data do not change the code.
    assert responsiva_code.payload({**identity, "nombre_completo": " ana  pérez "}, "k") == \
        responsiva_code.payload(identity, "k")
