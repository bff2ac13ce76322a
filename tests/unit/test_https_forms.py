"""Forms keep working behind TLS. Pages that carry a token in their path send no Referer at all
(`Referrer-Policy: no-referrer`), so their forms cannot be refused for lacking one: over HTTPS
Flask-WTF's strict referrer check answered every such POST with 400 "Solicitud no válida"."""
from __future__ import annotations

import re

from registro import create_app
from tests.unit.conftest import unit_settings


def test_a_form_posted_over_https_without_a_referer_is_judged_by_its_csrf_token(fakes):
    app = create_app({"SETTINGS": unit_settings(public_url="https://registro.prueba"), "ADAPTERS": fakes,
                      "TESTING": True, "WTF_CSRF_ENABLED": True})
    client = app.test_client()
    page = client.get("/registro", base_url="https://registro.prueba")
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text).group(1)
    answered = client.post("/registro", base_url="https://registro.prueba", data={"csrf_token": token, "curp": "X"})
    assert answered.status_code != 400, answered.text[:300]
    # The token is still what protects the form.
    forged = client.post("/registro", base_url="https://registro.prueba", data={"csrf_token": "x", "curp": "X"})
    assert forged.status_code == 400
