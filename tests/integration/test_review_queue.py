"""The review queue on the real stack (the queue's SQL itself: tests/integration/test_queue_sql.py).

- two app instances (two replicas) show the same queue at the same moment;
- "Siguiente solicitud" by reviewers at the same instant gives different applications (the leases);
- the queue and the record agree after every transition (nothing derived to keep in step).
"""
from __future__ import annotations

import re
import threading
from datetime import datetime

import pytest

from registro import create_app
from registro.adapters.storage import S3Store
from registro.config import Settings
from registro.domain.application import Application
from registro.review.leases import Reviewer
from registro.platform.db import Database
from registro.review.queue import PgQueueIndex, QueueFilters
from registro.review.service import ReviewService
from tests.support.reviewer import console_login


@pytest.fixture
def settings() -> Settings:
    s = Settings.from_env()
    assert s.redis_url, "the test stack exports REDIS_URL (Redis runs in every profile)"
    return s


@pytest.fixture
def store(settings):
    return S3Store(settings.s3)


@pytest.fixture
def queue_index(service_settings):
    """The queue the stack's registro reads: SQL over its own database."""
    return PgQueueIndex(Database.shared(service_settings.database_url))


def review_service(settings, gateway, store, queue_index, app=None) -> ReviewService:
    """A ReviewService over the stack's stores (its leases, decisions and audit in PostgreSQL)."""
    a = (app or create_app({"SETTINGS": settings, "TESTING": True})).extensions["registro.adapters"]
    return ReviewService(gateway, store, a.outbox if app else None, settings, queue_index, leases=a.review_leases,
                         decisions=a.decisions, audit=a.audit)


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
    services = [review_service(settings, gateway, store, queue_index) for _ in range(4)]
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


def test_the_queue_and_the_record_agree_after_every_transition(settings, pending, gateway, store, queue_index):
    from datetime import date

    from registro.documents.activation import submit_for_review
    from registro.review.service import documents_digest, round_id
    from tests.unit.test_review_transitions import replace_flagged

    class Live:  # what tests.unit.test_review_transitions.replace_flagged needs
        identity = gateway

    created = pending()
    gateway.update_attributes(created.id, {"estatus": "pendiente_documentos", "fecha_envio": None})
    reviewer = Reviewer("id-rita", "rita")
    app = create_app({"SETTINGS": settings, "TESTING": True})
    service = review_service(settings, gateway, store, queue_index, app)

    def agrees():
        current = Application(gateway.get_account(created.id))
        entry = queue_index.get(created.id)
        if current.status == "en_revision":
            assert (entry.folio, entry.full_name, entry.tipo_usuario, entry.es_extranjero) == \
                (current.folio, current.full_name, current.tipo_usuario, current.es_extranjero)
            assert datetime.fromisoformat(entry.submitted_at) == datetime.fromisoformat(current.submitted_at)
            assert created.id in queue_index.all_ids()
        else:
            assert entry is None and created.id not in queue_index.all_ids()

    def seen():
        current = Application(gateway.get_account(created.id))
        return {"round_seen": round_id(current), "digest_seen": documents_digest(current)}

    agrees()
    submit_for_review(gateway, store, Application(gateway.get_account(created.id)), date.today())
    agrees()
    with app.test_request_context():
        service.claim(created.id, reviewer)
        service.request_correction(created.id, reviewer, reasons={"curp": ["ilegible"]}, comment="", **seen())
        agrees()
        replace_flagged(Live, created.id)
        submit_for_review(gateway, store, Application(gateway.get_account(created.id)), date.today())
        agrees()
        service.claim(created.id, reviewer)
        service.approve(created.id, reviewer, **seen())
        agrees()
