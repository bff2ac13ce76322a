"""Two Keycloak nodes, one Infinispan cluster over PostgreSQL, behind the balancer."""
from __future__ import annotations

import secrets
import subprocess
import sys

import pytest
import requests

from tests.production.conftest import eventually, kill, log_offset, log_since, make_user, metric_value
from tests.support import oidc
from tools.stack.prod import KC_NODES, ROOT, wait_balanced

PASSWORD = "Clave-Prod-2026!"
ATTRS = {"tipo_usuario": "agente_aduanal", "estatus": "aprobado", "es_extranjero": "false"}


def cluster_size(env, node: str) -> float:
    text = requests.get(f"http://127.0.0.1:{env[f'KEYCLOAK_{node.upper()}_MGMT_PORT']}/metrics", timeout=10).text
    return metric_value(text, "vendor_cluster_size", cache_manager="keycloak")


def test_both_keycloak_nodes_see_a_two_member_cluster(env):
    for node in KC_NODES:
        eventually(lambda: cluster_size(env, node) == 2, 60, f"un clúster de 2 miembros visto por kc-{node}")


def test_public_hostname_serves_logins_but_not_the_admin_console(env):
    public, internal = env["KEYCLOAK_PUBLIC_URL"], env["KEYCLOAK_URL"]
    assert requests.get(f"{public}/realms/anam/.well-known/openid-configuration", timeout=10).json()["issuer"] == \
        f"{public}/realms/anam"
    for path in ("/admin/master/console/", "/admin/realms/anam", "/realms/master/protocol/openid-connect/certs"):
        assert requests.get(public + path, timeout=10, allow_redirects=False).status_code == 404, path
    assert requests.get(f"{internal}/admin/master/console/", timeout=10).status_code == 200


def _login(env, session: requests.Session, username: str):
    """Code flow at the public front with a browser-like session; returns (tokens, node)."""
    redirect = f"{env['MODULO_PUBLIC_URL']}/auth"
    verifier, challenge = oidc.pkce_pair()
    page = oidc.open_login(env["KEYCLOAK_PUBLIC_URL"], "modulo-ejemplo", redirect, challenge, session=session)
    r = page.submit({"username": username, "password": PASSWORD})
    tokens = oidc.exchange(env["KEYCLOAK_PUBLIC_URL"], "modulo-ejemplo", env["MODULO_CLIENT_SECRET"], redirect,
                           oidc.code_from(r), verifier)
    return tokens, session.cookies.get("KC_NODO")


@pytest.fixture(scope="module")
def sigkill_round(prod, env, kc_admin):
    """One node restart serves two tests (a Keycloak start costs a minute here): a user logs in at
    kc-a, kc-a dies by SIGKILL, the same browser comes back through the balancer, then kc-a is
    started again on the existing database."""
    account_id, username = make_user(kc_admin, secrets.token_hex(5), password=PASSWORD, role="agente_aduanal",
                                     attributes=ATTRS)
    browser = requests.Session()
    browser.cookies.set("KC_NODO", "kc-a", domain="127.0.0.1", path="/")  # pin: kc-a serves the login
    round_ = {"username": username}
    try:
        tokens, round_["login_node"] = _login(env, browser, username)
        kill(prod, "keycloak-a")
        redirect = f"{env['MODULO_PUBLIC_URL']}/auth"
        verifier, challenge = oidc.pkce_pair()
        params = {"client_id": "modulo-ejemplo", "redirect_uri": redirect, "response_type": "code",
                  "scope": "openid", "code_challenge": challenge, "code_challenge_method": "S256",
                  "state": secrets.token_urlsafe(8)}
        r = browser.get(f"{env['KEYCLOAK_PUBLIC_URL']}/realms/anam/protocol/openid-connect/auth", params=params,
                        allow_redirects=False, timeout=30)
        round_["reauth_status"] = r.status_code
        round_["answered_by"] = browser.cookies.get("KC_NODO")
        if r.status_code == 302:
            again = oidc.exchange(env["KEYCLOAK_PUBLIC_URL"], "modulo-ejemplo", env["MODULO_CLIENT_SECRET"], redirect,
                                  oidc.code_from(r), verifier)
            round_["same_session"] = oidc.claims_of(again["id_token"])["sid"] == oidc.claims_of(tokens["id_token"])["sid"]
        refreshed = requests.post(f"{env['KEYCLOAK_PUBLIC_URL']}/realms/anam/protocol/openid-connect/token",
                                  data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
                                        "client_id": "modulo-ejemplo", "client_secret": env["MODULO_CLIENT_SECRET"]},
                                  timeout=30)
        round_["refresh_status"] = refreshed.status_code
    finally:
        offset = log_offset(prod, "keycloak-a")
        prod.start("keycloak-a")
        prod.wait_ready("keycloak-a")
        wait_balanced(prod, "keycloak/kc-a")
        round_["restart_log"] = log_since(prod, "keycloak-a", offset)
    yield round_
    kc_admin.delete_user(account_id)


# Restarts a JVM or the whole stack: minutes on a shared 2-vCPU machine.
@pytest.mark.timeout(900)
def test_session_survives_sigkill_of_the_node_that_served_the_login(sigkill_round):
    assert sigkill_round["login_node"] == "kc-a"
    # The next request of the same browser goes to the surviving node, which finds the SSO session
    # (persisted in the database since Keycloak 26) and answers with a code at once: no login form.
    assert sigkill_round["reauth_status"] == 302, "se pidió iniciar sesión otra vez"
    assert sigkill_round["answered_by"] == "kc-b" and sigkill_round["same_session"]
    # The refresh token issued by the killed node is honoured by the survivor too.
    assert sigkill_round["refresh_status"] == 200


def _provision(env, verb: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "keycloak_ext", verb], cwd=ROOT, capture_output=True, text=True,
                          env={**env, "PYTHONPATH": f"{ROOT}:{ROOT / 'services'}"})


# Restarts a JVM or the whole stack: minutes on a shared 2-vCPU machine.
@pytest.mark.timeout(900)
def test_restarted_node_keeps_realm_and_users_and_provisioning_converges(sigkill_round, env):
    # kc-a imports the realm file at every start: on the existing database it must skip it.
    log = sigkill_round["restart_log"]
    assert "Realm 'anam' already exists. Import skipped" in log
    assert "Realm 'anam' imported" not in log
    eventually(lambda: cluster_size(env, "a") == 2, 120, "que kc-a vuelva al clúster")
    eventually(lambda: cluster_size(env, "b") == 2, 120, "que kc-b vea de nuevo 2 miembros")
    # A user made before the restart logs in at the restarted node (pinned to it).
    browser = requests.Session()
    browser.cookies.set("KC_NODO", "kc-a", domain="127.0.0.1", path="/")
    tokens, node = _login(env, browser, sigkill_round["username"])
    assert node == "kc-a" and oidc.claims_of(tokens["access_token"])["preferred_username"] == sigkill_round["username"]
    check = _provision(env, "check")
    assert check.returncode == 0 and "sin diferencias" in check.stdout, check.stdout + check.stderr
    applied = _provision(env, "provision")
    assert applied.returncode == 0 and "reino al día" in applied.stdout, applied.stdout + applied.stderr
