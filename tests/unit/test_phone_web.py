"""The phone as a camera (issue 23; documents/phone_views.py, documents/phone_links.py) with fakes: two clients, the
desktop's and the phone's. The link opens once, for 15 minutes, and nothing about it works once used,
expired, replaced, or after the application was submitted; wrong codes are rate-limited."""
from __future__ import annotations

import dataclasses
import re
from datetime import timedelta

import pytest

from registro import create_app
from registro.domain import documents as docs
from registro.domain.application import Application
from tests.fakes import FakePhoneLinkStore
from tests.support import files
from tests.support.applications import create_application, csrf_token, path_of
from tests.unit.conftest import unit_settings


@pytest.fixture
def store():
    return FakePhoneLinkStore()


@pytest.fixture
def app(fakes, store):
    return create_app({"SETTINGS": unit_settings(), "ADAPTERS": dataclasses.replace(fakes, phone_links=store),
                       "TESTING": True})


@pytest.fixture
def desk(app):
    return app.test_client()


@pytest.fixture
def phone(app):
    return app.test_client()


@pytest.fixture
def opened(app, fakes):
    return create_application(fakes.identity, fakes.storage, app.extensions["registro.settings"],
                              status="pendiente_documentos")


def _new_link(desk, link) -> tuple[str, str, str]:
    """(the desktop page with the QR, the phone URL's path, the short code)."""
    page = desk.get(path_of(link)).get_data(as_text=True)
    assert "Usar mi teléfono como cámara" in page or "Generar otro código" in page
    made = desk.post(f"{path_of(link)}/movil", data={"csrf_token": csrf_token(page)})
    html = made.get_data(as_text=True)
    assert made.status_code == 200 and "<svg" in html and 'role="img"' in html
    code = re.search(r'id="movil-codigo"><strong>([2-9A-Z]{4}-[2-9A-Z]{4})<', html).group(1)
    return html, desk.application.config["_ultimo_movil"], code  # what the QR encodes (see remember_tokens)


@pytest.fixture(autouse=True)
def remember_tokens(app, monkeypatch):
    """Keeps the last phone URL made (what the QR encodes), for the phone client to open."""
    from registro.documents import phone_links

    real = phone_links.new_link

    def remembering(*args, **kwargs):
        made = real(*args, **kwargs)
        app.config["_ultimo_movil"] = f"/movil/{made.token}"
        return made

    monkeypatch.setattr(phone_links, "new_link", remembering)


def _open(phone, path: str):
    page = phone.get(path)
    assert page.status_code == 200 and "Continuar en este teléfono" in page.get_data(as_text=True)
    return phone.post(path, data={"csrf_token": csrf_token(page.get_data(as_text=True))})


def _upload(phone, kind: str, data: bytes, name: str = "foto.jpg", **fields):
    import io

    page = phone.get("/movil/documentos").get_data(as_text=True)
    form = {"csrf_token": csrf_token(page), "archivo": (io.BytesIO(data), name), **fields}
    return phone.post(f"/movil/documentos/{kind}", data=form, content_type="multipart/form-data")


def test_the_qr_opens_the_uploads_on_the_phone_once_and_the_desktop_sees_the_upload(desk, phone, fakes, opened):
    account_id, link = opened
    html, path, _ = _new_link(desk, link)
    assert 'data-movil-estado="' in html and "js/movil.js" in html
    state_url = re.search(r'data-movil-estado="([^"]+)"', html).group(1)
    assert desk.get(state_url).get_json() == {"activo": True, "subida": ""}
    assert phone.get(path).status_code == 200 and phone.get(path).status_code == 200  # looking does not use it
    opened_on_phone = _open(phone, path)
    assert opened_on_phone.status_code == 303 and opened_on_phone.location.endswith("/movil/documentos")
    cookie = phone.get_cookie("movil", path="/movil")
    assert cookie.http_only and cookie.same_site == "Lax"
    page = phone.get("/movil/documentos").get_data(as_text=True)
    assert 'capture="environment"' in page and "Cargar documentos desde el teléfono" in page
    assert phone.post(path, data={"csrf_token": csrf_token(page)}).status_code == 410  # single use
    other_phone = desk.application.test_client()
    assert _open(other_phone, path).status_code == 410

    r = _upload(phone, docs.RESPONSIVA, files.jpeg_bytes(), "responsiva.jpg")
    assert r.status_code == 303
    record = Application(fakes.identity.get_account(account_id)).documents[docs.RESPONSIVA]
    assert record.original_name == "responsiva.jpg"
    assert desk.get(state_url).get_json()["subida"]  # what the desktop's script polls
    desktop = desk.get(path_of(link)).get_data(as_text=True)
    assert "responsiva.jpg" in desktop and "Hay un teléfono conectado" in desktop


def test_the_short_code_opens_it_too_and_wrong_codes_are_refused(desk, phone, opened):
    _, link = opened
    _, path, code = _new_link(desk, link)
    entry = phone.get("/movil").get_data(as_text=True)
    wrong = phone.post("/movil/codigo", data={"csrf_token": csrf_token(entry), "codigo": "2345-6789"})
    assert wrong.status_code == 400 and "El código no es válido" in wrong.get_data(as_text=True)
    right = phone.post("/movil/codigo", data={"csrf_token": csrf_token(entry), "codigo": code.lower()})
    assert right.status_code == 303 and phone.get("/movil/documentos").status_code == 200
    again = desk.application.test_client()
    entry = again.get("/movil").get_data(as_text=True)
    assert again.post("/movil/codigo", data={"csrf_token": csrf_token(entry), "codigo": code}).status_code == 400
    assert _open(again, path).status_code == 410  # the QR of a link opened by its code is used too


def test_code_guesses_are_rate_limited(app, phone):
    entry = phone.get("/movil").get_data(as_text=True)
    answers = [phone.post("/movil/codigo", data={"csrf_token": csrf_token(entry), "codigo": f"2345-{n:04d}"}).status_code
               for n in range(12)]
    assert answers[:10] == [400] * 10 and answers[-1] == 429


def test_nothing_works_once_the_application_was_submitted(desk, phone, fakes, store, opened):
    account_id, link = opened
    _, path, _ = _new_link(desk, link)
    assert _open(phone, path).status_code == 303
    fakes.identity.update_attributes(account_id, {"estatus": "en_revision"})
    page = phone.get("/movil/documentos")
    assert page.status_code == 410 and "ya fue enviada" in page.get_data(as_text=True)
    assert phone.get_cookie("movil", path="/movil") is None
    assert all(row["revoked_at"] is not None for row in store.rows)
    assert _upload(phone, docs.RESPONSIVA, files.jpeg_bytes()).status_code == 410


def test_nothing_works_after_15_minutes(desk, phone, store, opened):
    _, link = opened
    _, path, _ = _new_link(desk, link)
    assert _open(phone, path).status_code == 303
    for row in store.rows:
        row["expires_at"] -= timedelta(minutes=15)
    assert phone.get("/movil/documentos").status_code == 410
    _, path2, _ = _new_link(desk, link)
    for row in store.rows:
        row["expires_at"] -= timedelta(minutes=15, seconds=1)
    assert _open(desk.application.test_client(), path2).status_code == 410


def test_a_new_link_or_disconnecting_ends_the_phone_s_session(desk, phone, opened):
    _, link = opened
    html, path, _ = _new_link(desk, link)
    assert _open(phone, path).status_code == 303
    _new_link(desk, link)  # "Generar otro código"
    assert phone.get("/movil/documentos").status_code == 410
    second = desk.application.test_client()
    html = desk.get(path_of(link)).get_data(as_text=True)
    made = desk.post(f"{path_of(link)}/movil", data={"csrf_token": csrf_token(html)})
    assert _open(second, desk.application.config["_ultimo_movil"]).status_code == 303
    assert desk.post(f"{path_of(link)}/movil/cancelar", data={"csrf_token": csrf_token(made.get_data(as_text=True))}
                     ).status_code == 303
    assert second.get("/movil/documentos").status_code == 410


def test_a_replaced_personal_link_ends_the_phone_s_session(desk, phone, fakes, opened):
    account_id, link = opened
    _, path, _ = _new_link(desk, link)
    assert _open(phone, path).status_code == 303
    fakes.identity.update_attributes(account_id, {"enlace_version": "otra"})
    assert phone.get("/movil/documentos").status_code == 410


def test_a_replaced_personal_link_no_longer_tells_the_phone_s_activity(desk, phone, fakes, opened):
    """The desktop's poll answers only under the current link: an old one (a forwarded email, a
    link replaced by "Enviarme un enlace nuevo") learns nothing of the phone's session — a 410 the
    page's script stops on."""
    account_id, link = opened
    _, path, _ = _new_link(desk, link)
    assert _open(phone, path).status_code == 303
    assert desk.get(f"{path_of(link)}/movil/estado").get_json()["activo"] is True
    fakes.identity.update_attributes(account_id, {"enlace_version": "otra"})
    old = desk.get(f"{path_of(link)}/movil/estado")
    assert old.status_code == 410 and old.get_json() == {"activo": False, "subida": ""}


def test_without_the_database_the_page_has_no_phone_section(fakes, opened):
    app = create_app({"SETTINGS": unit_settings(), "ADAPTERS": fakes, "TESTING": True})
    account_id, link = create_application(fakes.identity, fakes.storage, app.extensions["registro.settings"],
                                          status="pendiente_documentos")
    page = app.test_client().get(path_of(link)).get_data(as_text=True)
    assert "Usar mi teléfono como cámara" not in page
    assert app.test_client().get("/movil").status_code == 200


def test_a_bad_personal_link_answers_as_the_activation_page_does(desk, opened):
    _, link = opened
    page = desk.get(path_of(link)).get_data(as_text=True)
    r = desk.post("/activacion/no-es-un-enlace/movil", data={"csrf_token": csrf_token(page)})
    assert r.status_code == 400 and "enlace" in r.get_data(as_text=True).lower()
    assert desk.get("/activacion/no-es-un-enlace/movil/estado").status_code == 400


def test_the_desktop_s_phone_routes_answer_with_the_activation_page_s_headers(fakes, store):
    """Their path carries the personal link and the new page shows the phone's code: kept out of caches
    and Referer headers, and the page's direct-upload script still allowed to reach S3."""
    settings = unit_settings()
    settings = settings.with_changes(s3=dataclasses.replace(settings.s3, public_url="http://s3.prueba:9000"))
    app = create_app({"SETTINGS": settings, "ADAPTERS": dataclasses.replace(fakes, phone_links=store),
                      "TESTING": True})
    _, link = create_application(fakes.identity, fakes.storage, settings, status="pendiente_documentos")
    desk = app.test_client()
    page = desk.get(path_of(link))
    made = desk.post(f"{path_of(link)}/movil", data={"csrf_token": csrf_token(page.get_data(as_text=True))})
    state = desk.get(f"{path_of(link)}/movil/estado")
    for answer in (made, state):
        assert answer.headers["Cache-Control"] == "no-store" and answer.headers["Referrer-Policy"] == "no-referrer"
    assert "http://s3.prueba:9000" in page.headers["Content-Security-Policy"]
    assert made.headers["Content-Security-Policy"] == page.headers["Content-Security-Policy"]


def test_a_blurry_id_photo_taken_with_the_phone_is_answered_on_the_phone(desk, phone, fakes, opened):
    import io

    from PIL import Image, ImageFilter

    from tests.support import id_corpus

    account_id, link = opened
    _, path, _ = _new_link(desk, link)
    assert _open(phone, path).status_code == 303
    out = io.BytesIO()
    Image.open(io.BytesIO(id_corpus.generate(1, seed=11, conditions=("phone",))[0].image)) \
        .filter(ImageFilter.GaussianBlur(12)).save(out, "JPEG", quality=85)
    r = _upload(phone, docs.IDENTIFICACION, out.getvalue(), "ine.jpg", tipo_identificacion="ine",
                vigencia="2031-12-31")
    assert r.status_code == 303
    page = phone.get("/movil/documentos").get_data(as_text=True)
    assert 'id="identificacion-calidad"' in page and "La foto está borrosa" in page
    sha = Application(fakes.identity.get_account(account_id)).documents[docs.IDENTIFICACION].sha256
    kept = phone.post("/movil/documentos/identificacion/conservar", data={"csrf_token": csrf_token(page), "sha256": sha})
    assert kept.status_code == 303
    assert "La foto está borrosa" not in phone.get("/movil/documentos").get_data(as_text=True)
