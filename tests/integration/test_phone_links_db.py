"""The phone as a camera (issue 23) on the real stack: the phone links' rules on registro's PostgreSQL
(the contract the in-memory twin also passes), and the handoff through the served `registro` — the
desktop's session and the phone's, over HTTP: the QR's link opens once, the phone's upload is seen by
the desktop's poll, and once the application is submitted the phone's session answers nothing."""
from __future__ import annotations

import re

import pytest
import requests

from registro.domain import documents as docs
from registro.domain.application import Application
from registro.platform.db import Database
from registro.documents.phone_links import PgPhoneLinkStore
from tests.support import files
from tests.support import phone_links_contract as contract
from tests.support.applications import path_of

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def store(service_settings):
    db = Database(service_settings.database_url)
    yield PgPhoneLinkStore(db)
    db.engine.dispose()


def test_a_link_opens_once_by_token_or_code(store):
    contract.a_link_opens_once_by_token_or_code(store)


def test_two_phones_at_once_open_a_link_once(store):
    contract.two_phones_at_once_open_a_link_once(store)


def test_an_expired_link_and_its_session_open_nothing(store):
    contract.an_expired_link_and_its_session_open_nothing(store)


def test_revoking_ends_the_session_and_uploads_are_seen(store):
    contract.revoking_ends_the_session_and_uploads_are_seen(store)


def test_a_wrong_code_opens_nothing(store):
    contract.a_wrong_code_opens_nothing(store)


def _token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_the_phone_handoff_through_the_served_service(stack, applications, gateway):
    account_id, link = applications(status="pendiente_documentos")
    desk, phone = requests.Session(), requests.Session()
    page = desk.get(stack.registro_url + path_of(link), timeout=30)
    made = desk.post(f"{stack.registro_url}{path_of(link)}/movil", data={"csrf_token": _token(page.text)}, timeout=30)
    assert made.status_code == 200, made.text[:500]
    code = re.search(r'id="movil-codigo"><strong>([2-9A-Z]{4}-[2-9A-Z]{4})<', made.text).group(1)
    state_url = stack.registro_url + re.search(r'data-movil-estado="([^"]+)"', made.text).group(1)
    assert desk.get(state_url, timeout=30).json() == {"activo": True, "subida": ""}

    entry = phone.get(f"{stack.registro_url}/movil", timeout=30)
    opened = phone.post(f"{stack.registro_url}/movil/codigo", data={"csrf_token": _token(entry.text), "codigo": code},
                        timeout=30)
    assert opened.status_code == 200 and 'capture="environment"' in opened.text  # followed to /movil/documentos
    sent = phone.post(f"{stack.registro_url}/movil/documentos/{docs.RESPONSIVA}", timeout=60,
                      data={"csrf_token": _token(opened.text)},
                      files={"archivo": ("responsiva.jpg", files.jpeg_bytes(), "image/jpeg")})
    assert sent.status_code == 200 and "Se cargó el documento" in sent.text
    assert desk.get(state_url, timeout=30).json()["subida"]  # the desktop's script shows the page again
    assert "responsiva.jpg" in desk.get(stack.registro_url + path_of(link), timeout=30).text
    assert Application(gateway.get_account(account_id)).documents[docs.RESPONSIVA].original_name == "responsiva.jpg"

    again = requests.Session()
    entry = again.get(f"{stack.registro_url}/movil", timeout=30)
    assert again.post(f"{stack.registro_url}/movil/codigo", data={"csrf_token": _token(entry.text), "codigo": code},
                      timeout=30).status_code == 400  # used

    gateway.update_attributes(account_id, {"estatus": "en_revision"})  # submitted (here directly, as the form does)
    assert phone.get(f"{stack.registro_url}/movil/documentos", timeout=30).status_code == 410
    assert desk.get(state_url, timeout=30).json()["activo"] is False
