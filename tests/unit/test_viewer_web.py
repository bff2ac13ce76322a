"""The review console's document viewer (review/viewer.py) with the fakes and the real renderer:
every page shown as an image the service made, originals only as attachments."""
from __future__ import annotations

import io
import re

import pytest

from tests.unit.test_review_web import log_in
from PIL import Image, ImageStat

from registro.domain import documents as docs
from registro.domain.application import documents_attribute
from registro.review.viewer import UNAVAILABLE_MESSAGE, UNRENDERABLE_MESSAGE
from tests.support import review_data as data
from tests.support import scans
from tests.support.files import truncated_pdf


@pytest.fixture
def reviewer_client(client, fakes):
    log_in(client, fakes)
    return client


def with_documents(fakes, **files):
    """A pending application whose documents are replaced by `files` (kind → (bytes, type))."""
    app = data.create_pending(fakes.identity, fakes.storage)
    records = dict(app.documents)
    for kind, (content, content_type) in files.items():
        records[kind] = data._store_document(fakes.storage, app.id, kind, content, content_type, f"{kind}.bin")
    fakes.identity.update_attributes(app.id, {"documentos": documents_attribute(records)})
    return app, records


def page_images(html: str, kind: str) -> list[str]:
    article = re.search(rf'<article class="visor" id="{kind}".*?</article>', html, re.S).group(0)
    return re.findall(r'<img src="([^"]+)"', article)


def not_blank(data: bytes) -> bool:
    return max(ImageStat.Stat(Image.open(io.BytesIO(data)).convert("L")).stddev) > 10


def test_every_page_of_a_multipage_pdf_and_an_image_are_shown(reviewer_client, fakes):
    app, records = with_documents(fakes, curp=(scans.multipage_pdf(3), "application/pdf"),
                                  identificacion=(scans.content_png(), "image/png"))
    r = reviewer_client.get(f"/revision/{app.id}")
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    pages = page_images(html, "documento-curp")
    assert len(pages) == 3 and "Página 3 de 3" in html
    assert len(page_images(html, "documento-identificacion")) == 1
    assert len(page_images(html, "responsiva-generada")) == 1
    for url in pages + page_images(html, "documento-identificacion"):
        image = reviewer_client.get(url)
        assert image.status_code == 200 and image.mimetype == "image/jpeg" and not_blank(image.get_data())
        assert "sandbox" in image.headers["Content-Security-Policy"]
    assert "<iframe" not in html and "<object" not in html and "<embed" not in html
    # Nothing on the page points at the original bytes except the download links.
    original = f"/revision/{app.id}/documentos/curp"
    assert re.findall(rf'(?:src|href)="{re.escape(original)}"', html) == [f'href="{original}"']
    assert 'src="/static/js/visor.js"' in html and "Girar a la derecha" in html and "Acercar" in html
    assert "Datos para comparar" in html and data.CURP in html


def test_originals_download_as_attachments_only(reviewer_client, fakes):
    app, records = with_documents(fakes, identificacion=(scans.content_png(), "image/png"))
    r = reviewer_client.get(f"/revision/{app.id}/documentos/identificacion")
    assert r.status_code == 200 and r.mimetype == "application/octet-stream"
    assert r.headers["Content-Disposition"].startswith("attachment;")
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.get_data() == fakes.storage.get(records["identificacion"].key)
    generated = reviewer_client.get(f"/revision/{app.id}/responsiva")
    assert generated.mimetype == "application/octet-stream"
    assert generated.headers["Content-Disposition"].startswith('attachment; filename="responsiva-AU-2026-')
    assert reviewer_client.get(f"/revision/{app.id}/documentos/nada").status_code == 404


def test_an_unrenderable_pdf_shows_a_message_and_the_decision_still_works(reviewer_client, fakes):
    app, _ = with_documents(fakes, curp=(truncated_pdf(), "application/pdf"))
    html = reviewer_client.get(f"/revision/{app.id}").get_data(as_text=True)
    assert UNRENDERABLE_MESSAGE in html and page_images(html, "documento-curp") == []
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    assert reviewer_client.post(f"/revision/{app.id}/reservar", data={"csrf_token": token}).status_code == 303
    html = reviewer_client.get(f"/revision/{app.id}").get_data(as_text=True)
    assert UNRENDERABLE_MESSAGE in html
    fields = dict(re.findall(r'<input[^>]*name="(csrf_token|ronda|documentos)"[^>]*value="([^"]*)"',
                             re.search(r'<form[^>]*action="[^"]*/aprobar".*?</form>', html, re.S).group(0)))
    r = reviewer_client.post(f"/revision/{app.id}/aprobar", data=fields)
    assert r.status_code == 303
    assert "Solicitud aprobada" in reviewer_client.get(r.location).get_data(as_text=True)
    assert fakes.identity.get_account(app.id).attr("estatus") == "aprobado"


def test_a_failing_object_store_keeps_the_page_usable(reviewer_client, fakes, app):
    pending, _ = with_documents(fakes, curp=(scans.multipage_pdf(1), "application/pdf"))
    views = app.extensions["registro.adapters"].page_views

    def down(source):
        from registro.adapters.storage import StorageUnavailable
        raise StorageUnavailable("S3 no responde")

    views.ensure = down
    r = reviewer_client.get(f"/revision/{pending.id}")
    assert r.status_code == 200 and UNAVAILABLE_MESSAGE in r.get_data(as_text=True)


def test_page_images_need_a_reviewer_and_a_well_formed_address(client, reviewer_client, fakes):
    app, records = with_documents(fakes, identificacion=(scans.content_png(), "image/png"))
    html = reviewer_client.get(f"/revision/{app.id}").get_data(as_text=True)
    url = page_images(html, "documento-identificacion")[0]
    with client.session_transaction() as s:
        s.clear()
    anonymous = client.get(url)
    assert anonymous.status_code == 302 and anonymous.location.endswith("/revision/login")
    log_in(client, fakes)
    token = records["identificacion"].key.rsplit("/", 1)[-1]
    base = f"/revision/{app.id}/documentos"
    for bad in (f"{base}/identificacion/{token}/paginas/2", f"{base}/identificacion/{token}/paginas/0",
                f"{base}/identificacion/..%2F..%2Fx/paginas/1", f"{base}/otra/{token}/paginas/1",
                f"/revision/no-es-id/documentos/identificacion/{token}/paginas/1"):
        assert client.get(bad).status_code == 404, bad


def test_an_upload_prepares_its_page_images_in_the_background(app, fakes):
    from registro.review.page_views import document_source, prepare_application

    pending, records = with_documents(fakes, curp=(scans.multipage_pdf(2), "application/pdf"))
    views = app.extensions["registro.adapters"].page_views
    from registro.domain.application import Application

    prepare_application(views, Application(fakes.identity.get_account(pending.id)))
    views.close()  # waits for the background jobs
    for kind in (docs.CURP, docs.RESPONSIVA, docs.IDENTIFICACION):
        assert views.cached(document_source(kind, records[kind])).ok
