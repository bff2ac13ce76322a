"""Registration through the served `registro` against Keycloak's own self-registration (`make bench`).

Anchor: a throwaway realm with the same password policy, verify-email on and the stack's SMTP,
driven through Keycloak's own registration form, on a Keycloak of its own (benchmarks/anchor_keycloak.py:
the stack's server and options on a JVM of its own, so neither side pays the other's collections; being
fresh, it first registers PREWARM alone, and so does the project, whose Keycloak is the stack's: on a stack
just started it is as fresh; seen at 17.5 ms of Keycloak CPU per registration in the first run after a start,
10.8 in the second, 4–6 after hours). Project: a gunicorn `registro` of its own
(benchmarks/served.py) with the registration limit raised for the run — everything else as served:
identifiers, responsiva, account (on the stack's Keycloak), S3, role, confirmation email.

The same thing is measured on both sides:
- a registration is what the applicant does and sees: GET the form (not timed), POST it, and the page
  it leads to (the project's "/registro/enviado", Keycloak's verify-email page, where Keycloak sends
  its email before answering), until shown;
- it is done when its email is in the inbox (the mail catcher's HTTP API, tests/support/mailbox.py):
  however either side queues or sends it, a throughput block ends only when every email of its
  registrations has arrived, so a figure cannot be bought by a backlog (an email still missing
  LOST_AFTER_S after the block's latest arrival is counted lost and printed, and the block ends at
  that arrival);
- both sides are warm: before anything is timed each side registers in blocks of BLOCK (4 clients)
  until its CPU per registration settles — the least-squares line through the latest half of its
  warm-up blocks (at least WARMUP_MIN_BLOCKS) falls by no more than SETTLE of their mean (a JIT still
  compiling, a cache still filling, shows as a falling cost; a line, not two medians, so the noise of
  a shared host is not taken for a plateau) — or until BENCH_WARMUP_MAX_S has passed. The output says
  which, with each side's cost at the start and the end of its warm-up. Keycloak's cost was seen to
  keep falling slowly for ≈ 10,000 registrations (76 → 28 ms, less than a shared host's noise over a
  few hundred) while the test stack's Keycloak re-read its templates on every page; with them cached, as
  deployed, it settled within ≈ 1,200 (106 → 23 ms; 16 ms in the blocks after). A fully warm anchor still takes
  `BENCH_WARMUP_MIN=10000 BENCH_WARMUP_MAX_S=7200`
  (registrations per side, then the criterion); the default run is a few minutes.

Printed (and written to benchmarks/results/), each with its range over interleaved runs and the load:
- sequential registration (POST + following page) p50/p95 of both, RUNS runs of SEQUENTIAL pairs, the
  two sides alternating;
- throughput with 4 and with 8 clients: BENCH_BLOCKS pairs of blocks of BLOCK registrations, ours and
  Keycloak's alternating (AB BA AB …), each block started once the measured processes are idle: the
  ratio of each pair (median and range), the totals, the emails still on their way when a block's
  last page was shown and how long they took;
- CPU milliseconds per registration of each process (utime + stime from /proc) during those blocks:
  the registro workers, the Keycloak JVM, the S3 server, the mail catcher (and PostgreSQL, Redis when
  the stack runs them), for both sides, and the ratio of the totals: on a host shared with other work
  the wall-clock ratio also measures how the neighbours' load fell on each block, the CPU ratio only
  what each registration costs;
- the requests registro made to Keycloak per registration, as its /metrics counts them (the token
  endpoint's included; issue 20: at most 2);
- the Keycloak CPU per registration of each side, and how many registrations a Keycloak CPU-second carries
  through ours against Keycloak's own form: Keycloak is what every ANAM module shares, sized as a cluster by
  its CPU, while registro scales by replicas.
- the host's ceiling for each side: its cores divided by the CPU one registration costs the measured
  services plus the benchmark's own clients (this process: their threads and the inbox's polling), the most
  registrations per second this machine could carry at that cost, beside 1.5× the anchor's measured rate
  (issue 20's goal): a side whose ceiling is below a figure cannot reach it here, however its time is spent.
`BENCH_ACCOUNTS=N` first seeds realm `anam` up to N accounts with Keycloak's partial import
(batches of 500) and prints how long that took, to show registration flat from 200 to 200,000
accounts. Accounts created by the benchmark are deleted.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import statistics
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urljoin

import pytest
import requests

from benchmarks.anchor_keycloak import anchor_keycloak
from benchmarks.anchors import anam_realm, throwaway_realm
from benchmarks.results_io import (RUNS, LoadWatch, interleaved, percentile, ratio_figures, ratio_line,
                                   report, runs_figures, spread)
from benchmarks.served import keycloak_requests, served_registro
from keycloak_ext import KeycloakGateway, KeycloakSettings
from registro.adapters.storage import S3Store
from registro.config import Settings
from tests.support.applications import delete_application
from tests.support.mailbox import Mailbox
from tests.support.oidc import trust_loopback_cookies
from tests.support.registration import csrf_token, mexican_form, random_person
from tests.support.stack import TestStack

SEQUENTIAL = int(os.environ.get("BENCH_SEQUENTIAL", "15"))  # pairs per run
BLOCKS = max(RUNS, int(os.environ.get("BENCH_BLOCKS", "4")))  # pairs of throughput blocks per client count
BLOCK = int(os.environ.get("BENCH_BLOCK", "32"))  # registrations per block
CLIENT_COUNTS = (4, 8)
WARMUP_CLIENTS = 4
WARMUP_MAX_S = float(os.environ.get("BENCH_WARMUP_MAX_S", "240"))
WARMUP_MIN_BLOCKS = max(10, int(os.environ.get("BENCH_WARMUP_MIN", "0")) // BLOCK)
# The anchor's Keycloak is started for the run (benchmarks/anchor_keycloak.py), and the stack's may have been
# too (`make bench` on a fresh machine): a fresh JVM's cost falls for thousands of registrations, more slowly than
# the warm-up's criterion sees, so each side first registers this many alone.
PREWARM = int(os.environ.get("BENCH_PREWARM", "3000"))
SETTLE = 0.05
LOST_AFTER_S = 15  # an email not in the inbox this long after the block's latest one is counted lost
PASSWORD = "Clave-Segura-2026!"
ANCHOR = "registro propio de Keycloak (mismo reino de contraseña, verify-email, su correo incluido)"
_TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")


# --- CPU of the processes involved ------------------------------------------------------------------
def _cpu_ms(pid: int) -> float:
    """utime + stime of one process (all its threads) and of its children it has reaped, in
    milliseconds; 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(f) for f in fields[11:15]) * _TICK_MS  # utime, stime, cutime, cstime: fields 14–17 of proc(5)


def _descendants(pid: int) -> list[int]:
    """Every live process below `pid` (PostgreSQL's backends are grandchildren of its pid file's
    `runuser`; gunicorn's workers run sandboxed children of their own)."""
    children = []
    for task in Path(f"/proc/{pid}/task").glob("*"):  # a child belongs to the thread that forked it
        try:
            children += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            pass
    return [d for child in children for d in (child, *_descendants(child))]


def _stack_pid(name: str) -> int | None:
    stack = os.environ.get("STACK_DIR")
    try:
        return int((Path(stack) / "pids" / f"{name}.pid").read_text()) if stack else None
    except (OSError, ValueError):
        return None


class CpuMeter:
    """CPU milliseconds of the gunicorn we started (master + workers) and of the stack's Keycloak,
    S3 server, mail catcher, PostgreSQL and Redis (pid files of tools.stack; those it runs)."""

    def __init__(self, registro_pid: int, anchor_keycloak_pid: int | None = None) -> None:
        self.groups: dict[str, list[int]] = {"registro": [registro_pid]}
        for name, label in (("keycloak", "keycloak"), ("s3", "s3"), ("mail", "correo"), ("postgres", "postgres"),
                            ("redis", "redis")):
            pid = _stack_pid(name)
            if pid is not None:
                self.groups[label] = [pid]
        if anchor_keycloak_pid is not None:  # the anchor's own Keycloak (benchmarks/anchor_keycloak.py)
            self.groups["keycloak_ancla"] = [anchor_keycloak_pid]

    def read(self) -> dict[str, float]:
        out = {}
        for label, roots in self.groups.items():
            pids = [p for root in roots for p in [root, *_descendants(root)]]
            out[label] = sum(_cpu_ms(p) for p in pids)
        return out

    @staticmethod
    def delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
        return {k: after[k] - before.get(k, 0.0) for k in after}


# --- the inbox ---------------------------------------------------------------------------------------
class Inbox:
    """Where a registration counts as done on both sides: its email in the mail catcher."""

    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox
        # Emptied first (the benchmarks' stack serves nothing else meanwhile): each poll lists the whole
        # inbox, so earlier benchmarks' messages would make counting cost more as it goes.
        requests.delete(f"{mailbox.api_url}/messages/", timeout=30).raise_for_status()

    def _arrived(self, addresses: set[str]) -> dict[str, int]:
        return {to.lower(): m["id"] for m in self.mailbox.summaries() for to in m["recipients"]["to"]
                if to.lower() in addresses}

    def missing(self, addresses: list[str]) -> int:
        return len(set(addresses) - set(self._arrived(set(addresses))))

    def wait_for(self, addresses: list[str]) -> tuple[float, int]:
        """Polls (every 20 ms: the catcher offers no notification) until every address has its email.
        Returns when the last one arrived (perf_counter) and how many never did: an email still missing
        LOST_AFTER_S after the latest arrival is lost (issue 24 saw a few under load), not waited for."""
        wanted = set(addresses)
        got, last = -1, time.perf_counter()
        while True:
            now_got = len(self._arrived(wanted))
            now = time.perf_counter()
            if now_got > got:
                got, last = now_got, now
            if got == len(wanted):
                return now, 0
            if now - last > LOST_AFTER_S:
                return last, len(wanted) - got
            time.sleep(0.02)

    def forget(self, addresses: list[str]) -> None:
        """Deletes their messages (after the block, not timed), so the summaries polled stay short."""
        for message_id in self._arrived(set(addresses)).values():
            requests.delete(f"{self.mailbox.api_url}/messages/{message_id}", timeout=10)


# --- the two registrations ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def registro_server():
    with served_registro(REGISTRATION_LIMITS="1000000 per hour") as served:
        yield served


@pytest.fixture(scope="module")
def anchor_server(tmp_path_factory):
    """The anchor's Keycloak of its own (benchmarks/anchor_keycloak.py): the same server as the stack's."""
    with anchor_keycloak(tmp_path_factory.mktemp("keycloak-ancla")) as server:
        yield server


@pytest.fixture(scope="module")
def anchor_realm(admin, anchor_server):
    """Keycloak's own self-registration: same password policy, verify-email, the stack's SMTP."""
    with throwaway_realm(anchor_server.admin(), "bench-kc", source=admin, registrationAllowed=True, verifyEmail=True,
                         passwordPolicy=anam_realm(admin)["passwordPolicy"], bruteForceProtected=True,
                         internationalizationEnabled=True, supportedLocales=["es"], defaultLocale="es") as name:
        yield name


def _keycloak_register(base: str, realm: str, username: str) -> float:
    """GET the form (not timed), POST it and show the verify-email page it redirects to (where Keycloak
    sends its email): the seconds from the POST to that page."""
    base = base.rstrip("/")
    with requests.Session() as http:
        page = http.get(f"{base}/realms/{realm}/protocol/openid-connect/registrations", params={
            "client_id": "account", "response_type": "code", "scope": "openid",
            "redirect_uri": f"{base}/realms/{realm}/account/"}, timeout=30)
        action = re.search(r'id="kc-register-form"[^>]*action="([^"]+)"', page.text) or \
            re.search(r'action="([^"]+)"[^>]*id="kc-register-form"', page.text)
        assert action, page.text[:500]
        trust_loopback_cookies(http)  # Keycloak marks them Secure (SameSite=None); the stack is plain HTTP
        data = {"username": username, "email": f"{username}@example.com", "firstName": "Ana",
                "lastName": "Peña", "password": PASSWORD, "password-confirm": PASSWORD}
        started = time.perf_counter()
        r = http.post(action.group(1).replace("&amp;", "&"), data=data, timeout=60, allow_redirects=False)
        assert r.status_code == 302 and "VERIFY_EMAIL" in r.headers.get("Location", ""), r.status_code
        page = http.get(urljoin(r.url, r.headers["Location"]), timeout=60)
        elapsed = time.perf_counter() - started
    assert page.status_code == 200, page.status_code
    return elapsed


def _project_register(url: str, email: str) -> float:
    """GET the form (not timed), POST it and show the page it redirects to ("/registro/enviado"): the
    seconds from the POST to that page."""
    with requests.Session() as http:
        form = http.get(f"{url}/registro", timeout=30)
        curp, rfc = random_person()
        data = {**mexican_form(curp=curp, rfc=rfc, email=email), "csrf_token": csrf_token(form.text)}
        started = time.perf_counter()
        r = http.post(f"{url}/registro", data=data, allow_redirects=False, timeout=60)
        assert r.status_code == 302 and r.headers.get("Location", "").endswith("/registro/enviado"), \
            re.sub(r"\s+", " ", r.text)[-600:]
        page = http.get(urljoin(r.url, r.headers["Location"]), timeout=60)
        elapsed = time.perf_counter() - started
    assert page.status_code == 200, page.status_code
    return elapsed


class Sides:
    """Both sides' registrations, each to a fresh address (returned), and what to clean up."""

    def __init__(self, url: str, realm: str, keycloak_url: str) -> None:
        self.url, self.realm, self.keycloak_url = url, realm, keycloak_url
        self.run = uuid.uuid4().hex[:8]
        self.ours: list[str] = []  # addresses of the project's registrations (their accounts are deleted)
        self._count = iter(range(10 ** 9))

    def project(self) -> tuple[str, float]:
        email = f"bench-{self.run}-{next(self._count)}-{secrets.token_hex(2)}@example.com"
        self.ours.append(email)
        return email, _project_register(self.url, email)

    def keycloak(self) -> tuple[str, float]:
        username = f"kc-{self.run}-{next(self._count)}"
        return f"{username}@example.com", _keycloak_register(self.keycloak_url, self.realm, username)


# --- throughput blocks ------------------------------------------------------------------------------
def _block(register, count: int, clients: int, meter: CpuMeter, inbox: Inbox) -> dict:
    """`count` registrations by `clients` clients, done when every email is in the inbox. `client_cpu_ms`: this
    process's own CPU per registration (the clients' threads and the inbox's polling) — on the same 2 cores."""
    cpu0, client0 = meter.read(), time.process_time()
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        addresses = [address for address, _ in pool.map(lambda _: register(), range(count))]
    shown = time.perf_counter()
    on_their_way = inbox.missing(addresses)
    done, lost = inbox.wait_for(addresses)
    cpu = CpuMeter.delta(cpu0, meter.read())
    client_ms = (time.process_time() - client0) * 1000
    inbox.forget(addresses)
    elapsed = done - started
    return {"n": count, "s": elapsed, "per_s": (count - lost) / elapsed, "on_their_way": on_their_way,
            "arrival_s": max(0.0, done - shown), "lost": lost, "cpu_ms": {k: v / count for k, v in cpu.items()},
            "client_cpu_ms": client_ms / count}


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


def _cpu_total(block: dict) -> float:
    return sum(block["cpu_ms"].values())


def _settled(costs: list[float]) -> bool:
    """The least-squares line through the latest half of the warm-up blocks' costs falls across them
    by no more than SETTLE of their mean (a window that grows with the warm-up, so a slow fall is
    not taken for noise)."""
    if len(costs) < WARMUP_MIN_BLOCKS:
        return False
    half = costs[len(costs) // 2:]
    fall = -statistics.linear_regression(range(len(half)), half).slope * (len(half) - 1)
    return fall <= SETTLE * statistics.mean(half)


def _warm_up(sides: Sides, meter: CpuMeter, inbox: Inbox) -> dict[str, dict]:
    """Blocks of BLOCK registrations with WARMUP_CLIENTS clients, the sides alternating, each side until
    its CPU per registration settles or WARMUP_MAX_S has passed."""
    costs: dict[str, list[float]] = {"proyecto": [], "keycloak": []}
    lost = {"proyecto": 0, "keycloak": 0}
    register = {"proyecto": sides.project, "keycloak": sides.keycloak}
    started = time.monotonic()
    while True:
        for side, fn in register.items():
            if not _settled(costs[side]):
                _quiet(meter)
                block = _block(fn, BLOCK, WARMUP_CLIENTS, meter, inbox)
                costs[side].append(_cpu_total(block))
                lost[side] += block["lost"]
        if time.monotonic() - started > WARMUP_MAX_S or all(_settled(c) for c in costs.values()):
            break
    return {side: {"blocks": len(c), "registrations": len(c) * BLOCK, "settled": _settled(c), "lost": lost[side],
                   "cpu_ms_first": round(c[0], 1), "cpu_ms_last": round(statistics.median(c[-3:]), 1),
                   "cpu_ms_blocks": [round(v, 1) for v in c]}
            for side, c in costs.items()}


def _prewarm(register, meter: CpuMeter, inbox: Inbox) -> dict:
    """PREWARM registrations of one side alone, in blocks (a fresh JVM's warm-up)."""
    costs = [_cpu_total(_block(register, BLOCK, WARMUP_CLIENTS, meter, inbox))
             for _ in range(max(1, PREWARM // BLOCK))]
    return {"registrations": len(costs) * BLOCK, "cpu_ms_first": round(costs[0], 1),
            "cpu_ms_last": round(statistics.median(costs[-3:]), 1)}


def _throughput(sides: Sides, clients: int, meter: CpuMeter, inbox: Inbox) -> tuple[list[dict], list[dict]]:
    def ours() -> dict:
        # Counted by registro itself (every request Keycloak answered, token included), block by block; read
        # outside the block's CPU window (a scrape also reads the queue's and the outbox's figures from the
        # database: ≈ 9 ms of registro and PostgreSQL CPU each, ≈ 0.6 ms per registration inside the window).
        before = keycloak_requests(sides.url)
        _quiet(meter)
        block = _block(sides.project, BLOCK, clients, meter, inbox)
        return {**block, "keycloak_requests": (keycloak_requests(sides.url) - before) / block["n"]}

    def theirs() -> dict:
        _quiet(meter)
        return _block(sides.keycloak, BLOCK, clients, meter, inbox)

    o, t = [], []
    for i in range(BLOCKS):  # AB BA AB …: a drift in the neighbours' load hits both sides alike
        if i % 2 == 0:
            o.append(ours()), t.append(theirs())
        else:
            t.append(theirs()), o.append(ours())
    return o, t


def _summary(blocks: list[dict]) -> dict:
    n = sum(b["n"] for b in blocks)
    delivered = n - sum(b["lost"] for b in blocks)
    return {"blocks_per_s": [round(b["per_s"], 2) for b in blocks],
            "total_per_s": round(delivered / sum(b["s"] for b in blocks), 2),
            "on_their_way_max": max(b["on_their_way"] for b in blocks), "lost": sum(b["lost"] for b in blocks),
            "arrival_s_max": round(max(b["arrival_s"] for b in blocks), 3),
            "cpu_ms_per_registration": {k: round(sum(b["cpu_ms"][k] * b["n"] for b in blocks) / n, 1)
                                        for k in blocks[0]["cpu_ms"]},
            "cpu_ms_total_blocks": [round(_cpu_total(b), 1) for b in blocks],
            "client_cpu_ms_blocks": [round(b["client_cpu_ms"], 1) for b in blocks],
            "host_ceiling_per_s_blocks": [round(_host_ceiling(b), 1) for b in blocks]}


def _host_ceiling(block: dict) -> float:
    """Registrations per second the host's cores could carry at this block's cost: every core busy with the
    measured services and the benchmark's own clients, nothing else (so an upper bound)."""
    return (os.cpu_count() or 1) * 1000 / (_cpu_total(block) + block["client_cpu_ms"])


def _keycloak_requests_per_registration(blocks: list[dict]) -> float:
    """The project's blocks: what registro's /metrics counted around each, over all their registrations."""
    return round(sum(b["keycloak_requests"] * b["n"] for b in blocks) / sum(b["n"] for b in blocks), 3)


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
    """The project's accounts and their objects, as the tests remove theirs (tests/support/applications.py)."""
    gateway = KeycloakGateway.for_service(KeycloakSettings.from_env())
    storage = S3Store(Settings.from_env().s3)

    def remove(email: str) -> None:
        account = gateway.find_by_email(email)
        if account is not None:
            delete_application(gateway, storage, account.id)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(remove, emails))


def _lost_text(lost: dict[str, int]) -> str:
    return ("; correos perdidos (nunca llegaron al buzón): " + ", ".join(f"{side} {n}" for side, n in lost.items())
            if any(lost.values()) else "")


def _warm_text(side: str, w: dict) -> str:
    state = "estable" if w["settled"] else "AÚN BAJANDO al agotar el tiempo"
    return (f"{side} {w['registrations']} registros, CPU {w['cpu_ms_first']:.0f} → {w['cpu_ms_last']:.0f} ms/registro, "
            f"{state}{_lost_text({side: w['lost']})}")


def _cpu_text(cpu: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.0f}" for k, v in cpu.items() if v >= 0.5)


@pytest.mark.timeout(3600 * 3)  # seeding 200,000 accounts, or a full warm-up, takes long
def test_bench_registration_vs_keycloak_own(admin, anchor_server, anchor_realm, registro_server):
    kc = KeycloakSettings.from_env()
    seeded = ""
    if os.environ.get("BENCH_ACCOUNTS"):
        seeded = _seed(admin, kc.realm, int(os.environ["BENCH_ACCOUNTS"]))
    accounts = int(admin.users_count())
    sides = Sides(registro_server.url, anchor_realm, anchor_server.url)
    meter = CpuMeter(registro_server.pid, anchor_server.pid)
    inbox = Inbox(Mailbox(TestStack.from_env().mail_api))
    lines = [f"registro frente al {ANCHOR}; {accounts} cuentas en el reino; gunicorn {registro_server.workers} "
             f"workers × {registro_server.threads} hilos{'; ' + seeded if seeded else ''}. Un registro: POST + la "
             "página que sigue, hasta mostrarla; hecho cuando su correo está en el buzón (ambos lados)."]
    figures: dict = {"anchor": ANCHOR, "accounts": accounts, "workers": registro_server.workers,
                     "threads": registro_server.threads, "seeded": seeded, "block": BLOCK, "blocks": BLOCKS}
    try:
        with LoadWatch() as load:
            prewarm = {"proyecto": _prewarm(sides.project, meter, inbox),
                       "keycloak": _prewarm(sides.keycloak, meter, inbox)}
            lines.append("  cada lado calentado solo antes (sus Keycloak pueden estar recién arrancados): " + "; ".join(
                f"{side} {w['registrations']} registros, CPU {w['cpu_ms_first']:.0f} → {w['cpu_ms_last']:.0f} ms/registro"
                for side, w in prewarm.items()))
            figures["prewarm"] = prewarm
            warm = _warm_up(sides, meter, inbox)
            lines.append(f"  calentamiento (bloques de {BLOCK} con {WARMUP_CLIENTS} clientes, al menos "
                         f"{WARMUP_MIN_BLOCKS}, hasta que la recta del CPU por registro en la última mitad baja menos "
                         f"del {SETTLE:.0%}, máx. {WARMUP_MAX_S:.0f} s): "
                         + "; ".join(_warm_text(side, w) for side, w in warm.items())
                         + ". Ancla del todo caliente (miles de registros): BENCH_WARMUP_MIN=10000 BENCH_WARMUP_MAX_S=7200")
            figures["warm_up"] = warm

            sequential, lost = [], {"proyecto": 0, "keycloak": 0}
            for _ in range(RUNS):  # the two sides alternate, so a busy neighbour slows both alike
                pending: dict[str, list[str]] = {"proyecto": [], "keycloak": []}

                def timed(side: str, register) -> float:
                    address, elapsed = register()
                    pending[side].append(address)
                    return elapsed

                samples = interleaved(SEQUENTIAL, {"proyecto": lambda: timed("proyecto", sides.project),
                                                   "keycloak": lambda: timed("keycloak", sides.keycloak)})
                sequential.append({f"{side} {q}": 1000 * percentile(v, p) for side, v in samples.items()
                                   for q, p in (("p50", 0.5), ("p95", 0.95))})
                for side, addresses in pending.items():
                    lost[side] += inbox.wait_for(addresses)[1]
                    inbox.forget(addresses)
            col = {k: [r[k] for r in sequential] for k in sequential[0]}
            figures["sequential_lost"] = lost
            lines += [f"  registro secuencial (POST + página siguiente), {RUNS} corridas de {SEQUENTIAL} pares"
                      f"{_lost_text(lost)}:",
                      ratio_line("p50", col["proyecto p50"], col["keycloak p50"], "Keycloak"),
                      ratio_line("p95", col["proyecto p95"], col["keycloak p95"], "Keycloak")]
            figures["sequential_p50_ms"] = ratio_figures(col["proyecto p50"], col["keycloak p50"])
            figures["sequential_p95_ms"] = ratio_figures(col["proyecto p95"], col["keycloak p95"])

            for clients in CLIENT_COUNTS:
                blocks_o, blocks_t = _throughput(sides, clients, meter, inbox)
                so, st = _summary(blocks_o), _summary(blocks_t)
                so["keycloak_requests_per_registration"] = _keycloak_requests_per_registration(blocks_o)
                ratios = [a["per_s"] / b["per_s"] for a, b in zip(blocks_o, blocks_t)]
                cpu_o, cpu_t = so["cpu_ms_total_blocks"], st["cpu_ms_total_blocks"]
                cpu_ratios = [t / o for o, t in zip(cpu_o, cpu_t)]
                # The identity engine is the part every ANAM module shares (a cluster sized by its CPU); registro
                # scales by replicas. So: how many registrations a Keycloak CPU-second carries on each side.
                kc_o = [b["cpu_ms"]["keycloak"] for b in blocks_o]
                kc_t = [b["cpu_ms"]["keycloak_ancla"] for b in blocks_t]
                kc_ratios = [t / o for o, t in zip(kc_o, kc_t) if o > 0]
                lines += [
                    f"  rendimiento con {clients} clientes, {BLOCKS} pares de bloques de {BLOCK} (AB BA …): razón "
                    f"proyecto/ancla {spread(ratios, 2)}× (mediana y rango de los pares); total proyecto "
                    f"{so['total_per_s']:.1f}/s · ancla Keycloak {st['total_per_s']:.1f}/s · razón "
                    f"{so['total_per_s'] / st['total_per_s']:.2f}×",
                    f"    correos aún en camino al mostrarse la última página de un bloque: proyecto máx. "
                    f"{so['on_their_way_max']} (llegaron en ≤ {so['arrival_s_max']:.2f} s), Keycloak máx. "
                    f"{st['on_their_way_max']} (≤ {st['arrival_s_max']:.2f} s); incluido en el tiempo del bloque"
                    f"{_lost_text({'proyecto': so['lost'], 'keycloak': st['lost']})}",
                    f"    CPU ms por registro — proyecto: {_cpu_text(so['cpu_ms_per_registration'])} (total por bloque "
                    f"{spread(cpu_o, 0)}); ancla Keycloak: {_cpu_text(st['cpu_ms_per_registration'])} (total por "
                    f"bloque {spread(cpu_t, 0)}); razón de capacidad por CPU (ancla / proyecto) {spread(cpu_ratios, 2)}×",
                    f"    CPU de Keycloak por registro — proyecto {spread(kc_o, 1)} ms · ancla {spread(kc_t, 1)} ms: "
                    f"registros por segundo de CPU de Keycloak, proyecto/ancla {spread(kc_ratios, 2)}×",
                    f"    peticiones de registro a Keycloak por registro (su /metrics, token incluido): "
                    f"{so['keycloak_requests_per_registration']:.2f} (meta ≤ 2)",
                    f"    techo del anfitrión ({os.cpu_count()} núcleos ÷ CPU por registro de los servicios medidos y de "
                    f"los clientes del banco, {spread(so['client_cpu_ms_blocks'], 1)} ms proyecto · "
                    f"{spread(st['client_cpu_ms_blocks'], 1)} ms ancla): proyecto "
                    f"{spread(so['host_ceiling_per_s_blocks'], 1)}/s · ancla {spread(st['host_ceiling_per_s_blocks'], 1)}/s; "
                    f"1.5× el ancla medida sería {1.5 * st['total_per_s']:.1f}/s"]
                figures[f"clients_{clients}"] = {
                    "throughput_project": so, "throughput_keycloak": st, "ratios": runs_figures(ratios),
                    "ratio_total": round(so["total_per_s"] / st["total_per_s"], 3),
                    "cpu_capacity_ratio": runs_figures(cpu_ratios),
                    "keycloak_cpu_ms": {"project": runs_figures(kc_o), "anchor": runs_figures(kc_t)},
                    "keycloak_capacity_ratio": runs_figures(kc_ratios)}
    finally:
        _clean_up(sides.ours)
    report("registro", figures, lines, load)
