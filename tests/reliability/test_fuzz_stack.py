"""The registration fuzzing of test_fuzz_forms.py against the real Keycloak, S3 and SMTP of the test
stack, with a small budget (FUZZ_STACK_EXAMPLES: 12 in `make test`, 150 in `make fuzz`): what
Keycloak's own user profile refuses (lengths in UTF-16 units, email syntax, patterns) must be refused
by the form first, or mapped to an error next to the field — never a 500, never half an account."""
from __future__ import annotations


import os

import flask
import pytest
from hypothesis import given, settings

from keycloak_ext import KeycloakGateway, KeycloakSettings
from registro import create_app
from registro.adapters.storage import S3Store
from registro.kernel.records import RecordedIdentity
from registro.platform.db import Database
from registro.config import Settings
from registro.domain.storage_keys import application_prefix
from registro.registration.views import SESSION_APPLICATION
from tests.reliability import counters
from tests.reliability.strategies import registration_posts
from tests.reliability.test_fuzz_forms import NO_LIMITS, assert_no_server_error
from tests.support import stack as test_stack

pytestmark = pytest.mark.integration
BUDGET = int(os.environ.get("FUZZ_STACK_EXAMPLES", "150" if os.environ.get("HYPOTHESIS_PROFILE") == "fuzz" else "12"))


@pytest.fixture(scope="module")
def real():
    test_stack.TestStack.from_env()  # fails with instructions when no stack runs
    s = Settings.from_env().with_changes(**NO_LIMITS)
    app = create_app({"SETTINGS": s, "TESTING": True, "WTF_CSRF_ENABLED": False})
    # Applications as the service reads them: their record in its database, the account in Keycloak.
    identity = RecordedIdentity(KeycloakGateway.for_service(KeycloakSettings.from_env()), Database.shared(s.database_url))
    return app, identity, S3Store(s.s3)


def _accounts_of(gateway, email: str, curp: str, rfc: str) -> list:
    found = {}
    for account in filter(None, [gateway.find_by_email(email) if "@" in email else None]):
        found[account.id] = account
    for name, value in (("curp", curp), ("rfc", rfc)):
        if value and value.isascii() and value.isalnum():
            for account in gateway.find_by_attribute(name, value.upper()):
                found[account.id] = account
    return list(found.values())


@settings(max_examples=BUDGET)
@given(form=registration_posts())
def test_registration_against_keycloak_never_fails_and_never_half_creates(real, form):
    counters.EXAMPLES["registro (pila real)"] += 1
    app, gateway, storage = real
    email = form.get("email", "").strip().lower()
    existing = {a.id for a in _accounts_of(gateway, email, form.get("curp", ""), form.get("rfc", ""))}
    with app.test_client() as client:
        r = client.post("/registro", data=form)
        registered = flask.session.get(SESSION_APPLICATION) if r.status_code == 302 else None
    assert_no_server_error(r)
    created = [a for a in _accounts_of(gateway, email, form.get("curp", "").strip(), form.get("rfc", "").strip())
               if a.id not in existing]
    try:
        if r.status_code == 302:
            account = gateway.get_account(registered)  # the registered account exists in Keycloak…
            created = [account, *[a for a in created if a.id != account.id]]
            assert len(created) == 1, "una sola cuenta"
            assert account.attr("estatus") == "pendiente_correo" and not account.enabled
            assert storage.list_keys(application_prefix(account.id)), "…with its responsiva in S3"
        else:
            assert r.status_code == 200 and created == [], "una solicitud rechazada no deja cuenta"
    finally:
        for account in created:
            for key in storage.list_keys(application_prefix(account.id)):
                storage.delete(key)
            gateway.delete_account(account.id)
