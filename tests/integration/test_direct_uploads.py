"""Documents sent straight to the stack's S3 server (documents/direct_uploads.py) through the served
`registro`: what S3 itself enforces on a presigned PUT (size, one write, the bucket's CORS rule), and the
check after the answer against the real Keycloak and S3."""
from __future__ import annotations

import hashlib
import re
import time
from urllib.parse import urlsplit

import pytest
import requests

from registro.domain import documents as docs
from registro.domain.application import Application
from tests.support import files
from tests.support.applications import path_of


class Browser:
    """What the page's script does, over HTTP against the served service and S3."""

    def __init__(self, base: str, link: str) -> None:
        self.base, self.page = base, base + path_of(link)
        self.http = requests.Session()
        page = self.http.get(self.page, timeout=30)
        self.token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)

    def issue(self, kind: str, size: int, **fields) -> requests.Response:
        return self.http.post(f"{self.page}/documentos/{kind}/directa", timeout=30,
                              data={"csrf_token": self.token, "tamano": str(size), "nombre": "documento.pdf", **fields})

    def put(self, grant: dict, data: bytes, headers: dict | None = None) -> requests.Response:
        return requests.put(grant["url"], data=data, headers=grant["encabezados"] if headers is None else headers,
                            timeout=60)

    def confirm(self, grant: dict) -> requests.Response:
        return self.http.post(self.base + grant["confirmar"], data={"csrf_token": self.token, "recibo": grant["recibo"]},
                              timeout=30)

    def outcome(self, confirmed: requests.Response) -> str:
        """The check's outcome: in the confirmation's answer when it ended while the service waited (200),
        else polled as the page's script does."""
        if confirmed.status_code == 200:
            return confirmed.json()["resultado"]
        url = self.base + confirmed.json()["estado"]
        deadline = time.monotonic() + 30
        while (state := self.http.get(url, timeout=30).json()["estado"]) == "revisando":
            assert time.monotonic() < deadline, "the check never ended"
            time.sleep(0.02)  # polling the service, as the page's script does
        return state


@pytest.fixture
def browser(stack, applications):
    account_id, link = applications(status="pendiente_documentos")
    return account_id, Browser(stack.registro_url, link)


def test_a_document_sent_to_s3_is_checked_and_recorded(browser, gateway, storage, service_settings):
    account_id, b = browser
    data = files.pdf_bytes(padding=3 * 1024 * 1024)
    issued = b.issue(docs.RESPONSIVA, len(data))
    assert issued.status_code == 200, issued.text[:300]
    grant = issued.json()
    assert urlsplit(grant["url"]).netloc == urlsplit(service_settings.s3.public_url).netloc
    assert b.put(grant, data).status_code == 200
    confirmed = b.confirm(grant)
    # The check of 3 MiB ends well within DIRECT_UPLOAD_WAIT_SECONDS: the confirmation answers with its outcome.
    assert confirmed.status_code == 200 and confirmed.json()["resultado"] == "cargado"
    record = Application(gateway.get_account(account_id)).documents[docs.RESPONSIVA]
    assert (record.sha256, record.size, record.content_type) == (hashlib.sha256(data).hexdigest(), len(data),
                                                                 "application/pdf")
    assert storage.get(record.key) == data
    page = b.http.get(b.page, timeout=30).text
    assert "Se cargó el documento «Responsiva firmada»." in page and "data-revisando" not in page


def test_s3_takes_only_the_signed_size_and_only_one_write(browser, storage):
    account_id, b = browser
    data = files.pdf_bytes()
    grant = b.issue(docs.CURP, len(data)).json()
    assert b.put(grant, data + b"x").status_code == 403
    assert b.put(grant, data, {"Content-Type": "application/octet-stream"}).status_code == 403  # If-None-Match unsigned
    assert b.put(grant, data).status_code == 200
    replay = files.elf_bytes().ljust(len(data), b"\0")[:len(data)]
    assert b.put(grant, replay).status_code == 412  # what the check will read cannot be replaced
    key = storage.list_keys(f"solicitudes/{account_id}/documentos/curp/")[0]
    assert storage.get(key) == data


def test_only_the_service_s_pages_may_send_to_the_bucket(browser, service_settings):
    _, b = browser
    grant = b.issue(docs.CURP, 100).json()
    ask = {"Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": "content-type,if-none-match"}
    ours = requests.options(grant["url"], headers={"Origin": service_settings.public_url, **ask}, timeout=10)
    assert ours.status_code == 200 and ours.headers["Access-Control-Allow-Origin"] == service_settings.public_url
    other = requests.options(grant["url"], headers={"Origin": "http://otro.example", **ask}, timeout=10)
    assert other.status_code >= 400 and "Access-Control-Allow-Origin" not in other.headers


def test_an_unreadable_file_is_refused_and_removed_from_s3(browser, gateway, storage):
    account_id, b = browser
    data = files.elf_bytes()
    grant = b.issue(docs.CURP, len(data)).json()
    assert b.put(grant, data).status_code == 200
    assert b.outcome(b.confirm(grant)) == "rechazado"
    assert storage.list_keys(f"solicitudes/{account_id}/documentos/") == []
    assert docs.CURP not in Application(gateway.get_account(account_id)).documents
    assert "debe ser PDF, JPEG o PNG" in b.http.get(b.page, timeout=30).text


def test_a_confirmation_without_the_file_tells_the_applicant(browser, gateway):
    account_id, b = browser
    grant = b.issue(docs.CURP, 1000).json()
    assert b.outcome(b.confirm(grant)) == "rechazado"
    assert "No se recibió el archivo. Cárguelo de nuevo." in b.http.get(b.page, timeout=30).text
