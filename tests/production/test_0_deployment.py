"""How the production topology is set up: its databases, what each process may see."""
from __future__ import annotations

import json
import os
import pwd
import re
import signal
import socket
import ssl
import stat
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import requests

from tests.production.conftest import eventually, log_offset, log_since
from tests.support import oidc
from tools.stack.prod import (PG_BIN, REGISTRO_REPLICAS, ROOT, confinements, load_secrets, server_states,
                              service_users, stats_command, wait_balanced)


def _psql(env, url: str, sql: str, database: str | None = None) -> subprocess.CompletedProcess:
    """`sql` over TCP as the user of a postgresql:// URL (what the service itself connects with)."""
    parts = urlsplit(url)
    return subprocess.run([str(PG_BIN / "psql"), "-X", "-At", "-v", "ON_ERROR_STOP=1", "-h", parts.hostname,
                           "-p", str(parts.port), "-U", parts.username, "-d", database or parts.path.lstrip("/"),
                           "-c", sql], capture_output=True, text=True,
                          env={**os.environ, "PGPASSWORD": parts.password})


def test_registro_owns_its_database_and_creates_its_search_extensions(env):
    url = env["DATABASE_URL"]
    assert url.startswith("postgresql+psycopg://registro:") and url.endswith("/registro")
    owned = _psql(env, url, "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database();")
    assert owned.returncode == 0 and owned.stdout.strip() == "registro", owned.stderr
    # Migrations create the extensions as the service's own role (trusted extensions, the owner may).
    created = _psql(env, url, "BEGIN; CREATE EXTENSION IF NOT EXISTS unaccent; CREATE EXTENSION IF NOT EXISTS pg_trgm;"
                              " SELECT unaccent('Peña Ñúñez'), similarity('Pérez', 'Perez') > 0; ROLLBACK;")
    assert created.returncode == 0, created.stderr
    assert "Pena Nunez|t" in created.stdout
    # Neither service reaches the other's database.
    keycloak = f"postgresql://keycloak:{env['KC_DB_PASSWORD']}@127.0.0.1:{env['POSTGRES_PORT']}/keycloak"
    assert _psql(env, keycloak, "SELECT 1;").returncode == 0
    refused = _psql(env, keycloak, "SELECT 1;", database="registro")
    assert refused.returncode != 0 and "permission denied" in refused.stderr
    assert _psql(env, url, "SELECT 1;", database="keycloak").returncode != 0


def _group(pgid: int) -> list[int]:
    """Every process of a service: its process group (the runner starts each in one of its own) and
    every descendant (PostgreSQL's backends each leave the group with setsid())."""
    parents, groups = {}, {}
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        parents[int(stat_file.parent.name)], groups[int(stat_file.parent.name)] = int(fields[1]), int(fields[2])
    members = {pid for pid, group in groups.items() if group == pgid}
    while grown := {pid for pid, parent in parents.items() if parent in members} - members:
        members |= grown
    return sorted(members)


def _uid(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^Uid:\s+(\d+)", status, re.M).group(1))


def test_each_process_sees_only_its_own_secrets_and_runs_as_its_own_user(prod):
    secret = load_secrets(prod.profile)
    rules = confinements(prod.profile)
    users = service_users(prod.profile)
    assert set(rules) == set(users) == set(prod.services)
    if os.geteuid() == 0:
        # Binaries and scripts of system interpreters always can; Python services when their
        # interpreter is reachable (the stack warns otherwise).
        assert all(users[n] for n in ("postgres", "redis", "s3", "keycloak-a", "keycloak-b", "balancer")), users
    for name in prod.services:
        processes = _group(prod.pid_of(name))
        assert processes, name
        expected_uid = pwd.getpwnam(users[name]).pw_uid if users[name] else os.geteuid()
        for pid in processes:
            environ = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
            foreign = [s for s, value in secret.items() if s not in rules[name].secrets and value in environ]
            assert not foreign, f"{name} (pid {pid}) recibe {foreign}"
            assert _uid(pid) == expected_uid, f"{name} (pid {pid}) no corre como {users[name]}"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_documents_queue_logs_and_inbox_are_private(prod, env, s3):
    data = prod.profile.data
    s3.put_object(Bucket=env["S3_BUCKET"], Key="prueba-permisos/documento.pdf", Body=b"%PDF-1.4 prueba")
    document = next((data / "s3").rglob("documento.pdf"))
    assert _mode(document) == 0o600
    assert all(_mode(folder) == 0o700 for folder in document.parents if data / "s3" in (folder, *folder.parents))
    s3.delete_object(Bucket=env["S3_BUCKET"], Key="prueba-permisos/documento.pdf")
    aof = [p for p in (data / "redis").rglob("*") if p.is_file() and "appendonly" in p.name]
    assert aof and all(_mode(p) == 0o600 for p in aof) and _mode(data / "redis") == 0o700
    logs = list((data / "logs").glob("*.log"))
    assert len(logs) >= len(prod.services) and all(_mode(p) == 0o600 for p in logs) and _mode(data / "logs") == 0o700
    inbox = data / "mail" / "mail.sqlite"
    assert _mode(inbox) == 0o600 and _mode(inbox.parent) == 0o700
    assert _mode(data / "secrets.env") == 0o600 and _mode(data) == 0o711


# --- the balancer: TLS, its own refusals and pages ---------------------------------------------
def test_public_fronts_speak_tls_verified_by_the_stacks_authority_and_plain_http_is_redirected(env):
    for front, https_url in (("REGISTRO", env["REGISTRO_PUBLIC_URL"]), ("KEYCLOAK", env["KEYCLOAK_PUBLIC_URL"])):
        assert https_url == f"https://127.0.0.1:{env[f'{front}_PORT']}"
        plain = f"http://127.0.0.1:{env[f'{front}_HTTP_PORT']}/registro?lang=en&x=1"
        moved = requests.get(plain, allow_redirects=False, timeout=10)
        assert moved.status_code == 301 and moved.headers["Location"] == f"{https_url}/registro?lang=en&x=1"
    context = ssl.create_default_context(cafile=env["REQUESTS_CA_BUNDLE"])  # hostname checked too
    for port in (env["REGISTRO_PORT"], env["KEYCLOAK_PORT"], env["S3_PUBLIC_PORT"]):
        with context.wrap_socket(socket.create_connection(("127.0.0.1", int(port)), timeout=10),
                                 server_hostname="127.0.0.1") as conn:
            assert conn.version() in ("TLSv1.2", "TLSv1.3")


def _set_cookies(response: requests.Response) -> dict[str, str]:
    return {c.split("=", 1)[0]: c for c in response.raw.headers.getlist("Set-Cookie")}


def _secure(set_cookie: str) -> bool:
    return bool(re.search(r";\s*secure\b", set_cookie, re.I))


def test_services_see_https_so_cookies_are_secure_and_hsts_is_sent(env):
    # A client's own X-Forwarded-Proto is replaced by the real protocol.
    page = requests.get(f"{env['REGISTRO_PUBLIC_URL']}/registro", headers={"X-Forwarded-Proto": "http"}, timeout=10)
    assert page.status_code == 200 and page.headers["Strict-Transport-Security"] == "max-age=31536000"
    cookies = _set_cookies(page)
    assert cookies and all(_secure(c) for c in cookies.values()), cookies
    assert "REGISTRO_NODO" in cookies and any(name != "REGISTRO_NODO" for name in cookies)
    discovery = requests.get(f"{env['KEYCLOAK_PUBLIC_URL']}/realms/anam/.well-known/openid-configuration", timeout=10)
    assert discovery.json()["issuer"] == f"{env['KEYCLOAK_PUBLIC_URL']}/realms/anam"
    _, challenge = oidc.pkce_pair()
    login = requests.get(discovery.json()["authorization_endpoint"], timeout=10, params={
        "client_id": "modulo-ejemplo", "redirect_uri": f"{env['MODULO_PUBLIC_URL']}/auth", "response_type": "code",
        "scope": "openid", "code_challenge": challenge, "code_challenge_method": "S256"})
    keycloak_cookies = _set_cookies(login)
    assert login.status_code == 200 and "AUTH_SESSION_ID" in keycloak_cookies
    assert all(_secure(c) for c in keycloak_cookies.values()), keycloak_cookies


def test_the_balancer_refuses_metrics_itself(prod, env):
    offset = log_offset(prod, "balancer")
    for path in ("/metrics", "//metrics", "/%6Detrics", "/METRICS", "/metrics/"):
        assert requests.get(env["REGISTRO_PUBLIC_URL"] + path, timeout=10).status_code == 404, path
    lines = [json.loads(line) for line in log_since(prod, "balancer", offset).splitlines() if line.startswith("{")]
    refused = [line for line in lines if line["status"] == 404]
    assert len(refused) == 5 and all(line["server"] == "<NOSRV>" for line in refused), refused


def test_with_no_replica_the_balancer_answers_a_spanish_page_and_logs_state_changes_with_a_time(prod, env):
    offset = log_offset(prod, "balancer")
    servers = [f"registro/registro-{r}" for r in REGISTRO_REPLICAS]
    try:
        for server in servers:
            stats_command(prod.profile, f"disable server {server}")
        answer = requests.get(f"{env['REGISTRO_PUBLIC_URL']}/registro", timeout=10)
        assert answer.status_code == 503 and answer.headers["Content-Type"].startswith("text/html")
        assert '<html lang="es-MX">' in answer.text and "Servicio no disponible" in answer.text
        assert "Intente de nuevo en unos minutos" in answer.text and 'lang="en"' in answer.text
    finally:
        for server in servers:
            stats_command(prod.profile, f"enable server {server}")
    wait_balanced(prod, *servers)
    log = log_since(prod, "balancer", offset)
    changes = [line for line in log.splitlines() if re.search(r"\b(is|going) (UP|DOWN)\b|maintenance", line)]
    assert any("registro-a" in line for line in changes), log[-2000:]
    assert all(re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", line) for line in changes), changes
    # The whole log: every server state change since the start carries its time too.
    everything = prod.log_of("balancer").read_text(errors="replace").splitlines()
    assert all(re.match(r"\d{4}-\d\d-\d\dT", line) for line in everything if re.search(r"Server \S+ is ", line))


# --- operating the stack -----------------------------------------------------------------------
def _stack_command(*args: str, **kwargs) -> subprocess.Popen:
    """`python -m tools.stack …` on this same stack (the TEST_PROD_* variables pick it), in a process
    group of its own as a terminal's foreground job would be."""
    return subprocess.Popen([sys.executable, "-m", "tools.stack", *args], cwd=ROOT, start_new_session=True,
                            env={**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'services'}"},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)


def _children_running(parent: int, word: str) -> bool:
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            stat_line = (proc / "stat").read_text()
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if int(stat_line.rsplit(")", 1)[1].split()[1]) == parent and word in cmdline:
            return True
    return False


def test_ctrl_c_of_a_second_start_leaves_the_running_stack_alone(prod):
    pids = {name: prod.pid_of(name) for name in prod.services}
    assert all(pids.values())
    starting = _stack_command("up", "--profile", prod.profile.name)
    try:
        # Interrupted mid-way, while it provisions the realm, as Ctrl-C in its terminal would.
        eventually(lambda: _children_running(starting.pid, "keycloak_ext") or starting.poll() is not None, 120,
                   "que el segundo arranque llegue al aprovisionamiento")
        os.killpg(starting.pid, signal.SIGINT)
        starting.wait(timeout=60)
    finally:
        if starting.poll() is None:
            starting.kill()
    assert {name: prod.pid_of(name) for name in prod.services} == pids, starting.stdout.read()[-2000:]


def test_one_service_restarts_without_provisioning_or_touching_the_others(prod):
    pids = {name: prod.pid_of(name) for name in prod.services}
    restarting = _stack_command("restart", "--profile", prod.profile.name, "--servicio", "registro-b")
    output, _ = restarting.communicate(timeout=180)
    assert restarting.returncode == 0, output
    assert "registro-b reiniciado" in output and "aplicado" not in output and "reino" not in output, output
    after = {name: prod.pid_of(name) for name in prod.services}
    assert after["registro-b"] not in (None, pids["registro-b"])
    assert {n: p for n, p in after.items() if n != "registro-b"} == {n: p for n, p in pids.items() if n != "registro-b"}
    assert server_states(prod.profile)["registro/registro-b"] == "UP"


def test_make_add_reviewer_creates_the_reviewer_in_the_production_stack(prod, kc_admin, unique):
    username = f"revisor-{unique}"
    # `-o setup`: the machine is set up already (make test did it); only the verb is exercised.
    made = subprocess.run(["make", "--no-print-directory", "-o", "setup", "add-reviewer", f"PERFIL={prod.profile.name}",
                           f"USUARIO={username}", f"CORREO={username}@example.com"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert made.returncode == 0, made.stdout + made.stderr
    assert f"revisor creado: {username}" in made.stdout
    (user,) = kc_admin.get_users({"username": username, "exact": True})
    try:
        roles = {r["name"] for r in kc_admin.get_realm_roles_of_user(user["id"])}
        assert "revisor" in roles
    finally:
        kc_admin.delete_user(user["id"])
