"""Registration through the served `registro` against Keycloak's own self-registration (`make bench`).

Anchor: a throwaway realm with the same password policy, verify-email on and the stack's SMTP,
driven through Keycloak's own registration form (GET the form, POST it; Keycloak sends its
verification email before answering). Project: `POST /registro` of a gunicorn `registro` the
benchmark starts on a spare port with the stack's settings (REGISTRO_WORKERS processes, default 2)
and the per-address limit raised for the run — everything else as served: claims, responsiva,
account, S3, role, outbox.

Printed (and written to benchmarks/results/): sequential p50/p95 of both, interleaved, and the
throughput of 4 concurrent clients for each. `BENCH_ACCOUNTS=N` first seeds realm `anam` up to N
accounts with Keycloak's partial import (batches of 500) and prints how long that took, to show
registration flat from 200 to 200,000 accounts. Accounts created by the benchmark are deleted.
"""
from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from benchmarks.results_io import pair_line, report, stats_ms
from keycloak_ext import KeycloakGateway, KeycloakSettings
from registro.adapters.storage import S3Store
from registro.config import Settings
from registro.workflow import claims
from tests.support.ports import unused_port
from tests.support.registration import csrf_token, mexican_form, random_person

ROOT = Path(__file__).resolve().parent.parent
SEQUENTIAL = int(os.environ.get("BENCH_SEQUENTIAL", "20"))
CONCURRENT_EACH = int(os.environ.get("BENCH_CONCURRENT", "40"))
CLIENTS = 4
PASSWORD = "Clave-Segura-2026!"


def _free_port() -> int:
    """BENCH_REGISTRO_PORT, or a free port the OS picks."""
    if os.environ.get("BENCH_REGISTRO_PORT"):
        return int(os.environ["BENCH_REGISTRO_PORT"])
    return unused_port()


@pytest.fixture(scope="module")
def registro_url():
    """A gunicorn `registro` with the stack's environment, the registration limit raised for the run."""
    port = _free_port()
    env = {**os.environ, "REGISTRATION_LIMITS": "1000000 per hour", "REGISTRO_PORT": str(port),
           "PYTHONPATH": f"{ROOT}:{ROOT / 'services'}"}
    workers = os.environ.get("REGISTRO_WORKERS", "2")
    proc = subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "--bind", f"127.0.0.1:{port}",
                             "--workers", workers, "--threads", "8", "registro.wsgi:app"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/salud", timeout=10).status_code < 500:
                break
        except requests.RequestException:
            time.sleep(0.2)  # readiness poll of the process we just started
    yield url, workers
    proc.send_signal(signal.SIGTERM)
    proc.wait(30)


@pytest.fixture(scope="module")
def anchor_realm(admin):
    """Keycloak's own self-registration: same password policy, verify-email, the stack's SMTP."""
    anam = admin.connection.raw_get(f"admin/realms/{KeycloakSettings.from_env().realm}").json()
    name = f"bench-kc-{uuid.uuid4().hex[:8]}"
    admin.connection.raw_post("admin/realms", data=__import__("json").dumps({
        "realm": name, "enabled": True, "registrationAllowed": True, "verifyEmail": True,
        "passwordPolicy": anam["passwordPolicy"],
        "smtpServer": {k: v for k, v in anam.get("smtpServer", {}).items() if k != "password"},  # masked on read
        "bruteForceProtected": True, "internationalizationEnabled": True, "supportedLocales": ["es"],
        "defaultLocale": "es"})).raise_for_status()
    yield name
    admin.connection.raw_delete(f"admin/realms/{name}")


def _keycloak_register(realm: str, i: int, run: str) -> float:
    base = KeycloakSettings.from_env().server_url.rstrip("/")
    with requests.Session() as http:
        page = http.get(f"{base}/realms/{realm}/protocol/openid-connect/registrations", params={
            "client_id": "account", "response_type": "code", "scope": "openid",
            "redirect_uri": f"{base}/realms/{realm}/account/"}, timeout=30)
        action = re.search(r'id="kc-register-form"[^>]*action="([^"]+)"', page.text) or \
            re.search(r'action="([^"]+)"[^>]*id="kc-register-form"', page.text)
        assert action, page.text[:500]
        for cookie in http.cookies:  # Keycloak marks them Secure (SameSite=None); the stack is plain HTTP
            cookie.secure = False
        data = {"username": f"kc-{run}-{i}", "email": f"kc-{run}-{i}@example.com", "firstName": "Ana",
                "lastName": "Peña", "password": PASSWORD, "password-confirm": PASSWORD}
        started = time.perf_counter()
        r = http.post(action.group(1).replace("&amp;", "&"), data=data, timeout=60, allow_redirects=False)
        # Success is a redirect to the verify-email required action; Keycloak sends its email when that
        # page is rendered, so the page is part of "registration, email included".
        assert r.status_code == 302 and "VERIFY_EMAIL" in r.headers.get("Location", ""), r.status_code
        page = http.get(r.headers["Location"], timeout=60)
        elapsed = time.perf_counter() - started
    assert page.status_code == 200, page.status_code
    return elapsed


def _project_register(url: str, email: str) -> float:
    with requests.Session() as http:
        form = http.get(f"{url}/registro", timeout=30)
        curp, rfc = random_person()
        data = {**mexican_form(curp=curp, rfc=rfc, email=email), "csrf_token": csrf_token(form.text)}
        started = time.perf_counter()
        r = http.post(f"{url}/registro", data=data, allow_redirects=False, timeout=60)
        elapsed = time.perf_counter() - started
    assert r.status_code == 302 and r.headers.get("Location", "").endswith("/registro/enviado"), \
        re.sub(r"\s+", " ", r.text)[-600:]
    return elapsed


def _throughput(fn, count: int) -> float:
    started = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(fn, range(count)))
    return count / (time.perf_counter() - started)


def _seed(admin, realm: str, target: int) -> str:
    """Tops realm `anam` up to `target` accounts by partial import; returns what it did."""
    import json

    current = int(admin.users_count())
    admin.connection.timeout = 600  # one batch takes seconds to minutes on a busy 2-core host
    if current >= target:
        return f"{current} cuentas ya presentes"
    started = time.perf_counter()
    tag = uuid.uuid4().hex[:6]
    n = current
    while n < target:
        batch = min(500, target - n)
        users = [{"username": f"semilla-{tag}-{n + k}", "email": f"semilla-{tag}-{n + k}@example.com",
                  "enabled": False, "firstName": "Semilla", "lastName": "Carga",
                  "attributes": {"curp": [f"SEMILLA{tag}{n + k}"], "estatus": ["aprobado"]}} for k in range(batch)]
        admin.connection.raw_post(f"admin/realms/{realm}/partialImport", data=json.dumps(
            {"ifResourceExists": "SKIP", "users": users})).raise_for_status()
        n += batch
    return f"{target - current} cuentas sembradas por importación parcial en {time.perf_counter() - started:.0f} s"


@pytest.mark.timeout(3600)  # seeding 200,000 accounts takes minutes
def test_bench_registration_vs_keycloak_own(admin, anchor_realm, registro_url):
    url, workers = registro_url
    kc = KeycloakSettings.from_env()
    seeded = ""
    if os.environ.get("BENCH_ACCOUNTS"):
        seeded = _seed(admin, kc.realm, int(os.environ["BENCH_ACCOUNTS"]))
    accounts = int(admin.users_count())
    run = uuid.uuid4().hex[:8]
    emails: list[str] = []

    def project(i: int) -> float:
        email = f"bench-{run}-{i}-{secrets.token_hex(2)}@example.com"
        emails.append(email)
        return _project_register(url, email)

    try:
        _project_register(url, f"bench-{run}-calentamiento@example.com")  # warm every worker's imports
        emails.append(f"bench-{run}-calentamiento@example.com")
        _keycloak_register(anchor_realm, -1, run)
        ours, theirs = [], []
        for i in range(SEQUENTIAL):  # interleaved: a busy neighbour slows both alike
            ours.append(project(i))
            theirs.append(_keycloak_register(anchor_realm, i, run))
        tp_ours = _throughput(lambda i: project(1000 + i), CONCURRENT_EACH)
        tp_theirs = _throughput(lambda i: _keycloak_register(anchor_realm, 1000 + i, run), CONCURRENT_EACH)
    finally:
        gateway = KeycloakGateway.for_service(kc)
        storage = S3Store(Settings.from_env().s3)
        for email in emails:
            account = gateway.find_by_email(email)
            if account is not None:
                claims.Claims(storage, gateway).release_account(account, include_folio=True)
                for key in storage.list_keys(f"solicitudes/{account.id}/"):
                    storage.delete(key)
                gateway.delete_account(account.id)
    o, t = stats_ms(ours), stats_ms(theirs)
    lines = [f"registro frente al registro propio de Keycloak ({accounts} cuentas en el reino; "
             f"{workers} workers de gunicorn){'; ' + seeded if seeded else ''}:",
             pair_line("POST secuencial p50", o["p50_ms"], t["p50_ms"]),
             pair_line("POST secuencial p95", o["p95_ms"], t["p95_ms"]),
             f"  rendimiento con {CLIENTS} clientes: proyecto {tp_ours:.1f}/s · ancla {tp_theirs:.1f}/s · "
             f"razón {tp_ours / tp_theirs:.2f}× (meta ≥ 1.0×)"]
    report("registro", {"accounts": accounts, "workers": workers, "seeded": seeded, "project": o, "keycloak": t,
                        "throughput_project_per_s": round(tp_ours, 2), "throughput_keycloak_per_s": round(tp_theirs, 2),
                        "throughput_ratio": round(tp_ours / tp_theirs, 3)}, lines)
