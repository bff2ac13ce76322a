"""Password recovery: the project's `/recuperar` against Keycloak's own reset-credentials form (`make bench`).

For each side, POST times for an existing (enabled) user and an unknown one, interleaved. The
project's answer must not depend on whether the user exists (its Keycloak work is off the request
path); Keycloak's own form answers an existing user measurably later (it sends the email first).
The project runs in-process with its real adapters and the per-user/per-address limits raised for
the run; the captcha is solved before the clock starts. Anchor: a throwaway realm with reset
allowed and the stack's SMTP.
"""
from __future__ import annotations

import json
import re
import time
import uuid

import pytest
import requests

from benchmarks.anchors import throwaway_realm
from benchmarks.results_io import pair_line, report, stats_ms
from keycloak_ext import KeycloakGateway, KeycloakSettings
from registro import create_app
from registro.config import Settings
from tests.support.captcha import challenge_in, csrf_in, solve

RUNS = 20


@pytest.fixture(scope="module")
def anchor(admin):
    with throwaway_realm(admin, "bench-rec", resetPasswordAllowed=True, loginWithEmailAllowed=False) as name:
        admin.connection.raw_post(f"admin/realms/{name}/users", data=json.dumps({
            "username": "existente", "email": "existente@example.com", "enabled": True, "emailVerified": True,
            "firstName": "Ana", "lastName": "Peña"})).raise_for_status()
        yield name


@pytest.fixture(scope="module")
def enabled_user(admin):
    gateway = KeycloakGateway.for_service(KeycloakSettings.from_env())
    tag = uuid.uuid4().hex[:8]
    account_id = gateway.create_account(username=f"rec-{tag}", email=f"rec-{tag}@example.com", first_name="Ana",
                                        last_name="Peña", attributes={}, enabled=True, email_verified=True)
    yield f"rec-{tag}"
    gateway.delete_account(account_id)


def _keycloak_reset(realm: str, username: str) -> float:
    base = KeycloakSettings.from_env().server_url.rstrip("/")
    with requests.Session() as http:
        page = http.get(f"{base}/realms/{realm}/login-actions/reset-credentials", params={"client_id": "account"},
                        timeout=30)
        action = re.search(r'id="kc-reset-password-form"[^>]*action="([^"]+)"', page.text) or \
            re.search(r'action="([^"]+)"[^>]*id="kc-reset-password-form"', page.text)
        assert action, page.text[:300]
        for cookie in http.cookies:  # Secure cookies over the stack's plain HTTP
            cookie.secure = False
        started = time.perf_counter()
        r = http.post(action.group(1).replace("&amp;", "&"), data={"username": username}, timeout=60,
                      allow_redirects=False)
        elapsed = time.perf_counter() - started
    assert r.status_code in (200, 302), r.status_code
    return elapsed


def _project_reset(client, username: str) -> float:
    page = client.get("/recuperar").get_data(as_text=True)
    data = {"csrf_token": csrf_in(page), "usuario": username, "altcha": solve(challenge_in(page))}
    started = time.perf_counter()
    r = client.post("/recuperar", data=data)
    elapsed = time.perf_counter() - started
    assert r.status_code == 200, r.status_code
    return elapsed


def test_bench_recovery_vs_keycloak_reset_form(anchor, enabled_user):
    settings = Settings.from_env().with_changes(recovery_user_limits="100000 per hour",
                                                recovery_client_limits="100000 per hour")
    app = create_app({"SETTINGS": settings, "TESTING": True})
    client = app.test_client()
    _project_reset(client, enabled_user)
    _keycloak_reset(anchor, "existente")
    ours = {"existente": [], "desconocido": []}
    theirs = {"existente": [], "desconocido": []}
    for i in range(RUNS):
        ours["existente"].append(_project_reset(client, enabled_user))
        ours["desconocido"].append(_project_reset(client, f"nadie-{uuid.uuid4().hex[:8]}"))
        theirs["existente"].append(_keycloak_reset(anchor, "existente"))
        theirs["desconocido"].append(_keycloak_reset(anchor, f"nadie-{i}"))
    app.extensions["registro.adapters"].recovery.wait_idle()
    o = {k: stats_ms(v) for k, v in ours.items()}
    t = {k: stats_ms(v) for k, v in theirs.items()}
    gap_o = o["existente"]["p50_ms"] - o["desconocido"]["p50_ms"]
    gap_t = t["existente"]["p50_ms"] - t["desconocido"]["p50_ms"]
    lines = ["recuperación de contraseña frente al formulario propio de Keycloak (p50, n=%d):" % RUNS,
             pair_line("usuario existente", o["existente"]["p50_ms"], t["existente"]["p50_ms"]),
             pair_line("usuario desconocido", o["desconocido"]["p50_ms"], t["desconocido"]["p50_ms"]),
             f"  p95 del proyecto: existente {o['existente']['p95_ms']:.1f} ms, desconocido "
             f"{o['desconocido']['p95_ms']:.1f} ms (meta ≤ 25 ms)",
             f"  diferencia existente − desconocido: proyecto {gap_o:+.1f} ms · Keycloak {gap_t:+.1f} ms"]
    report("recuperacion", {"project": o, "keycloak": t, "gap_project_ms": round(gap_o, 2),
                            "gap_keycloak_ms": round(gap_t, 2)}, lines)
