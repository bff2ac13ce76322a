"""The review-queue index on the real stack: Redis, Keycloak and S3.

- the Redis backend answers pages, counts and search exactly like a brute-force scan (a few
  hundred applications, a private key prefix so the stack's own queue is untouched);
- two app instances (two replicas) show the same queue at the same moment;
- "Siguiente solicitud" by reviewers at the same instant gives different applications (S3 leases);
- the index and Keycloak agree after the transitions, and `python -m registro.reindex` reports and
  repairs a deliberately damaged index (a lost entry; a ghost left by a crash between the writes).
"""
from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import threading

import pytest

from registro import create_app
from registro.adapters.storage import S3Store
from registro.config import Settings
from registro.domain.application import Application
from registro.workflow.leases import Reviewer
from registro.workflow.queue_index import QueueFilters, QueueIndex, RedisBackend, entry_for
from registro.workflow.review import ReviewService
from tests.support.reviewer import console_login
from tests.unit.test_queue_index import build, expected

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def settings() -> Settings:
    s = Settings.from_env()
    assert s.redis_url, "the test stack exports REDIS_URL (Redis runs in every profile)"
    return s


@pytest.fixture
def store(settings):
    return S3Store(settings.s3)


def test_redis_index_matches_brute_force_with_a_few_hundred(settings):
    _, apps = build(400, seed=11)
    index = QueueIndex(RedisBackend(settings.redis_url, prefix=f"au:prueba:{secrets.token_hex(4)}:"),
                       clock=lambda: 1000.0)
    try:
        for app in apps:
            index.add(entry_for(app))
        reserved = {a.id: 2000.0 for a in apps[::13]}
        for account_id, expiry in reserved.items():
            index.mark_reserved(account_id, expiry)
        for f in (QueueFilters(), QueueFilters("transportista", "no", "libres"), QueueFilters("", "si", "reservadas"),
                  QueueFilters("mandatario", "", "libres")):
            want, got, page = expected(apps, reserved, f), [], 1
            while True:
                result = index.page(QueueFilters(f.tipo, f.extranjero, f.reserva, page), 25)
                assert result.matching == len(want)
                got += [e.account_id for e in result.entries]
                if page >= result.pages:
                    break
                page += 1
            assert got == want, f
        counts = index.counts()
        assert counts.total == 400 and counts.reserved == len(reserved)
        assert counts.by_extranjero["si"] == sum(a.es_extranjero for a in apps)
        jose = [a.id for a in sorted(apps, key=lambda a: (entry_for(a).score, a.id)) if a.account.first_name == "José"]
        assert [e.account_id for e in index.search("JOSE núñez", limit=1000)] == jose
        assert [e.account_id for e in index.search("au-2026-000042")] == [apps[42].id]
    finally:
        index.clear()


def test_two_replicas_show_the_same_queue_at_the_same_moment(settings, pending, make_account, kc_admin, unique):
    older = pending(fecha_envio="2000-02-01T00:00:00+00:00", tipo_usuario="mandatario")
    newer = pending(fecha_envio="2000-02-02T00:00:00+00:00", tipo_usuario="mandatario")
    replicas = [create_app({"SETTINGS": settings, "TESTING": True}) for _ in range(2)]
    clients = []
    for n, replica in enumerate(replicas):
        from tests.support.reviewer import PASSWORD, ReviewerAccount
        username = f"revisor-{unique}-r{n}"
        account_id = make_account(username=username, role="revisor", enabled=True)
        kc_admin.update_user(account_id, {"emailVerified": True})
        kc_admin.set_user_password(account_id, PASSWORD, temporary=False)
        client = replica.test_client()
        assert console_login(client, ReviewerAccount(id=account_id, username=username)).status_code == 302
        clients.append(client)

    def rows(client):
        body = client.get("/revision/?tipo=mandatario").get_data(as_text=True)
        return re.findall(r'data-solicitud="([^"]+)"', body), re.search(r"Mandatario \((\d+)\)", body).group(1)

    assert rows(clients[0]) == rows(clients[1])
    first, _ = rows(clients[0])
    assert first.index(older.id) < first.index(newer.id)
    # a claim through one replica is visible through the other at once
    page = clients[0].get(f"/revision/{older.id}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert clients[0].post(f"/revision/{older.id}/reservar", data={"csrf_token": token}).status_code == 303
    body = clients[1].get("/revision/?tipo=mandatario&reserva=reservadas").get_data(as_text=True)
    assert older.id in body and newer.id not in body


def test_siguiente_by_reviewers_at_the_same_instant_gives_different_applications(settings, pending, gateway, store,
                                                                                  queue_index):
    apps = [pending(fecha_envio=f"2000-03-01T00:00:0{n}+00:00", tipo_usuario="apoyo_servicio_almacenes_carga")
            for n in range(3)]
    services = [ReviewService(gateway, store, None, settings, queue_index) for _ in range(4)]
    barrier = threading.Barrier(4)
    got: dict[int, str | None] = {}

    def ask(n):
        barrier.wait()
        lease = services[n].next(QueueFilters(tipo="apoyo_servicio_almacenes_carga"), Reviewer(f"id-{n}", f"r{n}"))
        got[n] = lease.account_id if lease else None

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    claimed = [v for v in got.values() if v]
    assert sorted(claimed) == sorted(a.id for a in apps) and list(got.values()).count(None) == 1


def _reindex(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "registro.reindex", *args], cwd=ROOT, env=dict(os.environ),
                          capture_output=True, text=True, timeout=300)


def test_reindex_reports_and_repairs_a_damaged_index(pending, gateway, queue_index):
    lost = pending()
    ghost = pending()
    kept = pending()
    queue_index.remove(lost.id)  # damaged: an entry lost
    gateway.update_attributes(ghost.id, {"estatus": "rechazado"})  # a crash between Keycloak's write and the index's
    check = _reindex("--check")
    assert check.returncode == 1, check.stdout + check.stderr
    assert int(re.search(r"faltaban en el índice: (\d+)", check.stdout).group(1)) >= 1
    assert int(re.search(r"sobraban en el índice: (\d+)", check.stdout).group(1)) >= 1
    repair = _reindex()
    assert repair.returncode == 0, repair.stdout + repair.stderr
    ids = set(queue_index.all_ids())
    assert lost.id in ids and kept.id in ids and ghost.id not in ids
    assert queue_index.get(lost.id) == entry_for(Application(gateway.get_account(lost.id)))
    again = _reindex("--check")
    assert again.returncode == 0 and "sin diferencias" in again.stdout, again.stdout


def test_index_and_keycloak_agree_after_every_transition(settings, pending, gateway, store, queue_index):
    from datetime import date

    from registro.workflow.activation import submit_for_review
    from registro.workflow.review import documents_digest, round_id
    from tests.unit.test_review_transitions import replace_flagged

    class Live:  # what tests.unit.test_review_transitions.replace_flagged needs
        identity = gateway

    created = pending()
    gateway.update_attributes(created.id, {"estatus": "pendiente_documentos", "fecha_envio": None})
    queue_index.remove(created.id)
    reviewer = Reviewer("id-rita", "rita")
    app = create_app({"SETTINGS": settings, "TESTING": True})
    service = ReviewService(gateway, store, app.extensions["registro.adapters"].outbox, settings, queue_index)

    def agrees():
        current = Application(gateway.get_account(created.id))
        entry = queue_index.get(created.id)
        if current.status == "en_revision":
            assert entry == entry_for(current) and entry.terms == entry_for(current).terms
            assert created.id in queue_index.all_ids()
        else:
            assert entry is None and created.id not in queue_index.all_ids()

    def seen():
        current = Application(gateway.get_account(created.id))
        return {"round_seen": round_id(current), "digest_seen": documents_digest(current)}

    agrees()
    submit_for_review(gateway, store, Application(gateway.get_account(created.id)), date.today(), queue_index)
    agrees()
    with app.test_request_context():
        service.claim(created.id, reviewer)
        service.request_correction(created.id, reviewer, reasons={"curp": ["ilegible"]}, comment="", **seen())
        agrees()
        replace_flagged(Live, created.id)
        submit_for_review(gateway, store, Application(gateway.get_account(created.id)), date.today(), queue_index)
        agrees()
        service.claim(created.id, reviewer)
        service.approve(created.id, reviewer, **seen())
        agrees()
