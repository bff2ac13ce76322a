"""Photos at upload (issue 23, documents/photo_intake.py) with fakes and the real bounded child: a HEIC
stored as the JPEG converted from it (form and direct upload), a blurry ID photo kept but answered
beside the field in Spanish and English, with "Conservar esta foto de todos modos". A few forks each."""
from __future__ import annotations

import dataclasses
import hashlib
import io

import pillow_heif
import pytest
from PIL import Image, ImageFilter

from registro import create_app
from registro.domain import documents as docs
from registro.domain import filetypes
from registro.domain.application import Application
from registro.documents import direct_uploads
from registro.documents import photo_intake
from tests.support import id_corpus
from tests.support.applications import create_application, csrf_token, direct_upload, path_of, upload
from tests.unit.conftest import unit_settings


@pytest.fixture(scope="module")
def sharp_photo() -> bytes:
    """A phone-like photo of an INE back: sharp enough, enough pixels."""
    return id_corpus.generate(1, seed=11, conditions=("phone",))[0].image


def _heic(jpeg: bytes) -> bytes:
    out = io.BytesIO()
    pillow_heif.from_pillow(Image.open(io.BytesIO(jpeg))).save(out, quality=80)
    return out.getvalue()


def _blurred(jpeg: bytes) -> bytes:
    out = io.BytesIO()
    Image.open(io.BytesIO(jpeg)).filter(ImageFilter.GaussianBlur(12)).save(out, "JPEG", quality=85)
    return out.getvalue()


@pytest.fixture
def app(fakes):
    base = unit_settings()
    settings = base.with_changes(s3=dataclasses.replace(base.s3, public_url="http://s3.prueba:9000"))
    return create_app({"SETTINGS": settings, "ADAPTERS": fakes, "TESTING": True})


@pytest.fixture
def opened(app, fakes):
    return create_application(fakes.identity, fakes.storage, app.extensions["registro.settings"],
                              status="pendiente_documentos")


def _record(fakes, account_id, kind=docs.IDENTIFICACION):
    return Application(fakes.identity.get_account(account_id)).documents[kind]


def _doc_keys(store) -> list[str]:
    return sorted(k for k in store.objects if "/documentos/" in k)


def test_a_heic_is_sniffed_by_its_ftyp_box():
    assert filetypes.sniff(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00") == filetypes.HEIF
    assert filetypes.sniff(b"\x00\x00\x00\x18ftypmif1\x00\x00\x00\x00") == filetypes.HEIF
    assert filetypes.sniff(b"\x00\x00\x00\x18ftypisom\x00\x00\x00\x00") is None  # an MP4 video


def test_a_heic_photo_is_stored_as_the_jpeg_converted_from_it(client, fakes, opened, sharp_photo):
    account_id, link = opened
    heic = _heic(sharp_photo)
    assert upload(client, link, docs.IDENTIFICACION, heic, "IMG_0042.HEIC").status_code == 303
    record = _record(fakes, account_id)
    stored = fakes.storage.get(record.key)
    assert stored[:3] == b"\xff\xd8\xff" and Image.open(io.BytesIO(stored)).format == "JPEG"
    assert (record.content_type, record.original_name, record.size) == ("image/jpeg", "IMG_0042.jpg", len(stored))
    assert record.sha256 == hashlib.sha256(stored).hexdigest()
    assert record.details[photo_intake.CONVERTED_FROM] == "HEIC" and photo_intake.QUALITY not in record.details
    assert _doc_keys(fakes.storage) == [record.key]
    page = client.get(path_of(link)).get_data(as_text=True)
    assert "Foto HEIC convertida a JPEG" in page and "La foto está borrosa" not in page


def test_a_damaged_heic_is_refused_beside_the_field_and_nothing_is_stored(client, fakes, opened):
    account_id, link = opened
    r = upload(client, link, docs.IDENTIFICACION, b"\x00\x00\x00\x18ftypheic" + b"\x00" * 500, "foto.heic")
    assert r.status_code == 400
    assert "La foto HEIC está dañada" in r.get_data(as_text=True)
    assert _doc_keys(fakes.storage) == []


def test_a_blurry_id_photo_is_kept_and_answered_beside_the_field_with_the_choice_to_keep_it(
        client, fakes, opened, sharp_photo):
    account_id, link = opened
    assert upload(client, link, docs.IDENTIFICACION, _blurred(sharp_photo), "ine.jpg").status_code == 303
    record = _record(fakes, account_id)
    assert record.details[photo_intake.QUALITY] == "borrosa"  # stored all the same: nothing lost
    html = client.get(path_of(link)).get_data(as_text=True)
    assert 'id="identificacion-calidad"' in html and "La foto está borrosa" in html
    assert 'aria-describedby="formatos-ayuda identificacion-calidad"' in html
    english = client.get(path_of(link) + "?lang=en").get_data(as_text=True)
    assert "The photo is blurry" in english and "Keep this photo anyway" in english
    kept = client.post(f"{path_of(link)}/documentos/identificacion/conservar",
                       data={"csrf_token": csrf_token(html), "sha256": record.sha256})
    assert kept.status_code == 303
    assert _record(fakes, account_id).details[photo_intake.QUALITY_KEPT] == "si"
    html = client.get(path_of(link) + "?lang=es").get_data(as_text=True)
    assert "La foto está borrosa" not in html and "Se conservó la foto tal como está." in html


def test_keeping_a_photo_replaced_since_changes_nothing(client, fakes, opened, sharp_photo):
    account_id, link = opened
    assert upload(client, link, docs.IDENTIFICACION, _blurred(sharp_photo), "ine.jpg").status_code == 303
    html = client.get(path_of(link)).get_data(as_text=True)
    before = _record(fakes, account_id)
    kept = client.post(f"{path_of(link)}/documentos/identificacion/conservar",
                       data={"csrf_token": csrf_token(html), "sha256": "0" * 64})
    assert kept.status_code == 303 and _record(fakes, account_id) == before


def test_other_documents_get_no_photo_advice(client, fakes, opened, sharp_photo):
    account_id, link = opened
    assert upload(client, link, docs.RESPONSIVA, _blurred(sharp_photo), "responsiva.jpg").status_code == 303
    assert photo_intake.QUALITY not in _record(fakes, account_id, docs.RESPONSIVA).details


def test_a_direct_upload_of_a_heic_records_the_jpeg_and_deletes_the_heic(client, fakes, opened, sharp_photo,
                                                                        monkeypatch):
    started = []
    real = direct_uploads.in_background
    monkeypatch.setattr(direct_uploads, "in_background", lambda f: started.append(real(f)) or started[-1])
    account_id, link = opened
    issued, sent, confirmed = direct_upload(client, link, docs.IDENTIFICACION, _heic(sharp_photo),
                                            fakes.storage.browser_put, "IMG_7.heic")
    assert confirmed.status_code == 202
    assert [job.result(timeout=60) for job in started] == [direct_uploads.DONE]
    receipt_key = direct_uploads.read_receipt(app_settings(client), issued.get_json()["recibo"], account_id,
                                              docs.IDENTIFICACION).key
    record = _record(fakes, account_id)
    assert record.key == photo_intake.converted_key(receipt_key) != receipt_key
    assert _doc_keys(fakes.storage) == [record.key]  # the HEIC is gone, the JPEG stays
    assert fakes.storage.get(record.key)[:3] == b"\xff\xd8\xff" and record.content_type == "image/jpeg"
    assert client.get(confirmed.get_json()["estado"]).get_json() == {"estado": "cargado"}
    # The receipt replayed: the record names its upload (through the JPEG), nothing changes.
    token = csrf_token(client.get(path_of(link)).get_data(as_text=True))
    assert client.post(issued.get_json()["confirmar"],
                       data={"csrf_token": token, "recibo": issued.get_json()["recibo"]}).status_code == 202
    assert [job.result(timeout=60) for job in started[1:]] == [direct_uploads.DONE]
    assert _record(fakes, account_id) == record and _doc_keys(fakes.storage) == [record.key]


def app_settings(client):
    return client.application.extensions["registro.settings"]


def test_the_converted_key_is_a_document_key_of_its_own():
    key = "solicitudes/abc/documentos/identificacion/" + "a" * 32
    converted = photo_intake.converted_key(key)
    assert converted.rsplit("/", 1)[0] == key.rsplit("/", 1)[0]
    assert len(converted.rsplit("/", 1)[1]) == 32 and converted != key
    assert photo_intake.names_upload(converted, key) and photo_intake.names_upload(key, key)
    assert not photo_intake.names_upload(key, converted)
