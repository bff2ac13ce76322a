"""Property-based fuzzing of every public form, against the fakes (issue 11, reliability suite).

Properties: no answer is a 5xx, and nothing is half-created — a refused registration leaves no
account, object or email; an accepted one leaves exactly one complete application; after any
sequence of uploads, removals and submissions every document record points to a stored object and
every stored document has a record. The fakes refuse what Keycloak's user profile refuses (lengths
in UTF-16 units, patterns), so a disagreement between the form and Keycloak shows up here.
The same properties against the real stack: test_fuzz_stack.py.
"""
from __future__ import annotations

import io

from hypothesis import given
from hypothesis import strategies as st

from registro import create_app
from registro.container import Adapters
from registro.domain.application import Application
from registro.domain.storage_keys import application_prefix
from tests.fakes import FakeAuditLog, FakeUploadMarkers, FakeUsedSolutions
from tests.fakes import FakeApplicationStore, FakeIdentity, FakeMailer, FakeOutboxStore, FakeStore, profile_refusals
from tests.reliability import counters
from tests.reliability.strategies import activation_actions, hostile_text, registration_posts
from tests.support import files
from tests.support.applications import create_application, path_of
from tests.unit.conftest import unit_settings

NO_LIMITS = dict(registration_limits="1000000 per hour", resend_limits="1000000 per hour",
                 recovery_user_limits="1000000 per hour", recovery_client_limits="1000000 per hour")


class StaticPdf:
    """WeasyPrint is not what is fuzzed here; a fixed PDF keeps the budget for the forms."""

    def render(self, html: str, base_url: str | None = None, stylesheets=()) -> bytes:
        return files.pdf_bytes()


def fresh_app():
    outbox_store, audit = FakeOutboxStore(), FakeAuditLog()
    fakes = Adapters(identity=FakeIdentity(), storage=FakeStore(), mailer=FakeMailer(), pdf=StaticPdf(),
                     applications=FakeApplicationStore(outbox_store, audit_log=audit), outbox_store=outbox_store,
                     audit=audit, used_captchas=FakeUsedSolutions(), upload_markers=FakeUploadMarkers())
    app = create_app({"SETTINGS": unit_settings(**NO_LIMITS), "ADAPTERS": fakes, "TESTING": True,
                      "WTF_CSRF_ENABLED": False})
    return app, fakes


def assert_no_server_error(response) -> None:
    assert response.status_code < 500, (response.status_code, response.get_data(as_text=True)[:2000])


# --- registration -------------------------------------------------------------------------------
@given(registration_posts())
def test_registration_never_fails_and_never_half_creates(form):
    counters.EXAMPLES["registro (fakes)"] += 1
    app, fakes = fresh_app()
    r = app.test_client().post("/registro", data=form)
    assert_no_server_error(r)
    if r.status_code == 302:
        assert len(fakes.identity.accounts) == 1
        account = next(iter(fakes.identity.accounts.values()))
        assert profile_refusals({"email": account.email, "firstName": account.first_name,
                                 "lastName": account.last_name, **account.attributes}) == ()
        assert account.attributes["estatus"] == "pendiente_correo" and not account.enabled
        assert fakes.storage.list_keys(application_prefix(account.id)), "la responsiva se guardó"
        assert len(fakes.mailer.sent) == 1
    else:
        assert r.status_code == 200
        assert not fakes.identity.accounts and not fakes.storage.objects and not fakes.mailer.sent


# --- "Reenviar correo" ----------------------------------------------------------------------------
@given(enlace=hostile_text, own=st.booleans())
def test_resend_never_fails(enlace, own):
    counters.EXAMPLES["reenviar (fakes)"] += 1
    app, fakes = fresh_app()
    account_id, link = create_application(fakes.identity, fakes.storage, app.extensions["registro.settings"])
    token = path_of(link).rsplit("/", 1)[-1]
    before = set(fakes.storage.objects)
    r = app.test_client().post("/registro/reenviar", data={"enlace": token if own else enlace})
    assert_no_server_error(r)
    assert list(fakes.identity.accounts) == [account_id]
    assert set(fakes.storage.objects) == before  # a resend writes no object (the responsiva exists)


# --- password recovery ----------------------------------------------------------------------------
@given(usuario=hostile_text, altcha=st.one_of(hostile_text, st.text(max_size=400)))
def test_recovery_never_fails_and_creates_nothing(usuario, altcha):
    counters.EXAMPLES["recuperar (fakes)"] += 1
    app, fakes = fresh_app()
    r = app.test_client().post("/recuperar", data={"usuario": usuario, "altcha": altcha})
    assert_no_server_error(r)
    assert r.status_code in (200, 400)
    assert not fakes.identity.accounts and not fakes.identity.actions_emails


# --- activation: confirmation link, uploads, removals, submission -----------------------------------
def _consistent(fakes, account_id: str) -> None:
    """Every record points to a stored object; every stored document has a record."""
    if account_id not in fakes.identity.accounts:
        return
    app = Application(fakes.identity.get_account(account_id))
    referenced = {record.key for record in app.documents.values()}
    stored = {k for k in fakes.storage.list_keys(application_prefix(account_id)) if "/documentos/" in k}
    assert referenced <= stored, ("registro sin objeto", referenced - stored)
    assert stored <= referenced, ("objeto sin registro", stored - referenced)


@given(steps=activation_actions(), foreign=st.booleans())
def test_activation_forms_never_fail_and_stay_consistent(steps, foreign):
    counters.EXAMPLES["activación (fakes)"] += 1
    app, fakes = fresh_app()
    account_id, link = create_application(fakes.identity, fakes.storage, app.extensions["registro.settings"],
                                          foreign=foreign)
    client = app.test_client()
    assert client.get(path_of(link)).status_code == 200  # confirms the email
    for step in steps:
        base = path_of(link) if step["token_ok"] else "/activacion/" + (step["token"].replace("/", "%2F") or "x")
        if step["what"] == "subir":
            data = {**step["form"], "archivo": (io.BytesIO(step["data"]), step["name"])}
            r = client.post(f"{base}/documentos/{step['kind']}", data=data, content_type="multipart/form-data")
        elif step["what"] == "eliminar":
            r = client.post(f"{base}/documentos/{step['kind']}/eliminar")
        elif step["what"] == "enviar":
            r = client.post(f"{base}/enviar")
        elif step["what"] == "responsiva":
            r = client.get(f"{base}/responsiva")
        else:
            r = client.get(base)
        assert_no_server_error(r)
        _consistent(fakes, account_id)
    assert list(fakes.identity.accounts) == [account_id]
