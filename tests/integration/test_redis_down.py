"""Redis stopped during registration, upload, submission, the console and recovery (issue 20): no 5xx.

Measured before: with the stack's Redis stopped for 30 s, registration and recovery answered 500
(1,419 of 1,471) while /health/ready said 200. Redis holds only what may be lost, so with it down
every path keeps answering: rate limits count in the process's memory, the console asks the reviewer
to log in again (a Spanish page), a submission goes on and is in the queue (SQL), and readiness stays
200 saying "degradado". Once Redis is back, the console logs in again and the limits return to Redis.

Each step is prepared with everything up; Redis (the test stack's own redis-server, through
tools.stack's pid files) is stopped, the steps run, Redis is started again, and the aftermath is
checked. Kept in its own file: it stops a service every other test relies on.
"""
from __future__ import annotations

import html
import io
import time

import pytest
import redis as redis_client
import requests

from registro import create_app
from registro.domain import documents as docs
from registro.domain.application import Application
from tests.support import files
from tests.support.applications import (create_application, delete_application, direct_upload, path_of,
                                        upload_valid_documents)
from tests.support.captcha import ask_recovery
from tests.support.registration import csrf_token, mexican_form, random_person
from tests.support.reviewer import ReviewerAccount, console_login, form_fields, new_reviewer

pytestmark = pytest.mark.integration

SENT_TITLE = "Se ha enviado el restablecimiento de la contraseña"
INTERRUPTED = "/revision/sesion-interrumpida"


def text_of(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def put_to_s3(url: str, data: bytes, headers: dict) -> int:
    return requests.put(url, data=data, headers=headers, timeout=60).status_code


@pytest.fixture
def redis_control(service_settings):
    from tools.stack.profiles import Profile
    from tools.stack.runner import Stack

    stack = Stack(Profile.named("test"))
    assert stack.pid_of("redis") is not None, "la pila de pruebas no está corriendo; ejecute `make test`"
    yield stack
    stack.start("redis")  # whatever happened: the tests after this one need it
    stack.wait_ready("redis")


@pytest.fixture
def reviewer(make_account, kc_admin, unique) -> ReviewerAccount:
    return new_reviewer(make_account, kc_admin, f"revisor-redis-{unique}")


@pytest.fixture
def cleanup(gateway, storage):
    accounts: list[str] = []
    yield accounts
    for account_id in accounts:
        delete_application(gateway, storage, account_id)


def test_with_redis_stopped_nothing_answers_5xx_and_everything_resumes(
        redis_control, stack, service_settings, gateway, storage, mailbox, make_account, pending, reviewer,
        queue_index, cleanup, unique):
    app = create_app({"SETTINGS": service_settings, "TESTING": True})
    answers: list[tuple[str, int]] = []

    def seen(step: str, response):
        answers.append((step, response.status_code))
        return response

    # --- prepared with everything up ----------------------------------------------------------------
    registrant = app.test_client()
    curp, rfc = random_person()
    email = f"sin-redis-{unique}@example.com"
    form = {**mexican_form(curp=curp, rfc=rfc, email=email),
            "csrf_token": csrf_token(registrant.get("/registro").get_data(as_text=True))}

    applicant = app.test_client()
    upload_id, upload_link = create_application(gateway, storage, service_settings, status="pendiente_documentos")
    cleanup.append(upload_id)
    upload_token = csrf_token(applicant.get(path_of(upload_link)).get_data(as_text=True))

    submitter = app.test_client()
    submit_id, submit_link = create_application(gateway, storage, service_settings, status="pendiente_documentos")
    cleanup.append(submit_id)
    upload_valid_documents(submitter, submit_link)
    submit_token = csrf_token(submitter.get(path_of(submit_link)).get_data(as_text=True))

    waiting = pending()
    console = app.test_client()
    r = console_login(console, reviewer)
    assert r.status_code == 302 and r.location.endswith("/revision/"), r.status_code
    claim_form = form_fields(console.get(f"/revision/{waiting.id}").get_data(as_text=True), "reservar")

    recovering = app.test_client()
    username = f"sinredis{unique}"
    make_account(username=username, email=f"{username}@example.com", first_name="José", last_name="Pérez",
                 attributes={"estatus": "aprobado"}, enabled=True)

    # --- Redis stopped --------------------------------------------------------------------------------
    redis_control.stop("redis")
    try:
        with pytest.raises(redis_client.ConnectionError):
            redis_client.Redis.from_url(service_settings.redis_url).ping()

        r = seen("registro", registrant.post("/registro", data=form))
        assert r.status_code == 302, text_of(r)[:500]
        assert "Se ha enviado un correo" in text_of(registrant.get(r.location))

        r = seen("carga", applicant.post(
            f"{path_of(upload_link)}/documentos/{docs.CURP}", content_type="multipart/form-data",
            data={"csrf_token": upload_token, "archivo": (io.BytesIO(files.pdf_bytes()), "curp.pdf")}))
        assert r.status_code == 303, text_of(r)[:500]
        issued, sent, confirmed = direct_upload(  # browser to S3: its grant is rate-limited
            applicant, upload_link, docs.RESPONSIVA, files.pdf_bytes(), put_to_s3, "responsiva.pdf")
        seen("carga directa", issued)
        assert issued.status_code == 200 and sent == 200, text_of(issued)[:500]
        # Checked while the confirmation waited (DIRECT_UPLOAD_WAIT_SECONDS): answered with the outcome.
        assert seen("carga directa confirmada", confirmed).status_code == 200, text_of(confirmed)[:500]
        assert confirmed.get_json()["resultado"] == "cargado"

        r = seen("envio", submitter.post(f"{path_of(submit_link)}/enviar", data={"csrf_token": submit_token}))
        assert r.status_code == 303, text_of(r)[:500]

        r = seen("consola", console.get("/revision/"))
        assert r.status_code == 303 and r.location.endswith(INTERRUPTED)
        r = seen("consola reservar", console.post(f"/revision/{waiting.id}/reservar", data=claim_form))
        assert r.status_code == 303 and r.location.endswith(INTERRUPTED)
        page = seen("consola aviso", console.get(INTERRUPTED))
        assert page.status_code == 200 and "Vuelva a iniciar sesión" in text_of(page)
        r = seen("consola login", console_login(app.test_client(), reviewer))  # Keycloak is fine: the SSO answers
        assert r.status_code == 303 and r.location.endswith(INTERRUPTED)

        r = seen("recuperacion", ask_recovery(recovering, username))
        assert r.status_code == 200 and SENT_TITLE in text_of(r), text_of(r)[:500]

        for path in ("/health/ready", "/salud/lista"):  # the served registro (gunicorn), as a balancer sees it
            ready = requests.get(stack.registro_url + path, timeout=30)
            assert ready.status_code == 200, ready.text
            assert ready.json()["estado"] == "degradado" and ready.json()["servicios"]["redis"] == "no disponible"
            assert ready.json()["advertencias"]
        seen("salud", ready)
    finally:
        redis_control.start("redis")
        redis_control.wait_ready("redis")
    assert not [a for a in answers if a[1] >= 500], answers

    # --- Redis back -----------------------------------------------------------------------------------
    account = gateway.find_by_email(email)
    assert account is not None and account.attr("curp") == curp
    cleanup.append(account.id)
    assert "/activacion/" in mailbox.latest(email, timeout_s=60).text
    assert "/login-actions/action-token" in mailbox.latest(f"{username}@example.com", timeout_s=60).text
    assert gateway.get_account(submit_id).attr("estatus") == "en_revision"
    assert docs.CURP in Application(gateway.get_account(upload_id)).documents

    # The stack's Redis keeps nothing across a restart: the console logs in again from scratch.
    assert console.get("/revision/").status_code == 302
    r = console_login(console, reviewer)
    assert r.status_code == 302 and r.location.endswith("/revision/"), r.status_code
    queue = console.get("/revision/")
    assert queue.status_code == 200 and reviewer.username in text_of(queue)
    ready = requests.get(stack.registro_url + "/health/ready", timeout=30)
    assert ready.status_code == 200 and ready.json()["estado"] == "ok" and ready.json()["servicios"]["redis"] == "ok"

    # The submission is in the queue: the queue is SQL over the record, Redis never held it.
    assert queue_index.get(submit_id) is not None

    # The limits go back to Redis by themselves (Flask-Limiter probes it with backoff, < 1 min apart).
    shared = redis_client.Redis.from_url(service_settings.ratelimit_storage_uri)
    probe = create_app({"SETTINGS": service_settings.with_changes(registration_limits="1000 per hour"),
                        "TESTING": True}).test_client()
    refused = {**form, "curp": "", "csrf_token": csrf_token(probe.get("/registro").get_data(as_text=True))}
    deadline = time.monotonic() + 90
    while not any(shared.scan_iter("LIMITS*")):  # the restart emptied Redis: any count is a new one
        assert time.monotonic() < deadline, "los límites no volvieron a Redis"
        assert probe.post("/registro", data=refused).status_code == 200
        time.sleep(0.5)  # polling interval while waiting for the limiter's own probe, not a fixed wait
