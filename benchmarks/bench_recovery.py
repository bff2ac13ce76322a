"""Password recovery: the project's `/recuperar` against Keycloak's own reset-credentials form (`make bench`).

Both through their servers over HTTP, as a browser: the project is a served `registro` (gunicorn,
benchmarks/served.py) with the per-user/per-address limits raised for the run, Keycloak the stack's
with a throwaway realm (reset allowed, the stack's SMTP). Timed on each side: the POST of the form
until its answer page is shown (both answer with the page itself; a redirect would be followed and
timed too, as a browser shows what it leads to). The page is opened and the project's captcha
solved before the clock starts. For each side an existing (enabled) user and an unknown one, the four
interleaved in every round, RUNS runs (results_io). The project's answer must not depend on whether
the user exists (its Keycloak work is off the request path); Keycloak's own form answers an existing
user later (it sends the email first).
"""
from __future__ import annotations

import json
import re
import statistics
import time
import uuid
from urllib.parse import urljoin

import pytest
import requests

from benchmarks.anchors import throwaway_realm
from benchmarks.results_io import RUNS, LoadWatch, interleaved, ratio_figures, ratio_line, report
from benchmarks.served import served_registro
from keycloak_ext import KeycloakGateway, KeycloakSettings
from tests.support.captcha import challenge_in, csrf_in, solve
from tests.support.oidc import trust_loopback_cookies

ROUNDS = 10  # per run: one POST of each of the four kinds per round
ANCHOR = "formulario de restablecimiento propio de Keycloak"


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


@pytest.fixture(scope="module")
def registro():
    with served_registro(RECOVERY_USER_LIMITS="100000 per hour", RECOVERY_CLIENT_LIMITS="100000 per hour") as served:
        yield served


def _keycloak_reset(realm: str, username: str) -> float:
    base = KeycloakSettings.from_env().server_url.rstrip("/")
    with requests.Session() as http:
        page = http.get(f"{base}/realms/{realm}/login-actions/reset-credentials", params={"client_id": "account"},
                        timeout=30)
        action = re.search(r'id="kc-reset-password-form"[^>]*action="([^"]+)"', page.text) or \
            re.search(r'action="([^"]+)"[^>]*id="kc-reset-password-form"', page.text)
        assert action, page.text[:300]
        trust_loopback_cookies(http)  # Keycloak marks them Secure (SameSite=None); the stack is plain HTTP
        started = time.perf_counter()
        r = http.post(action.group(1).replace("&amp;", "&"), data={"username": username}, timeout=60,
                      allow_redirects=False)
        if r.is_redirect:  # what the browser would then show
            trust_loopback_cookies(http)
            r = http.get(urljoin(r.url, r.headers["Location"]), timeout=60)
        elapsed = time.perf_counter() - started
    assert r.status_code == 200, r.status_code
    return elapsed


def _project_reset(url: str, username: str) -> float:
    with requests.Session() as http:
        page = http.get(f"{url}/recuperar", timeout=30).text
        data = {"csrf_token": csrf_in(page), "usuario": username, "altcha": solve(challenge_in(page))}
        started = time.perf_counter()
        r = http.post(f"{url}/recuperar", data=data, timeout=60)
        elapsed = time.perf_counter() - started
    assert r.status_code == 200, r.status_code
    return elapsed


def test_bench_recovery_vs_keycloak_reset_form(anchor, enabled_user, registro):
    subjects = {
        "proyecto existente": lambda: _project_reset(registro.url, enabled_user),
        "proyecto desconocido": lambda: _project_reset(registro.url, f"nadie-{uuid.uuid4().hex[:8]}"),
        "keycloak existente": lambda: _keycloak_reset(anchor, "existente"),
        "keycloak desconocido": lambda: _keycloak_reset(anchor, f"nadie-{uuid.uuid4().hex[:8]}"),
    }
    interleaved(3, subjects)  # connections, both servers' workers and JIT past their first requests
    runs = []
    with LoadWatch() as load:
        for _ in range(RUNS):
            samples = interleaved(ROUNDS, subjects)
            runs.append({k: 1000 * statistics.median(v) for k, v in samples.items()} |
                        {f"{k} p95": 1000 * max(v) for k, v in samples.items() if k.startswith("proyecto")})
    col = {k: [r[k] for r in runs] for k in runs[0]}
    gap_o = [e - u for e, u in zip(col["proyecto existente"], col["proyecto desconocido"])]
    gap_t = [e - u for e, u in zip(col["keycloak existente"], col["keycloak desconocido"])]
    lines = [f"recuperación de contraseña, ambos servidos por HTTP (POST hasta mostrar su página), frente al {ANCHOR}; "
             f"p50, mediana y rango de {RUNS} corridas intercaladas de {ROUNDS}:",
             ratio_line("usuario existente", col["proyecto existente"], col["keycloak existente"], "Keycloak"),
             ratio_line("usuario desconocido", col["proyecto desconocido"], col["keycloak desconocido"], "Keycloak"),
             f"  máximo del proyecto por corrida (de {ROUNDS}): existente {min(col['proyecto existente p95']):.1f}–"
             f"{max(col['proyecto existente p95']):.1f} ms, desconocido {min(col['proyecto desconocido p95']):.1f}–"
             f"{max(col['proyecto desconocido p95']):.1f} ms (meta p95 ≤ 25 ms)",
             f"  diferencia existente − desconocido: proyecto {statistics.median(gap_o):+.1f} ms "
             f"({min(gap_o):+.1f}…{max(gap_o):+.1f}) · Keycloak {statistics.median(gap_t):+.1f} ms "
             f"({min(gap_t):+.1f}…{max(gap_t):+.1f})"]
    report("recuperacion", {"anchor": ANCHOR, "runs": RUNS, "rounds": ROUNDS, "served": True,
                            "existing_ms": ratio_figures(col["proyecto existente"], col["keycloak existente"]),
                            "unknown_ms": ratio_figures(col["proyecto desconocido"], col["keycloak desconocido"]),
                            "project_max_ms": {k: [round(v, 2) for v in col[f"proyecto {k} p95"]]
                                               for k in ("existente", "desconocido")},
                            "gap_project_ms": [round(g, 2) for g in gap_o],
                            "gap_keycloak_ms": [round(g, 2) for g in gap_t]}, lines, load)
