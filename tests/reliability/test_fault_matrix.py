"""The fault matrix (issue 11): Keycloak, S3 and SMTP each stopped during registration, upload,
submission, approval and recovery — 15 cells — against the real test stack.

Each cell shows a clear Spanish error or the documented degraded answer while its service is down,
leaves no orphan account or object, and completes once the service is back. To keep it fast each
service is stopped once: the five cells are prepared with everything up, the service is stopped
(tools.stack's Stack, through the pid files of the running test stack), the five cells run, the
service is started again, and the five completions are checked.

Documented degraded answers: with SMTP down a registration is kept and its confirmation email waits
in the durable outbox (platform/outbox.py) until SMTP is back; so does an approval's email, sent when
SMTP is back with no reviewer action; recovery answers its usual page whatever happens behind it
(SPEC §8) and its request, an outbox row too, is retried until Keycloak and its SMTP are back
(recovery/service.py). Uploads and submissions send no email.

Since the record lives in registro's PostgreSQL (issue 20), an operation that does not need the stopped
service goes through: an upload needs S3 only (Keycloak down: it is recorded), a submission needs neither
Keycloak nor S3, an approval does not need S3. Those cells check that the operation succeeded while the
service was down, and that nothing is left to complete afterwards.
"""
from __future__ import annotations


import html
import io
import random
import re
from dataclasses import dataclass, field
from typing import Callable

import pytest

from registro import create_app
from registro.config import Settings
from registro.domain import documents as docs
from registro.domain.application import Application
from registro.domain.storage_keys import application_prefix
from tests.support import files
from tests.support import review_data as data
from tests.support.applications import create_application, path_of, upload_valid_documents
from tests.support.captcha import challenge_in, csrf_in, solve
from tests.support.registration import csrf_token, mexican_form, random_person
from tests.support.reviewer import PASSWORD, ReviewerAccount, console_login

pytestmark = pytest.mark.integration

SENT_TITLE = "Se ha enviado el restablecimiento de la contraseña"
OPERATIONS = ("registro", "carga", "envio", "aprobacion", "recuperacion")
RESULTS: dict[str, str] = {}  # "servicio/operación" → "ok" or the failure, for the terminal summary


def text_of(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def _main(response) -> str:
    body = text_of(response)
    return re.sub(r"\s+", " ", body[body.find("<main"):])[:1200]


def assert_spanish_unavailable(response) -> None:
    body = text_of(response)
    assert response.status_code == 503, (response.status_code, _main(response))
    assert "no está disponible en este momento" in body and "intente de nuevo" in body.lower(), _main(response)
    assert "Traceback" not in body and "Exception" not in body


@dataclass
class Cell:
    name: str
    during: Callable[[], None]
    after: Callable[[], None]
    error: str | None = field(default=None)


class World:
    """The service in-process with its real adapters, plus the handles the checks need."""

    def __init__(self, stack_env, gateway, kc_admin, storage, mailbox, unique: str) -> None:
        self.settings = Settings.from_env().with_changes(
            registration_limits="1000 per hour", resend_limits="1000 per hour",
            recovery_user_limits="1000 per hour", recovery_client_limits="1000 per hour")
        self.app = create_app({"SETTINGS": self.settings, "TESTING": True})
        self.gateway, self.kc_admin, self.storage, self.mailbox = gateway, kc_admin, storage, mailbox
        self.unique = unique
        self.accounts: list[str] = []
        self.n = 0

    @property
    def outbox(self):
        return self.app.extensions["registro.adapters"].outbox

    @property
    def dispatcher(self):
        return self.app.extensions["registro.adapters"].recovery

    def tag(self) -> str:
        self.n += 1
        return f"{self.unique}{self.n}"

    # --- invariants -----------------------------------------------------------------------------
    def no_orphans(self, account_id: str) -> None:
        """Every document record points to a stored object and every stored document has a record."""
        app = Application(self.gateway.get_account(account_id))
        referenced = {r.key for r in app.documents.values()}
        # Page images of the viewer (…/vistas/…) are a cache derived from the documents, not documents.
        stored = {k for k in self.storage.list_keys(application_prefix(account_id))
                  if "/documentos/" in k and "/vistas/" not in k}
        assert referenced == stored, (referenced, stored)

    def cleanup(self) -> None:
        for account_id in self.accounts:
            try:
                for key in self.storage.list_keys(application_prefix(account_id)):
                    self.storage.delete(key)
                self.gateway.delete_account(account_id)
            except Exception:  # noqa: BLE001 — best effort; the test stack is thrown away anyway
                pass


# --- the five operations: prepared with everything up, run with one service down ----------------
def registration_cell(w: World, service: str) -> Cell:
    curp, rfc = random_person(random.Random(w.tag()))
    email = f"matriz-registro-{w.tag()}@example.com"
    form = mexican_form(curp=curp, rfc=rfc, email=email)
    client = w.app.test_client()
    form["csrf_token"] = csrf_token(client.get("/registro").get_data(as_text=True))
    state = {}

    def during():
        r = client.post("/registro", data=form)
        state["status"] = r.status_code
        if service == "smtp":  # documented: the registration is kept, its email waits in the outbox
            assert r.status_code == 302, _main(r)
            page = text_of(client.get(r.location))
            assert "Se ha enviado un correo" in page
        else:
            assert_spanish_unavailable(r)

    def after():
        account = w.gateway.find_by_email(email)
        if service == "smtp":
            assert account is not None and account.attr("estatus") == "pendiente_correo"
            w.accounts.append(account.id)
            assert w.mailbox.messages_to(email) == []
            assert w.outbox.pending(), "the confirmation email waits in the outbox"
            # What every worker's outbox loop does on its next round, without waiting for it.
            w.outbox.flush()
        else:
            assert account is None, "no quedó una cuenta huérfana"
            retry = {**form, "csrf_token": csrf_token(client.get("/registro").get_data(as_text=True))}
            r = client.post("/registro", data=retry)
            assert r.status_code == 302, _main(r)
            account = w.gateway.find_by_email(email)
            w.accounts.append(account.id)
        assert w.storage.list_keys(application_prefix(account.id)), "la responsiva quedó en S3"
        assert "/activacion/" in w.mailbox.latest(email, timeout_s=30).text

    return Cell("registro", during, after)


def upload_cell(w: World, service: str) -> Cell:
    account_id, link = create_application(w.gateway, w.storage, w.settings, status="pendiente_documentos")
    w.accounts.append(account_id)
    client = w.app.test_client()
    token = csrf_token(client.get(path_of(link)).get_data(as_text=True))

    def post():
        return client.post(f"{path_of(link)}/documentos/{docs.CURP}", content_type="multipart/form-data",
                           data={"csrf_token": token, "archivo": (io.BytesIO(files.pdf_bytes()), "curp.pdf")})

    def during():
        r = post()
        if service in ("smtp", "keycloak"):  # an upload sends no email, and reads and writes no account
            assert r.status_code == 303, _main(r)
        else:
            assert_spanish_unavailable(r)

    def after():
        w.no_orphans(account_id)
        if service == "s3":
            assert docs.CURP not in Application(w.gateway.get_account(account_id)).documents
            assert post().status_code == 303
        assert docs.CURP in Application(w.gateway.get_account(account_id)).documents
        w.no_orphans(account_id)

    return Cell("carga", during, after)


def submission_cell(w: World, service: str) -> Cell:
    account_id, link = create_application(w.gateway, w.storage, w.settings, status="pendiente_documentos")
    w.accounts.append(account_id)
    client = w.app.test_client()
    upload_valid_documents(client, link)
    token = csrf_token(client.get(path_of(link)).get_data(as_text=True))

    def status() -> str:
        return w.gateway.get_account(account_id).attr("estatus")

    def during():
        r = client.post(f"{path_of(link)}/enviar", data={"csrf_token": token})
        # A submission sends no email and changes only the record: whichever of the three is down.
        assert r.status_code in (200, 303), _main(r)

    def after():
        w.no_orphans(account_id)
        assert status() == "en_revision"

    return Cell("envio", during, after)


def _form_fields(page: str, action: str) -> dict[str, str]:
    m = re.search(rf'<form[^>]*action="[^"]*/{action}"[^>]*>(.*?)</form>', page, re.S)
    assert m, f"no hay formulario {action}"
    return {n: v for n, v in re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', m.group(1))
            if not n.startswith("motivos_")}


def approval_cell(w: World, service: str) -> Cell:
    pending = data.create_pending(w.gateway, w.storage)
    w.accounts.append(pending.id)
    username = f"revisor-matriz-{w.tag()}"
    reviewer_id = w.kc_admin.create_user({"username": username, "email": f"{username}@anam.example",
                                          "firstName": "Rita", "lastName": "Revisora", "enabled": True,
                                          "emailVerified": True})
    w.accounts.append(reviewer_id)
    w.kc_admin.assign_realm_roles(reviewer_id, [w.kc_admin.get_realm_role("revisor")])
    w.kc_admin.set_user_password(reviewer_id, PASSWORD, temporary=False)
    client = w.app.test_client()
    r = console_login(client, ReviewerAccount(id=reviewer_id, username=username))
    assert r.status_code == 302, _main(r)
    page = client.get(f"/revision/{pending.id}").get_data(as_text=True)
    assert client.post(f"/revision/{pending.id}/reservar", data=_form_fields(page, "reservar")).status_code == 303
    page = client.get(f"/revision/{pending.id}").get_data(as_text=True)
    approve = _form_fields(page, "aprobar")

    def account():
        return w.gateway.get_account(pending.id)

    def during():
        r = client.post(f"/revision/{pending.id}/aprobar", data=approve)
        if service == "smtp":  # documented: the decision is kept, its email waits in the outbox
            assert r.status_code == 303, _main(r)
            assert "quedó en la cola de envío" in text_of(client.get(r.location))
        elif service == "s3":  # an approval changes the account and the record: S3 holds only bytes
            assert r.status_code == 303, _main(r)
        else:
            assert_spanish_unavailable(r)

    def after():
        w.no_orphans(pending.id)
        if service in ("smtp", "s3"):
            assert account().enabled and account().attr("estatus") == "aprobado"
            # No reviewer action: what every worker's outbox loop does on its next round.
            w.outbox.flush()
        else:
            assert not account().enabled and account().attr("estatus") == "en_revision"
            r = client.post(f"/revision/{pending.id}/aprobar", data=approve)
            assert r.status_code == 303, _main(r)
        assert account().enabled and account().attr("estatus") == "aprobado"
        assert "Contraseña temporal:" in w.mailbox.latest(pending.email, timeout_s=30).text

    return Cell("aprobacion", during, after)


def recovery_cell(w: World, service: str) -> Cell:
    username = f"recmatriz{w.tag()}"
    email = f"{username}@example.com"
    w.accounts.append(w.gateway.create_account(username=username, email=email, first_name="José",
                                               last_name="Pérez", attributes={"estatus": "aprobado"},
                                               enabled=True))
    client = w.app.test_client()
    page = client.get("/recuperar").get_data(as_text=True)
    form = {"csrf_token": csrf_in(page), "usuario": username.upper(), "altcha": solve(challenge_in(page))}

    def during():
        # SPEC §8: the same page whatever happens behind it; the request is retried. The captcha's used
        # solutions are rows of registro's database: S3 down no longer stops a recovery.
        r = client.post("/recuperar", data=form)
        assert r.status_code == 200 and SENT_TITLE in text_of(r), _main(r)

    def after():
        w.outbox.flush()  # the request's row, waiting out its back-off: the worker's next round
        message = w.mailbox.latest(email, timeout_s=60)
        assert "/login-actions/action-token" in message.text
        assert len(w.mailbox.messages_to(email)) == 1

    return Cell("recuperacion", during, after)


BUILDERS = (registration_cell, upload_cell, submission_cell, approval_cell, recovery_cell)


# --- the matrix -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def stack_control():
    from tools.stack.profiles import Profile
    from tools.stack.runner import Stack

    stack = Stack(Profile.named("test"))
    missing = [name for name in ("keycloak", "s3", "mail") if stack.pid_of(name) is None]
    assert not missing, f"la pila de pruebas no está corriendo ({missing}); ejecute `make test`"
    return stack


@pytest.fixture
def world(stack, gateway, kc_admin, storage, mailbox, unique):
    w = World(stack, gateway, kc_admin, storage, mailbox, unique)
    yield w
    w.cleanup()


@pytest.mark.parametrize("service, process", [("keycloak", "keycloak"), ("s3", "s3"), ("smtp", "mail")])
def test_fault_matrix(service, process, stack_control, world, subtests):
    cells = [build(world, service) for build in BUILDERS]
    stack_control.stop(process)
    try:
        for cell in cells:
            try:
                cell.during()
            except AssertionError as exc:
                cell.error = f"con {service} detenido: {exc}"
    finally:
        stack_control.start(process)
        stack_control.wait_ready(process)
    for cell in cells:
        with subtests.test(msg=f"{service}/{cell.name}"):
            key = f"{service}/{cell.name}"
            RESULTS[key] = "falla"
            assert cell.error is None, cell.error
            cell.after()
            RESULTS[key] = "ok"
