"""Measures the production topology (`make bench-prod`, also run by `make bench`): cold and warm
start, password logins per second through the balancer with two Keycloak nodes and with one (next
to Keycloak's guidance of 15 password logins/s per vCPU), how long the balancer keeps sending to a
killed node, and the resident memory of every process. Figures are printed, never asserted.

Runs on the `prodtest` stack that `python -m tools.stack test` started (STACK_PROFILE)."""
from __future__ import annotations

import os
import re
import secrets
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from keycloak_ext import KeycloakGateway, KeycloakSettings
from tests.support import oidc
from tools.stack.prod import server_states
from tools.stack.profiles import Profile
from tools.stack.runner import Stack

GUIDE_LOGINS_PER_VCPU = 15.0  # Keycloak HA guide: ~1 vCPU per 15 password-based logins/s
GUIDE_BASE_MB = 1250  # Keycloak HA guide: base memory per node
PASSWORD = "Clave-Bench-2026!"
LOGIN_SECONDS = float(os.environ.get("BENCH_LOGIN_SECONDS", "20"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "6"))


def _stack() -> Stack:
    return Stack(Profile.named(os.environ["STACK_PROFILE"]))


def _group_rss_mb(pgid: int) -> float:
    """Resident memory of a service: its process group and every descendant. PostgreSQL's backends
    each call setsid(), so its process group alone is the postmaster (measured 36 MB where the
    server with its backends holds 300+ MB). A page shared by several processes counts in each."""
    parents: dict[int, int] = {}
    groups: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        parents[int(entry)], groups[int(entry)] = int(fields[1]), int(fields[2])
    members = {pid for pid, group in groups.items() if group == pgid} | {pgid}
    while grown := {pid for pid, parent in parents.items() if parent in members} - members:
        members |= grown
    total = 0
    for pid in members:
        try:
            with open(f"/proc/{pid}/status") as status:
                match = re.search(r"^VmRSS:\s+(\d+) kB", status.read(), re.M)
            total += int(match.group(1)) if match else 0
        except (ProcessLookupError, FileNotFoundError, PermissionError):
            continue
    return total / 1024


def _rss_report(stack: Stack) -> dict[str, float]:
    return {name: _group_rss_mb(pid) for name in stack.services if (pid := stack.pid_of(name))}


def _login_once(env: dict[str, str], username: str) -> bool:
    redirect = f"{env['MODULO_PUBLIC_URL']}/auth"
    verifier, challenge = oidc.pkce_pair()
    try:
        page = oidc.open_login(env["KEYCLOAK_PUBLIC_URL"], "modulo-ejemplo", redirect, challenge)
        r = page.submit({"username": username, "password": PASSWORD})
        oidc.exchange(env["KEYCLOAK_PUBLIC_URL"], "modulo-ejemplo", env["MODULO_CLIENT_SECRET"], redirect,
                      oidc.code_from(r), verifier)
        return True
    except (AssertionError, requests.RequestException):
        return False


def _logins_per_second(env: dict[str, str], usernames: list[str], seconds: float) -> tuple[float, int]:
    deadline = time.monotonic() + seconds
    counts = {"ok": 0, "failed": 0}
    lock = threading.Lock()

    def worker(i: int) -> None:
        n = 0
        while time.monotonic() < deadline:
            ok = _login_once(env, usernames[(i + n * CONCURRENCY) % len(usernames)])
            n += 1
            with lock:
                counts["ok" if ok else "failed"] += 1

    start = time.monotonic()
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        list(pool.map(worker, range(CONCURRENCY)))
    return counts["ok"] / (time.monotonic() - start), counts["failed"]


def _make_users(env: dict[str, str], count: int) -> tuple[object, list[str], list[str]]:
    admin = KeycloakGateway.for_bootstrap_admin(KeycloakSettings.from_env(dict(env))).admin
    ids, names = [], []
    for _ in range(count):
        username = f"bench-{secrets.token_hex(4)}"
        account_id = admin.create_user({"username": username, "email": f"{username}@example.com",
                                        "firstName": "Banco", "lastName": "Prueba", "enabled": True,
                                        "emailVerified": True,
                                        "attributes": {"tipo_usuario": ["agente_aduanal"], "estatus": ["aprobado"],
                                                       "es_extranjero": ["false"]}})
        admin.set_user_password(account_id, PASSWORD, temporary=False)
        ids.append(account_id)
        names.append(username)
    return admin, ids, names


def _failover_seconds(stack: Stack, env: dict[str, str], node: str) -> tuple[float, int, int]:
    """SIGKILL one node under a steady trickle of requests; seconds until the balancer marks it
    DOWN, and how many requests failed or were answered meanwhile."""
    url = f"{env['KEYCLOAK_PUBLIC_URL']}/realms/anam/.well-known/openid-configuration"
    stop = threading.Event()
    results = {"ok": 0, "failed": 0}

    def trickle() -> None:
        while not stop.is_set():
            try:
                status = requests.get(url, timeout=10).status_code
                results["ok" if status == 200 else "failed"] += 1
            except requests.RequestException:
                results["failed"] += 1

    threads = [threading.Thread(target=trickle) for _ in range(2)]
    for t in threads:
        t.start()
    os.killpg(stack.pid_of(f"keycloak-{node}"), signal.SIGKILL)
    killed = time.monotonic()
    while server_states(stack.profile).get(f"keycloak/kc-{node}", "").startswith("UP"):
        time.sleep(0.02)  # polling the balancer's state, the quantity measured
    seconds = time.monotonic() - killed
    stop.set()
    for t in threads:
        t.join()
    return seconds, results["ok"], results["failed"]


@pytest.mark.timeout(1800)  # two full starts and two node restarts
def bench_production_topology():
    stack = _stack()
    cpus = os.cpu_count() or 1
    lines = [f"Topología de producción en esta máquina ({cpus} vCPU compartidas)"]

    # Cold: empty data (initdb, Keycloak schema, realm import, provisioning). Warm: same data.
    stack.reset_data()
    t0 = time.monotonic()
    stack.up()
    cold = time.monotonic() - t0
    stack.down()
    t0 = time.monotonic()
    stack.up()
    warm = time.monotonic() - t0
    lines.append(f"arranque en frío {cold:6.1f} s | en caliente {warm:6.1f} s")

    env = stack.env
    rss = _rss_report(stack)
    admin, ids, usernames = _make_users(env, 2 * CONCURRENCY)
    try:
        for n in usernames[:2]:
            assert _login_once(env, n), "a warm-up login must succeed"
        two, failed_two = _logins_per_second(env, usernames, LOGIN_SECONDS)
        stack.stop("keycloak-b")
        one, failed_one = _logins_per_second(env, usernames, LOGIN_SECONDS)
        stack.start("keycloak-b")
        stack.wait_ready("keycloak-b")
        while not server_states(stack.profile).get("keycloak/kc-b", "").startswith("UP"):
            time.sleep(0.2)  # the balancer's health check brings it back
        lines.append(f"inicios de sesión con contraseña por el balanceador ({CONCURRENCY} clientes, {LOGIN_SECONDS:.0f} s):")
        for label, rate, failed in (("2 nodos", two, failed_two), ("1 nodo ", one, failed_one)):
            lines.append(f"  {label}: {rate:5.1f}/s  = {rate / cpus:4.1f}/s por vCPU; guía {GUIDE_LOGINS_PER_VCPU:.0f}/s "
                         f"por vCPU → razón {rate / cpus / GUIDE_LOGINS_PER_VCPU:4.2f} (fallidos: {failed})")
        lines.append(f"  2 nodos / 1 nodo = {two / one:4.2f} (el generador de carga comparte las mismas vCPU)")
        seconds, ok, failed = _failover_seconds(stack, env, "b")
        lines.append(f"nodo kc-b muerto con SIGKILL: el balanceador lo marcó DOWN en {seconds:4.2f} s; "
                     f"peticiones en ese lapso: {ok} respondidas, {failed} fallidas")
        stack.start("keycloak-b")
        stack.wait_ready("keycloak-b")
    finally:
        for account_id in ids:
            admin.delete_user(account_id)
    lines.append(f"memoria residente al arrancar (MB; guía de Keycloak: {GUIDE_BASE_MB} MB base por nodo):")
    for name, mb in rss.items():
        ratio = f"  razón {mb / GUIDE_BASE_MB:4.2f}" if name.startswith("keycloak-") else ""
        lines.append(f"  {name:<12} {mb:7.1f}{ratio}")
    rss_after = _rss_report(stack)
    lines.append("memoria residente tras la carga (MB): " + ", ".join(
        f"{n} {mb:.0f}" for n, mb in rss_after.items() if n.startswith(("keycloak", "registro", "postgres"))))
    print("\n" + "\n".join(lines))
