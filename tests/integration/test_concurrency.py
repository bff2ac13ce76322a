"""Uniqueness and lost updates under concurrency, against the real Keycloak and S3 (versitygw).

20 simultaneous registrations with one CURP (different RFC homoclaves and emails), one email
(different people), one RFC (different CURPs: Keycloak's unique username, no claim of ours) or one
country + passport make exactly one account each; uploads running
together with "Reenviar correo" lose no record. The registrations run in this process (20 threads
through one app with the real adapters) so the per-address limit can be raised for the test only.
"""
from __future__ import annotations


import io
import random
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from registro import create_app
from registro.adapters.storage import S3Store
from registro.config import Settings
from registro.domain import documents as docs
from registro.domain.application import Application
from tests.support import files
from tests.support.applications import create_application, csrf_token, delete_application, path_of, \
    valid_until
from tests.support.registration import csrf_token as form_csrf_token, curps_sharing_rfc, foreign_form, \
    mexican_form, random_person, rfc_with_check

N = 20


@pytest.fixture(scope="module")
def app():
    settings = Settings.from_env().with_changes(registration_limits="100000 per hour",
                                                resend_limits="100000 per hour")
    return create_app({"SETTINGS": settings, "TESTING": True})


@pytest.fixture
def storage():
    return S3Store(Settings.from_env().s3)


def _race(app, forms: list[dict]) -> list[int]:
    barrier = threading.Barrier(len(forms))

    def one(form):
        client = app.test_client()
        token = form_csrf_token(client.get("/registro").get_data(as_text=True))
        barrier.wait()  # all POSTs leave together
        return client.post("/registro", data={**form, "csrf_token": token}).status_code

    with ThreadPoolExecutor(len(forms)) as pool:
        return list(pool.map(one, forms))


def _cleanup(gateway, storage, emails):
    for email in emails:
        account = gateway.find_by_email(email)
        if account is not None:
            delete_application(gateway, storage, account.id)


def _person(rng):
    curp, rfc = random_person(rng)
    return curp, rfc


def test_twenty_registrations_of_one_curp_make_one_account(app, gateway, storage):
    rng = random.Random()
    curp, rfc = _person(rng)
    run = uuid.uuid4().hex[:8]
    emails = [f"curp-{run}-{i}@example.com" for i in range(N)]
    homoclaves = [f"{a}{b}" for a in "ABCDEFGHJK" for b in "123456789"]
    rng.shuffle(homoclaves)
    forms = [mexican_form(curp=curp, rfc=rfc_with_check(rfc[:10] + homoclaves[i]), email=emails[i]) for i in range(N)]
    try:
        codes = _race(app, forms)
        assert codes.count(302) == 1, codes
        assert set(codes) <= {200, 302}, codes  # the others see the duplicate message, no 5xx
        owners = [e for e in emails if gateway.find_by_email(e) is not None]
        assert len(owners) == 1
    finally:
        _cleanup(gateway, storage, emails)


def test_twenty_registrations_of_one_email_make_one_account(app, gateway, storage):
    email = f"correo-{uuid.uuid4().hex[:8]}@example.com"
    people = [random_person() for _ in range(N)]
    forms = [mexican_form(curp=c, rfc=r, email=email) for c, r in people]
    try:
        codes = _race(app, forms)
        assert codes.count(302) == 1, codes
        assert set(codes) <= {200, 302}, codes
        assert gateway.find_by_email(email) is not None
    finally:
        _cleanup(gateway, storage, [email])


def test_twenty_registrations_of_one_rfc_make_one_account(app, gateway, storage):
    rfc = random_person()[1]
    run = uuid.uuid4().hex[:8]
    emails = [f"rfc-{run}-{i}@example.com" for i in range(N)]
    forms = [mexican_form(curp=curp, rfc=rfc, email=emails[i]) for i, curp in enumerate(curps_sharing_rfc(rfc, N))]
    try:
        codes = _race(app, forms)
        assert codes.count(302) == 1, codes
        assert set(codes) <= {200, 302}, codes  # the others see the duplicate message, no 5xx
        assert len([e for e in emails if gateway.find_by_email(e) is not None]) == 1
    finally:
        _cleanup(gateway, storage, emails)


def test_twenty_registrations_of_one_passport_make_one_account(app, gateway, storage):
    run = uuid.uuid4().hex[:8]
    passport = f"P{run.upper()}"
    emails = [f"pasaporte-{run}-{i}@example.com" for i in range(N)]
    forms = [foreign_form(pasaporte=passport, email=e) for e in emails]
    try:
        codes = _race(app, forms)
        assert codes.count(302) == 1, codes
        assert set(codes) <= {200, 302}, codes
        assert len([e for e in emails if gateway.find_by_email(e) is not None]) == 1
    finally:
        _cleanup(gateway, storage, emails)


def test_concurrent_uploads_and_resend_lose_no_record(app, gateway, storage):
    settings = app.extensions["registro.settings"]
    account_id, link = create_application(gateway, storage, settings, status="pendiente_documentos")
    try:
        jobs = [(docs.CURP, files.pdf_bytes(), "curp.pdf"), (docs.RESPONSIVA, files.jpeg_bytes(), "r.jpg"),
                (docs.IDENTIFICACION, files.png_bytes(), "id.png")]
        barrier = threading.Barrier(len(jobs) + 1)

        def do_upload(job):
            kind, data, name = job
            client = app.test_client()
            page = client.get(path_of(link))
            form = {"csrf_token": csrf_token(page.get_data(as_text=True)), "archivo": (io.BytesIO(data), name)}
            if kind == docs.IDENTIFICACION:
                form.update({"tipo_identificacion": "ine", "vigencia": valid_until()})
            barrier.wait()
            return client.post(f"{path_of(link)}/documentos/{kind}", data=form,
                               content_type="multipart/form-data").status_code

        def do_resend():
            client = app.test_client()
            token = form_csrf_token(client.get("/registro").get_data(as_text=True))
            barrier.wait()
            return client.post("/registro/reenviar", data={"enlace": link.rsplit("/activacion/", 1)[1],
                                                           "csrf_token": token}).status_code

        with ThreadPoolExecutor(len(jobs) + 1) as pool:
            uploads = [pool.submit(do_upload, job) for job in jobs]
            resend = pool.submit(do_resend)
            codes = [f.result() for f in uploads]
            resend_code = resend.result()
        assert codes == [303, 303, 303], codes
        assert resend_code == 302, resend_code
        account = gateway.get_account(account_id)
        application = Application(account)
        assert set(application.documents) == {docs.CURP, docs.RESPONSIVA, docs.IDENTIFICACION}
        assert account.attr("enlace_version")  # the resend's rotation survived too
        stored = set(storage.list_keys(f"solicitudes/{account_id}/documentos/"))
        assert stored == {r.key for r in application.documents.values()}  # no orphan, no dangling record
    finally:
        delete_application(gateway, storage, account_id)
