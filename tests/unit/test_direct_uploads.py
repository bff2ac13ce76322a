"""Documents sent by the browser straight to S3 (documents/direct_uploads.py) with fakes: the presigned PUT,
the receipt, the check after the answer, what the page and "Enviar a validación" show meanwhile."""
from __future__ import annotations

import dataclasses
import io
import re
import threading
from datetime import datetime, timedelta, timezone

import pytest

from registro import filecheck
from registro import create_app
from registro.domain import documents as docs
from registro.domain.application import Application
from registro.documents import direct_uploads
from registro.documents.service import in_background
from tests.support import files, hostile_files
from tests.support.applications import (create_application, csrf_token, direct_upload, path_of, upload,
                                        upload_valid_documents)
from tests.unit.conftest import unit_settings

MiB = 1024 * 1024


def _settings(**changes):
    base = unit_settings(**changes)
    return base.with_changes(s3=dataclasses.replace(base.s3, public_url="http://s3.prueba:9000"))


@pytest.fixture
def app(fakes):
    return create_app({"SETTINGS": _settings(), "ADAPTERS": fakes, "TESTING": True})


@pytest.fixture
def jobs(monkeypatch):
    """The checks started by confirmations and page views, to wait for (they run on the real pool)."""
    started = []
    real = direct_uploads.in_background

    def tracked(func):
        future = real(func)
        started.append(future)
        return future

    monkeypatch.setattr(direct_uploads, "in_background", tracked)
    return started


@pytest.fixture
def opened(app, fakes):
    settings = app.extensions["registro.settings"]
    return create_application(fakes.identity, fakes.storage, settings, status="pendiente_documentos")


def _application(fakes, account_id) -> Application:
    return Application(fakes.identity.get_account(account_id))


def _doc_keys(store) -> list[str]:
    return sorted(k for k in store.objects if "/documentos/" in k)


def test_a_direct_upload_is_answered_then_checked_and_recorded(client, fakes, opened, jobs):
    account_id, link = opened
    data = files.pdf_bytes(padding=300 * 1024)
    issued, sent, confirmed = direct_upload(client, link, docs.RESPONSIVA, data, fakes.storage.browser_put,
                                            "responsiva firmada.pdf")
    assert issued.status_code == 200 and sent == 200
    grant = issued.get_json()
    assert grant["url"] in fakes.storage.presigned and grant["encabezados"]["If-None-Match"] == "*"
    assert confirmed.status_code == 202
    assert confirmed.get_json()["pagina"].endswith(f"{path_of(link)}#documento-{docs.RESPONSIVA}")
    # The state URL names the upload without the receipt (the file's name, the ID's details): URLs get logged.
    assert grant["recibo"] not in confirmed.get_json()["estado"]
    assert [job.result(timeout=30) for job in jobs] == [direct_uploads.DONE]
    record = _application(fakes, account_id).documents[docs.RESPONSIVA]
    assert [record.key] == _doc_keys(fakes.storage)
    assert (record.size, record.content_type, record.original_name) == (len(data), "application/pdf",
                                                                       "responsiva firmada.pdf")
    assert record.sha256 == __import__("hashlib").sha256(data).hexdigest()
    assert client.get(confirmed.get_json()["estado"]).get_json() == {"estado": "cargado"}
    page = client.get(path_of(link)).get_data(as_text=True)
    assert "responsiva firmada.pdf" in page and "data-revisando" not in page
    assert "Se cargó el documento «Responsiva firmada»." in page  # as after a form upload


def test_the_presigned_put_takes_only_the_signed_size_and_only_once(client, fakes, opened, jobs):
    _, link = opened
    data = files.pdf_bytes()
    issued = direct_upload(client, link, docs.CURP, data, lambda url, body, headers: 0)[0]
    grant = issued.get_json()
    assert fakes.storage.browser_put(grant["url"], data + b" ", grant["encabezados"]) == 403
    assert fakes.storage.browser_put(grant["url"], data, {}) == 403  # the signed headers are required
    assert fakes.storage.browser_put(grant["url"], data, grant["encabezados"]) == 200
    assert fakes.storage.browser_put(grant["url"], files.elf_bytes()[:len(data)].ljust(len(data), b"\0"),
                                     grant["encabezados"]) == 412  # cannot overwrite what will be checked


def test_an_unreadable_file_is_refused_on_the_page_and_its_object_deleted(client, fakes, opened, jobs):
    account_id, link = opened
    issued, sent, confirmed = direct_upload(client, link, docs.CURP, files.elf_bytes(), fakes.storage.browser_put,
                                            "curp.pdf")
    assert confirmed.status_code == 202
    assert [job.result(timeout=30) for job in jobs] == [direct_uploads.REFUSED]
    assert _doc_keys(fakes.storage) == [] and docs.CURP not in _application(fakes, account_id).documents
    page = client.get(path_of(link))
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "debe ser PDF, JPEG o PNG" in html and 'id="curp-archivo-error"' in html
    assert "Revise el documento señalado; no se cargó." in html
    # Answered by a later upload through the form: the refusal is no longer shown.
    assert upload(client, link, docs.CURP, files.pdf_bytes()).status_code == 303
    assert "debe ser PDF, JPEG o PNG" not in client.get(path_of(link)).get_data(as_text=True)


@pytest.mark.parametrize("kind,form,status,field,fragment", [
    (docs.CURP, {"tamano": str(10 * MiB + 1)}, 413, "archivo", "excede el tamaño máximo"),
    (docs.CURP, {"tamano": "0"}, 400, "archivo", "vacío"),
    (docs.CURP, {}, 400, "archivo", "Seleccione un archivo."),
    (docs.IDENTIFICACION, {"tamano": "100", "tipo_identificacion": "ine"}, 400, "vigencia", "vigencia"),
])
def test_the_url_is_refused_with_the_form_s_own_messages(client, fakes, opened, kind, form, status, field, fragment):
    _, link = opened
    token = csrf_token(client.get(path_of(link)).get_data(as_text=True))
    r = client.post(f"{path_of(link)}/documentos/{kind}/directa", data={"csrf_token": token, **form})
    assert r.status_code == status
    assert any(fragment in m for m in r.get_json()["errores"][field])
    assert fakes.storage.presigned == {}


def test_the_url_is_refused_once_the_documents_were_submitted_and_without_the_page_s_token(client, fakes, app, jobs):
    settings = app.extensions["registro.settings"]
    account_id, link = create_application(fakes.identity, fakes.storage, settings, status="pendiente_documentos")
    upload_valid_documents(client, link)
    page = client.get(path_of(link)).get_data(as_text=True)
    assert client.post(f"{path_of(link)}/enviar", data={"csrf_token": csrf_token(page)}).status_code == 303
    r = client.post(f"{path_of(link)}/documentos/{docs.CURP}/directa", data={"csrf_token": csrf_token(page), "tamano": "5"})
    assert r.status_code == 409 and "enviados a validación" in r.get_json()["aviso"]
    other = create_application(fakes.identity, fakes.storage, settings, status="pendiente_documentos")[1]
    r = client.post(f"{path_of(other)}/documentos/{docs.CURP}/directa", data={"tamano": "5"})
    assert r.status_code == 400 and not r.is_json  # the CSRF refusal page: the script falls back to the form
    assert fakes.storage.presigned == {}


def test_without_a_public_s3_url_the_page_uploads_through_the_service_only(fakes):
    app = create_app({"SETTINGS": unit_settings(), "ADAPTERS": fakes, "TESTING": True})
    client = app.test_client()
    _, link = create_application(fakes.identity, fakes.storage, app.extensions["registro.settings"],
                                 status="pendiente_documentos")
    page = client.get(path_of(link))
    assert "data-directa" not in page.get_data(as_text=True)
    assert "connect-src 'self';" in page.headers["Content-Security-Policy"]
    r = client.post(f"{path_of(link)}/documentos/{docs.CURP}/directa",
                    data={"csrf_token": csrf_token(page.get_data(as_text=True)), "tamano": "5"})
    assert r.status_code == 404


def test_the_page_may_connect_to_s3_and_nothing_else_does(client, opened):
    _, link = opened
    page = client.get(path_of(link))
    assert "connect-src 'self' http://s3.prueba:9000;" in page.headers["Content-Security-Policy"]
    assert 'data-directa="' in page.get_data(as_text=True)
    assert "s3.prueba" not in client.get("/registro").headers["Content-Security-Policy"]


def test_a_receipt_confirms_only_its_own_application_and_document(client, fakes, app, opened, jobs):
    _, link = opened
    other_id, other_link = create_application(fakes.identity, fakes.storage, app.extensions["registro.settings"],
                                              status="pendiente_documentos")
    data = files.pdf_bytes()
    issued = direct_upload(client, link, docs.CURP, data, lambda url, body, headers: 0)[0]
    grant = issued.get_json()
    assert fakes.storage.browser_put(grant["url"], data, grant["encabezados"]) == 200
    token = csrf_token(client.get(path_of(other_link)).get_data(as_text=True))
    for path, receipt in ((f"{path_of(other_link)}/documentos/{docs.CURP}/confirmar", grant["recibo"]),
                          (f"{path_of(link)}/documentos/{docs.RESPONSIVA}/confirmar", grant["recibo"]),
                          (f"{path_of(link)}/documentos/{docs.CURP}/confirmar", grant["recibo"][:-2] + "xx")):
        r = client.post(path, data={"csrf_token": token, "recibo": receipt})
        assert r.status_code == 400 and "no es válida" in r.get_json()["aviso"]
    assert jobs == [] and fakes.upload_markers.rows == {}
    assert docs.CURP not in _application(fakes, other_id).documents


def test_enviar_a_validacion_waits_for_a_document_being_checked(client, fakes, opened, jobs, monkeypatch):
    account_id, link = opened
    upload_valid_documents(client, link)
    release = threading.Event()
    real = direct_uploads._record
    monkeypatch.setattr(direct_uploads, "_record", lambda *args, **kwargs: release.wait(30) and real(*args, **kwargs))
    issued, sent, confirmed = direct_upload(client, link, docs.CURP, files.pdf_bytes(), fakes.storage.browser_put)
    assert confirmed.status_code == 202
    state_url = confirmed.get_json()["estado"]
    _wait_for_marker(fakes, account_id, docs.CURP)
    page = client.get(path_of(link)).get_data(as_text=True)
    assert 'data-revisando="curp"' in page and "Espere a que termine la revisión del archivo de «CURP»." in page
    r = client.post(f"{path_of(link)}/enviar", data={"csrf_token": csrf_token(page)})
    assert r.status_code == 400 and "Espere a que termine la revisión" in r.get_data(as_text=True)
    assert _application(fakes, account_id).status == "pendiente_documentos"
    assert client.get(f"{path_of(link)}/documentos/estado").get_json() == {"revisando": ["curp"]}
    assert client.get(state_url).get_json() == {"estado": "revisando"}
    release.set()
    assert [job.result(timeout=30) for job in jobs] == [direct_uploads.DONE]
    assert client.get(state_url).get_json() == {"estado": "cargado"}
    assert client.get(f"{path_of(link)}/documentos/estado").get_json() == {"revisando": []}
    assert client.post(f"{path_of(link)}/enviar", data={"csrf_token": csrf_token(page)}).status_code == 303


def _wait_for_marker(fakes, account_id, kind):
    for _ in range(3000):
        if fakes.upload_markers.get(account_id, kind) is not None:
            return
        threading.Event().wait(0.01)  # another thread's write, not a state of this one
    raise AssertionError("the check never marked the document")


def test_a_confirmation_waits_while_the_marker_still_names_an_earlier_upload(client, fakes, opened, monkeypatch):
    _, link = opened
    first = direct_upload(client, link, docs.CURP, files.pdf_bytes(), fakes.storage.browser_put)[2]
    _wait_until(lambda: client.get(first.get_json()["estado"]).get_json()["estado"] == "cargado")
    monkeypatch.setattr(direct_uploads, "in_background", lambda func: None)  # confirmed, check not begun
    second = direct_upload(client, link, docs.CURP, files.pdf_bytes(padding=10), fakes.storage.browser_put)[2]
    assert client.get(second.get_json()["estado"]).get_json() == {"estado": "revisando"}


def _wait_until(condition):
    for _ in range(3000):
        if condition():
            return
        threading.Event().wait(0.01)  # another thread's work, not a state of this one
    raise AssertionError("never happened")


def test_the_script_s_state_url_answers_for_its_own_upload_only(client, fakes, opened, app, monkeypatch):
    account_id, link = opened
    monkeypatch.setattr(direct_uploads, "in_background", lambda func: None)  # confirmed, check not begun
    confirmed = direct_upload(client, link, docs.CURP, files.pdf_bytes(), fakes.storage.browser_put)[2]
    state_url = confirmed.get_json()["estado"]
    assert client.get(state_url).get_json() == {"estado": "revisando"}  # before its marker exists
    monkeypatch.setattr(direct_uploads, "in_background", in_background)
    later = direct_upload(client, link, docs.CURP, files.pdf_bytes(padding=10), fakes.storage.browser_put)[2]
    _wait_until(lambda: client.get(later.get_json()["estado"]).get_json()["estado"] == "cargado")
    assert client.get(state_url).get_json() == {"estado": "reemplazado"}  # a later upload took over
    other_link = create_application(fakes.identity, fakes.storage, app.extensions["registro.settings"],
                                    status="pendiente_documentos")[1]
    token = path_of(link).rsplit("/", 1)[1]
    assert client.get(state_url.replace(token, path_of(other_link).rsplit("/", 1)[1])).status_code == 404
    assert client.get(state_url.replace("/curp/", f"/{docs.RESPONSIVA}/")).status_code == 404


class ProcessDied(BaseException):
    """The worker's process ending in the middle of a check (nothing in it catches this)."""


def test_a_check_lost_with_its_process_is_taken_up_by_the_next_view(client, fakes, opened, monkeypatch):
    account_id, link = opened
    lost = []
    def dies_once_marked(identity, storage, marks, settings, receipt, marking, after_store=None, recorded=None,
                         opening=None):
        marking.result()
        raise ProcessDied()

    monkeypatch.setattr(direct_uploads, "_record", dies_once_marked)
    monkeypatch.setattr(direct_uploads, "in_background", lambda func: lost.append(func))
    data = files.pdf_bytes()
    assert direct_upload(client, link, docs.CURP, data, fakes.storage.browser_put)[2].status_code == 202
    with pytest.raises(ProcessDied):
        lost.pop()()  # marked "revisando", then nothing
    monkeypatch.undo()
    jobs = []
    monkeypatch.setattr(direct_uploads, "in_background", lambda func: jobs.append(in_background(func)))
    marker = fakes.upload_markers.get(account_id, docs.CURP)
    # Before STALE_S nothing is restarted; after it, one view restarts it and the next does not.
    assert 'data-revisando="curp"' in client.get(path_of(link)).get_data(as_text=True) and jobs == []
    old = (datetime.now(timezone.utc) - timedelta(seconds=direct_uploads.STALE_S + 1)).isoformat()
    fakes.upload_markers.rows[(account_id, docs.CURP)]["desde"] = old  # as if written STALE_S ago
    client.get(path_of(link))
    client.get(path_of(link))
    assert [job.result(timeout=30) for job in jobs] == [direct_uploads.DONE]
    assert _application(fakes, account_id).documents[docs.CURP].key == marker.receipt.key
    assert "data-revisando" not in client.get(path_of(link)).get_data(as_text=True)


@pytest.mark.parametrize("order,outcomes", [
    ((1, 0), (direct_uploads.DONE, direct_uploads.SUPERSEDED)),  # the newer check runs first; the older gives way
    ((0, 1), (direct_uploads.DONE, direct_uploads.DONE)),  # in order: the newer replaces the older
])
def test_the_newest_of_two_uploads_of_a_document_wins_whatever_order_the_checks_run(client, fakes, opened,
                                                                                      monkeypatch, order, outcomes):
    account_id, link = opened
    pending = []
    monkeypatch.setattr(direct_uploads, "in_background", lambda func: pending.append(func))
    first, second = files.pdf_bytes(padding=1000), files.pdf_bytes(padding=2000)
    direct_upload(client, link, docs.CURP, first, fakes.storage.browser_put)
    direct_upload(client, link, docs.CURP, second, fakes.storage.browser_put)
    assert tuple(pending[i]() for i in order) == outcomes
    record = _application(fakes, account_id).documents[docs.CURP]
    assert record.size == len(second) and _doc_keys(fakes.storage) == [record.key]
    assert "Se inició una carga más reciente" not in client.get(path_of(link)).get_data(as_text=True)


def test_a_temporary_failure_is_told_and_a_new_upload_completes(client, fakes, opened, monkeypatch):
    account_id, link = opened
    pending = []
    monkeypatch.setattr(direct_uploads, "in_background", lambda func: pending.append(func))
    assert direct_upload(client, link, docs.CURP, files.pdf_bytes(), fakes.storage.browser_put)[2].status_code == 202
    fakes.identity.down = True  # Keycloak fails while the file is checked
    assert pending.pop()() == direct_uploads.REFUSED
    fakes.identity.down = False
    assert _doc_keys(fakes.storage) == []
    assert direct_uploads.TEMPORARY_FAILURE in client.get(path_of(link)).get_data(as_text=True)
    direct_upload(client, link, docs.CURP, files.pdf_bytes(), fakes.storage.browser_put)
    assert pending.pop()() == direct_uploads.DONE
    assert _doc_keys(fakes.storage) == [_application(fakes, account_id).documents[docs.CURP].key]


def test_a_confirmation_without_the_file_is_refused_on_the_page(client, fakes, opened, jobs):
    _, link = opened
    issued, sent, confirmed = direct_upload(client, link, docs.CURP, files.pdf_bytes(), lambda url, body, headers: 200)
    assert confirmed.status_code == 202
    assert [job.result(timeout=30) for job in jobs] == [direct_uploads.REFUSED]
    assert direct_uploads.NOT_RECEIVED in client.get(path_of(link)).get_data(as_text=True)


def test_presigned_uploads_are_limited_per_application(fakes):
    app = create_app({"SETTINGS": _settings(direct_upload_limits="2 per hour"), "ADAPTERS": fakes, "TESTING": True})
    client = app.test_client()
    settings = app.extensions["registro.settings"]
    _, link = create_application(fakes.identity, fakes.storage, settings, status="pendiente_documentos")
    _, other = create_application(fakes.identity, fakes.storage, settings, status="pendiente_documentos")
    send = lambda url, body, headers: 0  # noqa: E731 - the URL is what is counted, not the PUT
    statuses = [direct_upload(client, link, docs.CURP, files.pdf_bytes(), send)[0].status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert direct_upload(client, other, docs.CURP, files.pdf_bytes(), send)[0].status_code == 200
    assert len(fakes.storage.presigned) == 3
    # The form upload through the service stays open to the limited application.
    assert upload(client, link, docs.CURP, files.pdf_bytes()).status_code == 303


def test_the_page_s_grant_issues_the_url_without_reading_keycloak(client, fakes, opened):
    _, link = opened
    page = client.get(path_of(link)).get_data(as_text=True)
    grant = re.search(r'id="permiso-curp" value="([^"]+)"', page).group(1)
    fields = {"csrf_token": csrf_token(page), "tamano": "500"}
    fakes.identity.down = True  # Keycloak unreachable: only the grant can answer
    assert client.post(f"{path_of(link)}/documentos/curp/directa", data={**fields, "permiso": grant}).status_code == 200
    # A grant for another document, or a forged one, is not used: the application must be read.
    for other in (re.search(r'id="permiso-responsiva_firmada" value="([^"]+)"', page).group(1), grant[:-3] + "abc"):
        r = client.post(f"{path_of(link)}/documentos/curp/directa", data={**fields, "permiso": other})
        assert r.status_code == 503 and not r.is_json


def test_a_grant_from_before_the_submission_gets_a_url_but_the_check_refuses_the_file(client, fakes, opened, jobs):
    account_id, link = opened
    upload_valid_documents(client, link)
    before = _application(fakes, account_id).documents[docs.CURP]
    page_before = client.get(path_of(link))  # the page, with its grants, still open in another tab
    assert client.post(f"{path_of(link)}/enviar",
                       data={"csrf_token": csrf_token(page_before.get_data(as_text=True))}).status_code == 303
    grant = re.search(r'id="permiso-curp" value="([^"]+)"', page_before.get_data(as_text=True)).group(1)
    token = csrf_token(page_before.get_data(as_text=True))
    data = files.pdf_bytes(padding=99)
    issued = client.post(f"{path_of(link)}/documentos/curp/directa",
                         data={"csrf_token": token, "tamano": str(len(data)), "permiso": grant})
    assert issued.status_code == 200
    g = issued.get_json()
    assert fakes.storage.browser_put(g["url"], data, g["encabezados"]) == 200
    assert client.post(g["confirmar"], data={"csrf_token": token, "recibo": g["recibo"]}).status_code == 202
    assert [job.result(timeout=30) for job in jobs] == [direct_uploads.REFUSED]
    assert _application(fakes, account_id).documents[docs.CURP] == before
    assert _doc_keys(fakes.storage) == sorted(r.key for r in _application(fakes, account_id).documents.values())


def test_a_link_replaced_after_the_url_was_issued_makes_the_check_refuse_the_file(client, fakes, opened, app, jobs,
                                                                                  monkeypatch):
    from registro.kernel.confirmation_links import issue_link

    account_id, link = opened
    pending = []
    monkeypatch.setattr(direct_uploads, "in_background", lambda func: pending.append(func))
    assert direct_upload(client, link, docs.CURP, files.pdf_bytes(), fakes.storage.browser_put)[2].status_code == 202
    new_link = issue_link(fakes.identity, app.extensions["registro.settings"], account_id)
    assert pending.pop()() == direct_uploads.REFUSED
    assert _doc_keys(fakes.storage) == [] and docs.CURP not in _application(fakes, account_id).documents
    assert "Este enlace fue reemplazado" in client.get(path_of(new_link)).get_data(as_text=True)


# --- the confirmation waits for a check that ends in time (DIRECT_UPLOAD_WAIT_SECONDS) ------------------
@pytest.fixture
def waiting_app(fakes):
    return create_app({"SETTINGS": _settings(direct_upload_wait_s=5.0), "ADAPTERS": fakes, "TESTING": True})


def test_a_check_that_ends_in_time_is_answered_with_its_outcome(waiting_app, fakes, jobs):
    """No polling: the answer carries the outcome, the page says the document was loaded."""
    settings = waiting_app.extensions["registro.settings"]
    account_id, link = create_application(fakes.identity, fakes.storage, settings, status="pendiente_documentos")
    client = waiting_app.test_client()
    data = files.pdf_bytes(padding=300 * 1024)
    confirmed = direct_upload(client, link, docs.RESPONSIVA, data, fakes.storage.browser_put)[2]
    assert confirmed.status_code == 200 and confirmed.get_json()["resultado"] == direct_uploads.DONE
    assert _application(fakes, account_id).documents[docs.RESPONSIVA].size == len(data)  # recorded when answered
    assert [job.result(timeout=30) for job in jobs] == [direct_uploads.DONE]
    assert "Se cargó el documento «Responsiva firmada»." in client.get(path_of(link)).get_data(as_text=True)

    refused = direct_upload(client, link, docs.CURP, files.elf_bytes(), fakes.storage.browser_put)[2]
    assert refused.status_code == 200 and refused.get_json()["resultado"] == direct_uploads.REFUSED
    assert "debe ser PDF, JPEG o PNG" in client.get(path_of(link)).get_data(as_text=True)


def test_a_check_that_outlasts_the_wait_is_answered_still_checking_then_polled(fakes, jobs, monkeypatch):
    app = create_app({"SETTINGS": _settings(direct_upload_wait_s=0.05), "ADAPTERS": fakes, "TESTING": True})
    settings = app.extensions["registro.settings"]
    account_id, link = create_application(fakes.identity, fakes.storage, settings, status="pendiente_documentos")
    client = app.test_client()
    release = threading.Event()
    real_check = direct_uploads._read_back_and_check

    def slow(*args, **kwargs):
        assert release.wait(30)
        return real_check(*args, **kwargs)

    monkeypatch.setattr(direct_uploads, "_read_back_and_check", slow)
    confirmed = direct_upload(client, link, docs.RESPONSIVA, files.pdf_bytes(), fakes.storage.browser_put)[2]
    assert confirmed.status_code == 202 and "resultado" not in confirmed.get_json()
    assert client.get(confirmed.get_json()["estado"]).get_json() == {"estado": "revisando"}
    release.set()
    assert [job.result(timeout=30) for job in jobs] == [direct_uploads.DONE]
    assert client.get(confirmed.get_json()["estado"]).get_json() == {"estado": "cargado"}
    assert docs.RESPONSIVA in _application(fakes, account_id).documents


# --- the check runs as the object is read back ----------------------------------------------------------
@pytest.mark.parametrize("name, kind, data, expected, whole", [
    ("pdf", docs.RESPONSIVA, files.pdf_bytes(padding=3 * MiB), "application/pdf", False),
    ("jpeg", docs.CURP, files.jpeg_bytes(), "image/jpeg", False),
    ("png", docs.RESPONSIVA, files.png_bytes(), "image/png", False),
    ("id-jpeg", docs.IDENTIFICACION, files.jpeg_bytes(), "image/jpeg", True),  # its quality reads the picture
    ("id-png", docs.IDENTIFICACION, files.png_bytes(), "image/png", True),
])
def test_the_read_back_is_checked_as_it_arrives_and_spooled_as_far_as_it_is_read_again(fakes, monkeypatch, name, kind,
                                                                                       data, expected, whole):
    """The check child reads (and hashes) every byte as S3 sends it; the spool keeps the whole file only
    when something reads it again (an ID photo's quality), else its beginning, with every byte counted."""
    from registro.documents.spool import CountingSpool

    monkeypatch.setattr(direct_uploads, "READ_BACK_CHUNK", 256)  # every file arrives in several pieces

    fakes.storage.put("k", data, content_type="application/octet-stream")
    spool = CountingSpool(limit=10 * MiB, hashing=False)
    sha256 = __import__("hashlib").sha256(data).hexdigest()
    assert direct_uploads._read_back_and_check(fakes.storage, "k", spool, kind=kind) == (expected, sha256)
    spool.seek(0)
    kept = spool.read()
    assert spool.size == len(data) and spool.partial is not whole
    if whole:
        assert kept == data and spool.reader().read() == data
    else:
        assert 0 < len(kept) < len(data) and data.startswith(kept)
        with pytest.raises(io.UnsupportedOperation):
            spool.reader()


def test_a_read_back_pdf_leaves_nothing_on_disk(fakes):
    """Its first piece (a mebibyte) is not kept whole either: the spool keeps the beginning in memory."""
    from registro.documents.spool import CountingSpool

    data = files.pdf_bytes(padding=3 * MiB)
    fakes.storage.put("k", data, content_type="application/octet-stream")
    spool = CountingSpool(limit=10 * MiB, hashing=False)
    assert direct_uploads._read_back_and_check(fakes.storage, "k", spool, kind=docs.RESPONSIVA)[0] == "application/pdf"
    assert (spool.size, spool.partial, spool.rolled) == (len(data), True, False)


def test_a_read_back_that_fits_its_first_piece_is_spooled_whole(fakes):
    from registro.documents.spool import CountingSpool

    data = files.pdf_bytes()
    fakes.storage.put("k", data, content_type="application/octet-stream")
    spool = CountingSpool(limit=10 * MiB, hashing=False)
    direct_uploads._read_back_and_check(fakes.storage, "k", spool, kind=docs.RESPONSIVA)
    assert (spool.size, spool.partial) == (len(data), False) and spool.reader().read() == data


@pytest.mark.parametrize("name", sorted(hostile_files.CORPUS_BUILDERS))
def test_every_hostile_file_read_back_gets_the_form_uploads_verdict(fakes, name):
    """The check fed piece by piece as S3 sends the object refuses each file of the corpus with the message
    the form upload gives for it (a type no check streams is left to store_document's detection)."""
    from registro.domain import filetypes
    from registro.documents.spool import CountingSpool

    data = hostile_files.build(name)
    fakes.storage.put("k", data, content_type="application/octet-stream")
    with pytest.raises(filetypes.UnreadableFile) as whole:
        filecheck.inspect(io.BytesIO(data))
    try:
        checked, _ = direct_uploads._read_back_and_check(fakes.storage, "k", CountingSpool(limit=10 * MiB))
    except filetypes.UnreadableFile as streamed:
        assert streamed.message == whole.value.message
    else:
        assert checked is None and filetypes.sniff(data[:filetypes.SNIFF_BYTES]) not in (
            filetypes.PDF, filetypes.JPEG, filetypes.PNG)


def test_a_read_back_over_the_limit_stops_the_check(fakes):
    from registro.documents.spool import CountingSpool, FileTooLarge

    fakes.storage.put("k", files.pdf_bytes(padding=3 * MiB), content_type="application/octet-stream")
    with pytest.raises(FileTooLarge):
        direct_uploads._read_back_and_check(fakes.storage, "k", CountingSpool(limit=2 * MiB))


def test_a_heic_is_read_back_whole_and_left_to_the_conversion(fakes):
    from registro.documents.spool import CountingSpool

    heic = b"\x00\x00\x00\x18ftypheic" + bytes(2000)
    fakes.storage.put("k", heic, content_type="application/octet-stream")
    spool = CountingSpool(limit=10 * MiB, hashing=False)
    assert direct_uploads._read_back_and_check(fakes.storage, "k", spool) == (
        None, __import__("hashlib").sha256(heic).hexdigest())  # hashed by the spool's writer: no child read it
    spool.seek(0)
    assert spool.read() == heic


def test_the_outcome_is_answered_once_the_record_names_the_upload_before_the_markers_write(waiting_app, fakes, jobs,
                                                                                           monkeypatch):
    """The record's write is the outcome (the page lists a recorded document whatever its marker says): the
    marker's own write goes on after the answer, and the polling meanwhile answers what the answer said (the
    record names the upload), never an earlier state."""
    settings = waiting_app.extensions["registro.settings"]
    account_id, link = create_application(fakes.identity, fakes.storage, settings, status="pendiente_documentos")
    client = waiting_app.test_client()
    marks = fakes.upload_markers
    release, real_finish = threading.Event(), marks.finish

    def slow_finish(*args):
        assert release.wait(30)
        return real_finish(*args)

    monkeypatch.setattr(marks, "finish", slow_finish)
    try:
        confirmed = direct_upload(client, link, docs.CURP, files.pdf_bytes(), fakes.storage.browser_put)[2]
        assert confirmed.status_code == 200 and confirmed.get_json()["resultado"] == direct_uploads.DONE
        assert docs.CURP in _application(fakes, account_id).documents
        assert marks.get(account_id, docs.CURP).state == direct_uploads.CHECKING  # its write is held
        assert client.get(confirmed.get_json()["estado"]).get_json() == {"estado": "cargado"}
    finally:
        release.set()
    assert [job.result(timeout=30) for job in jobs] == [direct_uploads.DONE]
    assert client.get(confirmed.get_json()["estado"]).get_json() == {"estado": "cargado"}


def test_the_outcome_is_answered_before_the_replaced_object_is_deleted(waiting_app, fakes, jobs, monkeypatch):
    """The record's write is the outcome: the deletion of the document it replaced goes on after the answer."""
    from registro.documents import service

    settings = waiting_app.extensions["registro.settings"]
    account_id, link = create_application(fakes.identity, fakes.storage, settings, status="pendiente_documentos")
    client = waiting_app.test_client()
    assert direct_upload(client, link, docs.CURP, files.pdf_bytes(), fakes.storage.browser_put)[2].status_code == 200
    first = _application(fakes, account_id).documents[docs.CURP].key
    release, real_delete = threading.Event(), service.delete_quietly

    def slow_delete(*args):
        assert release.wait(30)
        return real_delete(*args)

    monkeypatch.setattr(service, "delete_quietly", slow_delete)
    confirmed = direct_upload(client, link, docs.CURP, files.pdf_bytes(pages=2), fakes.storage.browser_put)[2]
    assert confirmed.status_code == 200 and confirmed.get_json()["resultado"] == direct_uploads.DONE
    second = _application(fakes, account_id).documents[docs.CURP].key
    assert second != first and first in fakes.storage.objects  # answered while the old object is still there
    release.set()
    assert [job.result(timeout=30) for job in jobs][-1] == direct_uploads.DONE
    assert _doc_keys(fakes.storage) == [second]
