"""Registration through the served `registro` against Keycloak's own self-registration (`make bench`).

Anchor: a throwaway realm with the same password policy, verify-email on and the stack's SMTP,
driven through Keycloak's own registration form (GET the form, POST it; Keycloak sends its
verification email before answering). Project: `GET` + `POST /registro` of a gunicorn `registro` the
benchmark starts on a spare port with the stack's settings and its own gunicorn settings
(`registro.gunicorn_conf`: REGISTRO_WORKERS processes × REGISTRO_THREADS threads) and the
per-address limit raised for the run — everything else as served: claims, responsiva, account, S3,
role, outbox.

Printed (and written to benchmarks/results/):
- sequential POST p50/p95 of both, interleaved one by one;
- throughput of 4 concurrent clients, as BENCH_BLOCKS pairs (default 6) of short blocks (BENCH_BLOCK
  registrations each, default 32), ours and Keycloak's alternating (AB BA AB …), each block started
  once the measured processes are idle, after BENCH_WARMUP registrations of each side (default 96, run
  before the sequential part: every worker reached, both flows compiled by the JVM): the median of the pairs' ratios and the total. Our block ends only when the confirmation emails it
  queued have left the outbox (its time includes that drain, so a figure cannot be bought by a
  backlog); the backlog when the last POST answered and the drain time are printed beside it;
- CPU milliseconds per registration of each process (utime + stime from /proc) during the blocks:
  the registro workers, the Keycloak JVM, the S3 server and the mail catcher, for both sides, so the
  ratio can be explained (the machine's other load is not in these figures), and their totals' ratio:
  on a host shared with other work the wall-clock ratio also measures how the neighbours' load fell on
  each block, the CPU ratio only what each registration costs.
`BENCH_ACCOUNTS=N` first seeds realm `anam` up to N accounts with Keycloak's partial import
(batches of 500) and prints how long that took, to show registration flat from 200 to 200,000
accounts. Accounts created by the benchmark are deleted.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import signal
import statistics
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from benchmarks.anchors import anam_realm, throwaway_realm
from benchmarks.results_io import pair_line, report, stats_ms
from keycloak_ext import KeycloakGateway, KeycloakSettings
from registro.adapters.storage import S3Store
from registro.config import Settings
from registro.workflow import claims
from registro.workflow.outbox import PREFIX as OUTBOX_PREFIX
from tests.support.ports import unused_port
from tools.stack.services import REGISTRO_PROCESS_ENV
from tests.support.registration import csrf_token, mexican_form, random_person

ROOT = Path(__file__).resolve().parent.parent
SEQUENTIAL = int(os.environ.get("BENCH_SEQUENTIAL", "20"))
BLOCKS = int(os.environ.get("BENCH_BLOCKS", "6"))  # pairs of throughput blocks
BLOCK = int(os.environ.get("BENCH_BLOCK", "32"))  # registrations per block
# Registrations of each side before anything is timed: every worker and thread reached, and the JVM's
# code paths of both flows compiled (a fresh Keycloak spends its first minute in the JIT compiler, whose
# CPU would be counted against whichever block runs then).
WARMUP = int(os.environ.get("BENCH_WARMUP", "96"))
CLIENTS = 4
PASSWORD = "Clave-Segura-2026!"
_TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    """BENCH_REGISTRO_PORT, or a free port the OS picks."""
    if os.environ.get("BENCH_REGISTRO_PORT"):
        return int(os.environ["BENCH_REGISTRO_PORT"])
    return unused_port()


# --- CPU of the processes involved ------------------------------------------------------------------
def _cpu_ms(pid: int) -> float:
    """utime + stime of one process (all its threads), in milliseconds; 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) * _TICK_MS  # fields 14 and 15 of proc(5)


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _stack_pid(name: str) -> int | None:
    stack = os.environ.get("STACK_DIR")
    try:
        return int((Path(stack) / "pids" / f"{name}.pid").read_text()) if stack else None
    except (OSError, ValueError):
        return None


class CpuMeter:
    """CPU milliseconds of the gunicorn we started (master + workers) and of the stack's Keycloak,
    S3 server and mail catcher (pid files of tools.stack)."""

    def __init__(self, registro_pid: int) -> None:
        self.groups: dict[str, list[int]] = {"registro": [registro_pid]}
        for name, label in (("keycloak", "keycloak"), ("s3", "s3"), ("mail", "correo")):
            pid = _stack_pid(name)
            if pid is not None:
                self.groups[label] = [pid]

    def read(self) -> dict[str, float]:
        out = {}
        for label, roots in self.groups.items():
            pids = [p for root in roots for p in [root, *_children(root)]]
            out[label] = sum(_cpu_ms(p) for p in pids)
        return out

    @staticmethod
    def delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
        return {k: after[k] - before.get(k, 0.0) for k in after}


# --- the two registrations ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def registro_server():
    """A gunicorn `registro` with the stack's environment, the registration limit raised for the run."""
    port = _free_port()
    env = {**os.environ, **REGISTRO_PROCESS_ENV, "REGISTRATION_LIMITS": "1000000 per hour", "REGISTRO_PORT": str(port),
           "PYTHONPATH": f"{ROOT}:{ROOT / 'services'}"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # its own folder: the stack's registro keeps its own
    proc = subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "-c", "python:registro.gunicorn_conf",
                             "--bind", f"127.0.0.1:{port}", "registro.wsgi:app"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/salud", timeout=10).status_code < 500:
                break
        except requests.RequestException:
            time.sleep(0.2)  # readiness poll of the process we just started
    yield url, proc.pid, os.environ.get("REGISTRO_WORKERS", "2"), os.environ.get("REGISTRO_THREADS", "8")
    proc.send_signal(signal.SIGTERM)
    proc.wait(30)


@pytest.fixture(scope="module")
def anchor_realm(admin):
    """Keycloak's own self-registration: same password policy, verify-email, the stack's SMTP."""
    with throwaway_realm(admin, "bench-kc", registrationAllowed=True, verifyEmail=True,
                         passwordPolicy=anam_realm(admin)["passwordPolicy"], bruteForceProtected=True,
                         internationalizationEnabled=True, supportedLocales=["es"], defaultLocale="es") as name:
        yield name


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


# --- throughput blocks ------------------------------------------------------------------------------
def _outbox_since(storage: S3Store, since_ms: int) -> int:
    """Messages queued since `since_ms` still in the outbox (keys start with the queueing time)."""
    return sum(1 for k in storage.list_keys(OUTBOX_PREFIX)
               if k[len(OUTBOX_PREFIX):].split("-", 1)[0].isdigit() and int(k[len(OUTBOX_PREFIX):].split("-", 1)[0]) >= since_ms)


def _block(fn, count: int, meter: CpuMeter, storage: S3Store | None = None) -> dict:
    """`count` registrations by CLIENTS clients; with `storage`, the block also waits for the emails it
    queued to leave the outbox, and that wait is part of its time."""
    since_ms = int(time.time() * 1000) - 1000  # the server's clock may tick a little behind ours
    cpu0 = meter.read()
    started = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(fn, range(count)))
    posted = time.perf_counter()
    backlog = drained = 0
    if storage is not None:
        backlog = _outbox_since(storage, since_ms)
        deadline = posted + 120
        left = backlog
        while left and time.perf_counter() < deadline:
            time.sleep(0.02)  # the outbox's delivery thread runs in the server: nothing to wait on but S3
            left = _outbox_since(storage, since_ms)
        assert left == 0, f"{left} correos siguen en la cola después de 120 s"
        drained = time.perf_counter() - posted
    elapsed = time.perf_counter() - started
    cpu = CpuMeter.delta(cpu0, meter.read())
    return {"n": count, "s": elapsed, "per_s": count / elapsed, "backlog": backlog, "drain_s": drained,
            "cpu_ms": {k: v / count for k, v in cpu.items()}}


def _quiet(meter: CpuMeter, timeout_s: float = 5.0) -> None:
    """Waits until the measured processes are idle (two 100 ms windows with at most one clock tick of
    CPU among them), so one block's leftovers — the JVM's garbage collection, a late email — are not
    counted in the next block of the other side."""
    calm = 0
    deadline = time.monotonic() + timeout_s
    before = meter.read()
    while calm < 2 and time.monotonic() < deadline:
        time.sleep(0.1)  # the sampling interval of the CPU counters, not a wait for an event
        after = meter.read()
        calm = calm + 1 if sum(CpuMeter.delta(before, after).values()) <= _TICK_MS else 0
        before = after


def _throughput_blocks(project, keycloak, meter: CpuMeter, storage: S3Store) -> tuple[list[dict], list[dict]]:
    counter = iter(range(10 ** 9))

    def ours() -> dict:
        _quiet(meter)
        return _block(lambda _: project(next(counter)), BLOCK, meter, storage)

    def theirs() -> dict:
        _quiet(meter)
        return _block(lambda _: keycloak(next(counter)), BLOCK, meter)

    o, t = [], []
    for i in range(BLOCKS):  # AB BA AB …: a drift in the neighbours' load hits both sides alike
        if i % 2 == 0:
            o.append(ours()), t.append(theirs())
        else:
            t.append(theirs()), o.append(ours())
    return o, t


def _summary(blocks: list[dict]) -> dict:
    n = sum(b["n"] for b in blocks)
    return {"blocks_per_s": [round(b["per_s"], 2) for b in blocks], "total_per_s": round(n / sum(b["s"] for b in blocks), 2),
            "backlog_max": max(b["backlog"] for b in blocks), "drain_s_max": round(max(b["drain_s"] for b in blocks), 3),
            "cpu_ms_per_registration": {k: round(sum(b["cpu_ms"][k] * b["n"] for b in blocks) / n, 1)
                                        for k in blocks[0]["cpu_ms"]}}


def _seed(admin, realm: str, target: int) -> str:
    """Tops realm `anam` up to `target` accounts by partial import; returns what it did."""
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


def _clean_up(emails: list[str]) -> None:
    gateway = KeycloakGateway.for_service(KeycloakSettings.from_env())
    storage = S3Store(Settings.from_env().s3)

    def remove(email: str) -> None:
        account = gateway.find_by_email(email)
        if account is not None:
            claims.Claims(storage, gateway).release_account(account, include_folio=True)
            for key in storage.list_keys(f"solicitudes/{account.id}/"):
                storage.delete(key)
            gateway.delete_account(account.id)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(remove, emails))


def _cpu_text(cpu: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.0f}" for k, v in cpu.items())


@pytest.mark.timeout(3600)  # seeding 200,000 accounts takes minutes
def test_bench_registration_vs_keycloak_own(admin, anchor_realm, registro_server):
    url, registro_pid, workers, threads = registro_server
    kc = KeycloakSettings.from_env()
    seeded = ""
    if os.environ.get("BENCH_ACCOUNTS"):
        seeded = _seed(admin, kc.realm, int(os.environ["BENCH_ACCOUNTS"]))
    accounts = int(admin.users_count())
    run = uuid.uuid4().hex[:8]
    emails: list[str] = []
    storage = S3Store(Settings.from_env().s3)
    meter = CpuMeter(registro_pid)

    def project(i: int) -> float:
        email = f"bench-{run}-{i}-{secrets.token_hex(2)}@example.com"
        emails.append(email)
        return _project_register(url, email)

    def keycloak(i: int) -> float:
        return _keycloak_register(anchor_realm, i, run)

    try:
        # Warm-up (WARMUP): 4 clients reach every worker and thread (a worker's first registration lays
        # out the responsiva's form) and both JVM code paths, before anything is timed.
        for w in range(max(1, WARMUP // BLOCK)):
            _block(lambda i, w=w: project(-1 - i - 1000 * w), min(WARMUP, BLOCK), meter, storage)
            _block(lambda i, w=w: keycloak(-1 - i - 1000 * w), min(WARMUP, BLOCK), meter)
        ours, theirs = [], []
        for i in range(SEQUENTIAL):  # interleaved: a busy neighbour slows both alike
            ours.append(project(i))
            theirs.append(keycloak(i))
        blocks_o, blocks_t = _throughput_blocks(lambda i: project(100000 + i), lambda i: keycloak(100000 + i),
                                                meter, storage)
    finally:
        _clean_up(emails)
    o, t = stats_ms(ours), stats_ms(theirs)
    so, st = _summary(blocks_o), _summary(blocks_t)
    ratios = [a["per_s"] / b["per_s"] for a, b in zip(blocks_o, blocks_t)]
    median_ratio = statistics.median(ratios)
    total_ratio = so["total_per_s"] / st["total_per_s"]
    # What each side costs the machine per registration, all its server processes together: on a host
    # shared with other work this predicts the throughput ratio of a machine of one's own better than
    # the wall-clock figure, which also depends on how the neighbours' load fell on each block.
    cpu_o, cpu_t = sum(so["cpu_ms_per_registration"].values()), sum(st["cpu_ms_per_registration"].values())
    load = os.getloadavg()
    lines = [f"registro frente al registro propio de Keycloak ({accounts} cuentas en el reino; gunicorn "
             f"{workers} workers × {threads} hilos; carga {load[0]:.1f}){'; ' + seeded if seeded else ''}:",
             pair_line("POST secuencial p50", o["p50_ms"], t["p50_ms"]),
             pair_line("POST secuencial p95", o["p95_ms"], t["p95_ms"]),
             f"  rendimiento con {CLIENTS} clientes, {BLOCKS} pares de bloques de {BLOCK} (AB BA …): mediana de las "
             f"razones {median_ratio:.2f}× (meta ≥ 1.0×; pares {', '.join(f'{r:.2f}' for r in ratios)}); total "
             f"proyecto {so['total_per_s']:.1f}/s · ancla {st['total_per_s']:.1f}/s · razón {total_ratio:.2f}×",
             f"  cola de correo del proyecto al terminar cada bloque: máx. {so['backlog_max']} mensajes, vaciada en "
             f"≤ {so['drain_s_max']:.2f} s (incluido en su tiempo)",
             f"  CPU ms por registro — proyecto: {_cpu_text(so['cpu_ms_per_registration'])} (total {cpu_o:.0f}); "
             f"ancla: {_cpu_text(st['cpu_ms_per_registration'])} (total {cpu_t:.0f}); razón de capacidad por CPU "
             f"(ancla / proyecto) {cpu_t / cpu_o:.2f}×"]
    report("registro", {"accounts": accounts, "workers": workers, "threads": threads, "seeded": seeded,
                        "project": o, "keycloak": t, "block": BLOCK, "blocks": BLOCKS, "clients": CLIENTS,
                        "throughput_project": so, "throughput_keycloak": st,
                        "throughput_ratios": [round(r, 3) for r in ratios],
                        "throughput_ratio_median": round(median_ratio, 3),
                        "throughput_ratio_total": round(total_ratio, 3),
                        "cpu_ms_total_project": round(cpu_o, 1), "cpu_ms_total_keycloak": round(cpu_t, 1),
                        "cpu_capacity_ratio": round(cpu_t / cpu_o, 3)}, lines)
