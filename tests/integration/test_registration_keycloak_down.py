"""With Keycloak stopped, registering errs cleanly (Spanish 503) and leaves no account behind.

Kept apart from the other registration tests: stopping and restarting Keycloak takes 30-60 s.
"""
from __future__ import annotations


import html

import pytest

from registro import create_app
from registro.config import Settings
from tests.support.registration import mexican_form, post_registration, random_person
from tools.stack.profiles import Profile
from tools.stack.runner import Stack

pytestmark = pytest.mark.integration


def test_registration_with_keycloak_stopped_gives_a_spanish_503_and_no_account(gateway, stack, unique):
    curp, rfc = random_person()
    email = f"sin-keycloak-{unique}@example.com"
    client = create_app({"SETTINGS": Settings.from_env(), "TESTING": True}).test_client()
    form_page = client.get("/registro")  # the form itself needs no Keycloak
    assert form_page.status_code == 200
    runner = Stack(Profile.named("test"))
    runner.stop("keycloak")
    try:
        r = post_registration(client, mexican_form(curp=curp, rfc=rfc, email=email))
        page = html.unescape(r.get_data(as_text=True))
        assert r.status_code == 503
        assert 'lang="es-MX"' in page and "El servicio de identidad no está disponible en este momento" in page
        assert "Traceback" not in page and "Keycloak" not in page
    finally:
        runner.start("keycloak")
        runner.wait_ready("keycloak")
    assert gateway.find_by_email(email) is None
    assert gateway.find_by_attribute("curp", curp) == []
