"""Leases, decisions, idempotency and the audit trail of the review console, with the fakes."""
from __future__ import annotations

import json
import re
import threading
import time

import pytest

from registro.platform import outbox as outbox_module
from registro.review.leases import LeaseHeld, Leases, Reviewer
from keycloak_ext.passwords import temporary_password
from registro.review.service import (QueueFilters, ReviewRefused, ReviewService, documents_digest,
                                      round_id)
from tests.support import review_data as data
from tests.unit.conftest import unit_settings

ANA = Reviewer("id-ana", "ana.revisora")
BETO = Reviewer("id-beto", "beto.revisor")


def outbox_of(app):
    """The app's outbox (delivering in the caller's thread in unit tests), with its deliverers."""
    return app.extensions["registro.adapters"].outbox


@pytest.fixture
def service(app, fakes):
    with app.test_request_context():
        yield ReviewService(fakes.identity, fakes.storage, outbox_of(app), unit_settings(), fakes.queue_index,
                            applications=fakes.applications, leases=fakes.review_leases, decisions=fakes.decisions,
                            audit=fakes.audit)


def seen(service, account_id):
    app = service.application(account_id)
    return {"round_seen": round_id(app), "digest_seen": documents_digest(app)}


def test_claim_conflict_expiry_and_release():
    from tests.fakes import FakeLeaseStore

    now = [100.0]
    leases = Leases(FakeLeaseStore(clock=lambda: now[0]), 60)
    assert leases.claim("x", ANA).holder_id == ANA.id
    assert leases.claim("x", ANA).expires_at == 160.0  # renewing one's own claim
    with pytest.raises(LeaseHeld) as held:
        leases.claim("x", BETO)
    assert held.value.lease.holder_username == ANA.username
    now[0] = 161.0
    assert leases.claim("x", BETO).holder_id == BETO.id
    assert leases.release("x", ANA) is False
    assert leases.release("x", BETO) is True and leases.active("x") is None


def test_concurrent_claims_one_winner():
    from tests.fakes import FakeLeaseStore

    leases = Leases(FakeLeaseStore(), 60)
    barrier = threading.Barrier(8)
    results = []

    def attempt(n):
        barrier.wait()
        try:
            results.append(leases.claim("x", Reviewer(f"r{n}", f"r{n}")).holder_id)
        except LeaseHeld:
            results.append(None)

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert len([r for r in results if r]) == 1


@pytest.mark.parametrize("n", range(20))
def test_temporary_password_meets_the_realm_policy(n):
    password = temporary_password("usuario", "usuario@example.com")
    assert len(password) >= 12
    for pattern in (r"[A-Z]", r"[a-z]", r"[0-9]", r"[^A-Za-z0-9]"):
        assert re.search(pattern, password)
    assert "usuario" not in password.lower()


def test_queue_is_oldest_first_with_counts_and_filters(service, fakes):
    newer = data.create_pending(fakes.identity, fakes.storage, fecha_envio="2026-01-02T00:00:00+00:00")
    older = data.create_pending(fakes.identity, fakes.storage, fecha_envio="2026-01-01T00:00:00+00:00", foreign=True,
                                tipo_usuario="transportista")
    page = service.queue(QueueFilters())
    assert [i.account_id for i, _ in page.rows] == [older.id, newer.id]
    assert page.by_tipo == {"agente_aduanal": 1, "transportista": 1} and page.by_extranjero == {"si": 1, "no": 1}
    service.claim(newer.id, ANA)
    assert [i.account_id for i, _ in service.queue(QueueFilters(reserva="reservadas")).rows] == [newer.id]
    assert [i.account_id for i, _ in service.queue(QueueFilters(reserva="libres")).rows] == [older.id]
    assert [i.account_id for i, _ in service.queue(QueueFilters(extranjero="no")).rows] == [newer.id]


def test_decision_requires_the_lease(service, fakes):
    app = data.create_pending(fakes.identity, fakes.storage)
    with pytest.raises(ReviewRefused):
        service.approve(app.id, ANA, **seen(service, app.id))
    service.claim(app.id, ANA)
    with pytest.raises(ReviewRefused):
        service.approve(app.id, BETO, **seen(service, app.id))
    assert fakes.identity.get_account(app.id).attr("estatus") == "en_revision"


def test_approve_twice_makes_one_decision_one_email_and_one_audit_event(service, fakes):
    app = data.create_pending(fakes.identity, fakes.storage)
    service.claim(app.id, ANA)
    before = seen(service, app.id)
    first = service.approve(app.id, ANA, **before)
    second = service.approve(app.id, ANA, **before)
    assert not first.already_decided and second.already_decided
    assert len(fakes.mailer.to(app.email)) == 1
    assert fakes.outbox_store.pending_count() == 0  # nothing left held or waiting
    account = fakes.identity.get_account(app.id)
    assert account.enabled and account.attr("estatus") == "aprobado"
    password, temporary = fakes.identity.passwords[app.id]
    assert temporary and password in fakes.mailer.to(app.email)[0].text
    events = data.audit_events(fakes.audit, app.id)
    assert [e["action"] for e in events].count("aprobar") == 1
    assert all(password not in json.dumps(e) for e in events)
    assert password not in json.dumps(account.attributes)


def approve(service, account_id):
    service.claim(account_id, ANA)
    return service.approve(account_id, ANA, **seen(service, account_id))


def test_approval_counts_the_role_held_through_the_user_type_group(service, fakes):
    app = data.create_pending(fakes.identity, fakes.storage, tipo_usuario="mandatario")
    assert not approve(service, app.id).already_decided
    assert fakes.identity.get_account(app.id).attr("estatus") == "aprobado"
    assert "mandatario" in fakes.identity.realm_roles_of(app.id)
    assert fakes.identity.roles[app.id] == set()  # no redundant direct mapping
    assert fakes.identity.calls.get("assign_realm_role", 0) == 0


@pytest.mark.parametrize("role", ["none", "direct"])
def test_approval_of_an_account_registered_before_the_groups_gives_it_the_role(service, fakes, role):
    app = data.create_pending(fakes.identity, fakes.storage, tipo_usuario="mandatario",
                              role=role)
    before = fakes.identity.calls.get("assign_realm_role", 0)
    assert not approve(service, app.id).already_decided
    assert fakes.identity.memberships[app.id] == set()
    assert fakes.identity.roles[app.id] == {"mandatario"}  # direct: the only way it can hold it
    assert fakes.identity.calls.get("assign_realm_role", 0) - before == (1 if role == "none" else 0)


def test_changed_round_is_refused(service, fakes):
    app = data.create_pending(fakes.identity, fakes.storage)
    service.claim(app.id, ANA)
    before = seen(service, app.id)
    data.resubmit(fakes.identity, app.id)
    fakes.identity.update_attributes(app.id, {"fecha_envio": "2030-01-01T00:00:00+00:00"})
    with pytest.raises(ReviewRefused):
        service.approve(app.id, ANA, **before)


def test_enlace_mode_enables_then_sends_keycloaks_email(app, fakes):
    with app.test_request_context():
        service = ReviewService(fakes.identity, fakes.storage, outbox_of(app), unit_settings(credentials_mode="enlace"),
                                fakes.queue_index, leases=fakes.review_leases, decisions=fakes.decisions,
                                audit=fakes.audit)
        pending = data.create_pending(fakes.identity, fakes.storage)
        service.claim(pending.id, ANA)
        service.approve(pending.id, ANA, **seen(service, pending.id))
    assert fakes.identity.actions_emails == [(pending.id, ["UPDATE_PASSWORD"])]
    assert pending.id not in fakes.identity.passwords
    assert "Contraseña temporal" not in fakes.mailer.to(pending.email)[0].text


def test_mail_down_queues_the_approval_and_the_outbox_sends_it_when_smtp_is_back(service, fakes):
    """Issue 20, item 5: an SMTP outage no longer needs a reviewer's "Reenviar correo"."""
    app = data.create_pending(fakes.identity, fakes.storage)
    service.claim(app.id, ANA)
    fakes.mailer.down = True
    outcome = service.approve(app.id, ANA, **seen(service, app.id))
    assert not outcome.already_decided
    assert fakes.identity.get_account(app.id).attr("estatus") == "aprobado"
    (row,) = fakes.outbox_store.of_kind("aprobacion")
    assert row["state"] == "pendiente" and row["attempts"] == 1 and fakes.mailer.to(app.email) == []
    assert service.failed_emails() == []  # waiting for SMTP, not failed
    password = fakes.identity.passwords[app.id][0]
    fakes.mailer.down = False
    fakes.outbox_store.expedite()  # the back-off passes; the worker's next round:
    assert service.outbox.deliver_due() == 1
    (mail,) = fakes.mailer.to(app.email)
    assert password in mail.text and fakes.identity.passwords[app.id][0] == password  # the one Keycloak holds
    assert row["state"] == "enviado" and row["message"] == b""  # the password does not stay in the database
    assert fakes.outbox_store.pending_count() == 0


def test_an_email_that_keeps_failing_is_listed_and_a_reviewer_queues_it_again(service, fakes):
    app = data.create_pending(fakes.identity, fakes.storage)
    account = fakes.identity.get_account(app.id)
    fakes.applications.record(app.id, account.username, {**account.attributes, "folio": "AU-2026-FALLA001"})
    service.claim(app.id, ANA)
    fakes.mailer.down = True
    service.approve(app.id, ANA, **seen(service, app.id))
    for _ in range(outbox_module.MAX_ATTEMPTS):
        fakes.outbox_store.expedite()
        service.outbox.deliver_due()
    (failed,) = service.failed_emails()
    assert (failed.kind, failed.account_id, failed.folio, failed.attempts) == (
        "aprobacion", app.id, "AU-2026-FALLA001", outbox_module.MAX_ATTEMPTS)
    assert failed.last_error == "MailUnavailable" and service.failed_emails(app.id) == [failed]
    assert service.failed_emails("otra-cuenta") == []
    fakes.mailer.down = False
    assert service.retry_email(failed.id, BETO)
    assert not service.retry_email(failed.id, BETO)  # already queued again: nothing twice
    assert service.failed_emails() == [] and len(fakes.mailer.to(app.email)) == 1
    events = data.audit_events(fakes.audit, app.id)
    (resend,) = [e for e in events if e["action"] == "reenviar_correo"]
    assert resend["actor_username"] == BETO.username and resend["details"]["correo"] == "aprobacion"


def test_correction_and_rejection(service, fakes):
    app = data.create_pending(fakes.identity, fakes.storage)
    service.claim(app.id, ANA)
    with pytest.raises(ReviewRefused):
        service.request_correction(app.id, ANA, reasons={}, comment="", **seen(service, app.id))
    service.request_correction(app.id, ANA, reasons={"curp": ["ilegible"]}, comment="Escanee de nuevo.",
                               **seen(service, app.id))
    account = fakes.identity.get_account(app.id)
    assert account.attr("estatus") == "requiere_correccion"
    assert json.loads(account.attr("motivos_correccion"))["documentos"] == {"curp": ["ilegible"]}
    mail = fakes.mailer.to(app.email)[-1]
    assert "El documento no es legible." in mail.text and "/activacion/" in mail.text
    deadline = "Tiene 30 días para enviar los documentos corregidos"  # ops/expiry.py deletes it then
    assert deadline in mail.text and deadline in mail.html
    data.resubmit(fakes.identity, app.id)
    service.claim(app.id, ANA)
    with pytest.raises(ReviewRefused):
        service.reject(app.id, ANA, reason="  ", **seen(service, app.id))
    service.reject(app.id, ANA, reason="Documentos apócrifos.", **seen(service, app.id))
    assert fakes.identity.get_account(app.id).attr("estatus") == "rechazado"
    assert "Documentos apócrifos." in fakes.mailer.to(app.email)[-1].text


def test_a_rejection_frees_the_person_and_the_next_reviewer_sees_it(app, fakes):
    """SPEC §9: a rejected person may apply again (the identifiers are released in registro's database
    with the rejection); the reviewer of the new application sees the earlier rejection."""
    from registro.kernel.applications import IdentifiersTaken, Intent, identifiers_of

    with app.app_context():
        service = ReviewService(fakes.identity, fakes.storage, outbox_of(app), unit_settings(), fakes.queue_index,
                                applications=fakes.applications, leases=fakes.review_leases, decisions=fakes.decisions,
                                audit=fakes.audit)
        first = data.create_pending(fakes.identity, fakes.storage)
        account = fakes.identity.get_account(first.id)
        fakes.applications.record(first.id, account.username, account.attributes)
        ids = identifiers_of(account.attributes)
        again = Intent.new(folio="AU-2026-DENUEVO1", username="otra", link_version="v", es_extranjero=False)
        with pytest.raises(IdentifiersTaken):
            fakes.applications.begin(again, ids)
        assert service.detail(first.id).earlier_rejections == 0
        service.claim(first.id, ANA)
        service.reject(first.id, ANA, reason="Documentos apócrifos.", **seen(service, first.id))
        assert fakes.applications.state_of(first.id) == "rechazada"
        fakes.applications.begin(again, ids)  # released: the person applies again
        second = data.create_pending(fakes.identity, fakes.storage)
        detail = service.detail(second.id)
        assert detail.earlier_rejections == 1
        # What the reviewer no longer has to search by hand: which application, when, and why.
        (earlier,) = detail.earlier
        assert (earlier.account_id, earlier.folio, earlier.reason) == (first.id, account.attr("folio"),
                                                                       "Documentos apócrifos.")
        assert earlier.decided_at.startswith("20")
    from tests.unit.test_review_web import log_in

    client = app.test_client()
    log_in(client, fakes)
    page = client.get(f"/revision/{second.id}").get_data(as_text=True)
    listed = page.split('id="rechazos-anteriores"', 1)[1].split("</dd>", 1)[0]
    assert f'href="/revision/{first.id}"' in listed and account.attr("folio") in listed
    assert "«Documentos apócrifos.»" in listed and "rechazada el " in listed
