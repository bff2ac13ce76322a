"""The review console's document viewer against the real Keycloak and S3: page images rendered by
the worker process and cached in the bucket, originals only as attachments, and the responsiva's
QR code read from a phone photo of a real generated responsiva."""
from __future__ import annotations

import io
import re

import pytest
from PIL import Image, ImageStat

from registro.domain.application import Application, documents_attribute
from registro.adapters.storage import ObjectMissing
from registro.domain.storage_keys import legacy_page_view_manifest_key, page_view_key
from registro.review.viewer import UNRENDERABLE_MESSAGE
from registro.container import settings as container_settings
from registro.registration.responsiva import render_responsiva
from registro.registration.responsiva_context import context_of
from registro.registration.responsiva_qr import mac_key
from tests.integration.test_review import (claim, console, new_reviewer, review_app,  # noqa: F401
                                           settings, store)
from tests.support import review_data as data
from tests.support import scans
from tests.support.files import truncated_pdf

pytestmark = pytest.mark.integration


def replace_documents(gateway, store, account_id: str, **files):  # noqa: F811
    records = Application(gateway.get_account(account_id)).documents
    for kind, (content, content_type) in files.items():
        records[kind] = data._store_document(store, account_id, kind, content, content_type, f"{kind}.bin")
    gateway.update_attributes(account_id, {"documentos": documents_attribute(records)})
    return records


def page_images(html: str, dom_id: str) -> list[str]:
    article = re.search(rf'<article class="visor" id="{dom_id}".*?</article>', html, re.S).group(0)
    return re.findall(r'<img src="([^"]+)"', article)


def not_blank(data: bytes) -> bool:
    return max(ImageStat.Stat(Image.open(io.BytesIO(data)).convert("L")).stddev) > 10


def check_detail(html: str, name: str) -> tuple[str, str]:
    m = re.search(rf'data-verificacion="{name}"><td>[^<]*</td><td><strong>([^<]*)</strong></td><td>([^<]*)</td>', html)
    return m.group(1), m.group(2)


def test_every_page_is_an_image_from_the_bucket_and_originals_are_attachments(console, pending, gateway, store):  # noqa: F811
    app = pending()
    records = replace_documents(gateway, store, app.id, curp=(scans.multipage_pdf(3), "application/pdf"),
                                identificacion=(scans.content_png(), "image/png"))
    html = console.get(f"/revision/{app.id}").get_data(as_text=True)
    curp_pages = page_images(html, "documento-curp")
    id_pages = page_images(html, "documento-identificacion")
    assert len(curp_pages) == 3 and len(id_pages) == 1 and len(page_images(html, "responsiva-generada")) == 1
    for url in curp_pages + id_pages:
        r = console.get(url)
        assert r.status_code == 200 and r.mimetype == "image/jpeg" and not_blank(r.get_data())
    store.head(page_view_key(records["curp"].key, 1))  # cached in S3 beside the application (bytes only)
    with pytest.raises(ObjectMissing):
        store.head(legacy_page_view_manifest_key(records["curp"].key))  # what was made is a row, not JSON in S3
    assert "<iframe" not in html

    original = console.get(f"/revision/{app.id}/documentos/curp")
    assert original.mimetype == "application/octet-stream"
    assert original.headers["Content-Disposition"].startswith("attachment;")
    assert original.get_data() == store.get(records["curp"].key)


def test_unrenderable_pdf_shows_a_message_and_the_decision_forms(console, pending, gateway, store):  # noqa: F811
    app = pending()
    replace_documents(gateway, store, app.id, curp=(truncated_pdf(), "application/pdf"))
    claim(console, app.id)
    html = console.get(f"/revision/{app.id}").get_data(as_text=True)
    assert UNRENDERABLE_MESSAGE in html
    for action in ("aprobar", "corregir", "rechazar"):
        assert f'action="/revision/{app.id}/{action}"' in html


def test_a_phone_photo_of_the_signed_responsiva_verifies_its_folio(console, review_app, pending, gateway, store):  # noqa: F811
    mine, other = pending(), pending(first_name="Beatriz")
    with review_app.app_context():  # the console's own key signs the code
        key = mac_key(container_settings())
        pdf = render_responsiva(context_of(gateway.get_account(mine.id)), mac_key=key)
        other_pdf = render_responsiva(context_of(gateway.get_account(other.id)), mac_key=key)
    photo = scans.jpeg(scans.phone_photo(scans.sign(scans.render_pdf_page(pdf)), angle=-9, skew=0.1, contrast=0.4,
                                         brightness=0.8), 65)
    replace_documents(gateway, store, mine.id, responsiva_firmada=(photo, "image/jpeg"))
    outcome, detail = check_detail(console.get(f"/revision/{mine.id}").get_data(as_text=True),
                                   "Folio de la responsiva")
    assert outcome == "Correcto" and detail.startswith("Folio verificado"), detail

    replace_documents(gateway, store, mine.id, responsiva_firmada=(other_pdf, "application/pdf"))
    outcome, detail = check_detail(console.get(f"/revision/{mine.id}").get_data(as_text=True),
                                   "Folio de la responsiva")
    assert outcome == "No coincide" and detail.startswith("Pertenece a otra solicitud") and other.folio in detail
