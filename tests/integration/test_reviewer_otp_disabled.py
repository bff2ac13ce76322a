"""Issue 11, item 11, against the real Keycloak: with REVISOR_OTP=DISABLED a reviewer logs in with
the password alone (before the fix the conditional subflow kept only its condition and Keycloak
answered "Usuario o contraseña incorrectos")."""
from __future__ import annotations

import os

import pytest

from keycloak_ext.provisioning import RealmProvisioner
from keycloak_ext.realm_files import load_realm
from tests.integration.test_review import make_console, new_reviewer, settings  # noqa: F401 — fixtures
from tests.support.reviewer import console_login

pytestmark = pytest.mark.integration


@pytest.fixture
def otp_disabled(kc_admin):
    env = {k: v for k, v in os.environ.items() if k != "REVISOR_OTP"}
    applied = RealmProvisioner(kc_admin, realm=load_realm(env={**env, "REVISOR_OTP": "DISABLED"})).apply()
    assert any("DISABLED" in line for line in applied), applied
    try:
        yield
    finally:
        RealmProvisioner(kc_admin, realm=load_realm(env=env)).apply()  # back to the stack's own setting
        assert RealmProvisioner(kc_admin, realm=load_realm(env=env)).plan() == []


def test_reviewer_logs_in_with_the_password_alone_when_otp_is_disabled(otp_disabled, settings, new_reviewer):
    reviewer = new_reviewer()
    client = make_console(settings).test_client()
    r = console_login(client, reviewer)  # keycloak_steps fails if Keycloak asks for an OTP
    assert r.status_code == 302 and r.location.endswith("/revision/"), r.get_data(as_text=True)[:300]
    assert reviewer.totp_secret is None, "no se pidió configurar el segundo factor"
    assert client.get("/revision/").status_code == 200
