""""Consultar mi solicitud": does asking for a new status link cost the same for an existing folio and
an unknown one? (`make bench`; issue 21, item 13, beside bench_recovery.py.)

The answer is the same page whatever the folio and address; the lookup and the email run in a thread
beside the request. Work done there only for an existing folio (reading Keycloak, rendering the email)
takes CPU from the request, and an existing folio answered 1.5–3.5 ms later than an unknown one: enough
to tell which folios exist. Now the same work is done in every case (applicant/status_links.py).

In-process with the real adapters of the test stack (Keycloak, S3, the database, the outbox), its limits
raised for the run. Three kinds of request — an existing folio with its address, another existing folio
with a wrong address, an unknown folio — SAMPLES of each in a shuffled order (no kind always follows
another; each kind keeps one folio, so each per-folio limiter key holds as many entries). After each
request the lookup beside it is waited for outside the clock, as an attacker spacing requests would.
Printed, per kind: the answer's median time, and the CPU the lookup took, its sending included (its thread's own time:
the part that competes with the answer, free of the neighbours' load that moves every wall-clock figure on a
shared host); and the difference existing − unknown of both, the answer's with a 95 % bootstrap interval.
"""
from __future__ import annotations

import random
import statistics
import threading
import time
import uuid

import pytest

from benchmarks.results_io import report
from registro import create_app
from registro.config import Settings
from registro.applicant import status_views as status_page
from tests.support.registration import csrf_token, mexican_form, post_registration, random_person

SAMPLES = 60
BOOTSTRAP = 2000


def _wait_for_the_lookup() -> None:
    for thread in threading.enumerate():
        if thread.name == "consulta-correo":
            thread.join(30)


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def _difference_interval(a: list[float], b: list[float], rng: random.Random) -> tuple[float, float]:
    """95 % bootstrap interval of median(a) − median(b), in ms."""
    diffs = sorted(_median_ms(rng.choices(a, k=len(a))) - _median_ms(rng.choices(b, k=len(b)))
                   for _ in range(BOOTSTRAP))
    return diffs[int(0.025 * BOOTSTRAP)], diffs[int(0.975 * BOOTSTRAP) - 1]


@pytest.fixture
def lookup_cpu(monkeypatch):
    """The CPU time of each lookup beside a request, its sending included (the thread's own clock, read
    from inside it), in the order they ran: a list of {"start", "end"}."""
    spent: list[dict[str, float]] = []
    real = status_page.deliver_in_background

    def measured(sender, message):
        clock: dict[str, float] = {}
        spent.append(clock)

        def timed():
            clock["start"] = time.thread_time()
            try:
                return message()
            finally:
                clock["end"] = time.thread_time()

        class Sending:  # the sender (the outbox, or the mailer) with the end of each call clocked
            def __getattr__(self, name):
                attr = getattr(sender, name)
                if not callable(attr):
                    return attr

                def call(*args, **kwargs):
                    try:
                        return attr(*args, **kwargs)
                    finally:
                        clock["end"] = time.thread_time()
                return call

        return real(Sending(), timed)

    monkeypatch.setattr(status_page, "deliver_in_background", measured)
    return spent


def test_bench_status_link_request_existing_vs_unknown_folio(lookup_cpu):
    settings = Settings.from_env().with_changes(status_link_limits="100000 per hour",
                                                status_link_folio_limits="100000 per hour",
                                                registration_limits="100000 per hour")
    app = create_app({"SETTINGS": settings, "TESTING": True})
    client = app.test_client()
    identity = app.extensions["registro.adapters"].identity
    accounts = []
    for _ in range(2):
        curp, rfc = random_person()
        email = f"consulta-{uuid.uuid4().hex[:8]}@example.com"
        assert post_registration(client, mexican_form(curp=curp, rfc=rfc, email=email)).status_code == 302
        accounts.append(identity.find_by_email(email))
    token = csrf_token(client.get("/consulta").get_data(as_text=True))
    kinds = {"existente": (accounts[0].attr("folio"), accounts[0].email),
             "existente, otro correo": (accounts[1].attr("folio"), "otra-" + accounts[1].email),
             "desconocido": ("AU-2026-" + uuid.uuid4().hex[:8].upper(), accounts[0].email)}

    def ask(kind: str) -> tuple[float, float]:
        folio, correo = kinds[kind]
        started = time.perf_counter()
        r = client.post("/consulta", data={"csrf_token": token, "folio": folio, "correo": correo})
        elapsed = time.perf_counter() - started
        assert r.status_code == 200, r.status_code
        _wait_for_the_lookup()
        return elapsed, lookup_cpu[-1]["end"] - lookup_cpu[-1]["start"]

    try:
        for kind in kinds:  # warm-up: templates, connections
            ask(kind)
        order = [kind for kind in kinds for _ in range(SAMPLES)]
        rng = random.Random(21)
        rng.shuffle(order)
        answers: dict[str, list[float]] = {kind: [] for kind in kinds}
        cpu: dict[str, list[float]] = {kind: [] for kind in kinds}
        for kind in order:
            elapsed, spent = ask(kind)
            answers[kind].append(elapsed)
            cpu[kind].append(spent)
    finally:
        for account in accounts:
            identity.delete_account(account.id)
    answer_ms = {kind: round(_median_ms(s), 2) for kind, s in answers.items()}
    cpu_ms = {kind: round(_median_ms(s), 2) for kind, s in cpu.items()}
    gap = answer_ms["existente"] - answer_ms["desconocido"]
    cpu_gap = cpu_ms["existente"] - cpu_ms["desconocido"]
    low, high = _difference_interval(answers["existente"], answers["desconocido"], rng)
    lines = [f"solicitud de un enlace de consulta por folio y correo (medianas, n={SAMPLES} de cada tipo, orden "
             f"barajado):",
             *(f"  {kind}: respuesta {answer_ms[kind]:.2f} ms · CPU de la búsqueda a su lado {cpu_ms[kind]:.2f} ms"
               for kind in kinds),
             f"  diferencia existente − desconocido: respuesta {gap:+.2f} ms (IC 95 % {low:+.2f} a {high:+.2f} ms), "
             f"CPU de la búsqueda {cpu_gap:+.2f} ms"]
    report("consulta", {"answer_median_ms": answer_ms, "lookup_cpu_median_ms": cpu_ms, "gap_ms": round(gap, 2),
                        "gap_ci95_ms": [round(low, 2), round(high, 2)], "lookup_cpu_gap_ms": round(cpu_gap, 2),
                        "samples": SAMPLES}, lines)
