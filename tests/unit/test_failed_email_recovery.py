"""Recovering from an SMTP outage longer than a restart: the outbox keeps trying for hours, a reviewer's
"Reenviar correo" reaches a failed email however old, and an operator queues every failed email again
(the same contract runs on PostgreSQL in tests/integration/test_outbox_operations.py)."""
from __future__ import annotations

import pytest

from registro.platform import outbox as outbox_module
from registro.review.leases import Reviewer
from registro.review.service import ReviewService
from tests.fakes import FakeApplicationStore, FakeOutboxStore
from tests.support import review_data as data
from tests.support import store_contract as contract
from tests.unit.conftest import unit_settings

BETO = Reviewer("id-beto", "beto.revisor")


def test_giving_up_takes_hours_not_minutes():
    """An SMTP outage of an hour or two must not leave every email of it `fallido`."""
    assert outbox_module.give_up_after_s() >= 2 * 3600
    assert outbox_module.give_up_after_s() == sum(outbox_module.backoff_s(n)
                                                  for n in range(1, outbox_module.MAX_ATTEMPTS))
    assert outbox_module.backoff_s(outbox_module.MAX_ATTEMPTS - 1) == outbox_module.MAX_BACKOFF_S  # the cap is reached


def test_an_old_failed_row_is_retried_by_its_id():
    outbox = FakeOutboxStore()
    contract.an_old_failed_row_is_retried_by_its_id(FakeApplicationStore(outbox), outbox, outbox.expedite,
                                                   "AU-2026-VIEJO001")


def test_an_account_gone_takes_its_undelivered_emails():
    outbox = FakeOutboxStore()
    contract.an_account_gone_takes_its_undelivered_emails(FakeApplicationStore(outbox), outbox, outbox.expedite,
                                                          "AU-2026-IDA00001")


def test_every_failed_row_is_queued_again():
    outbox = FakeOutboxStore()
    contract.every_failed_row_is_queued_again(outbox, outbox.expedite)


@pytest.fixture
def service(app, fakes):
    with app.test_request_context():
        yield ReviewService(fakes.identity, fakes.storage, app.extensions["registro.adapters"].outbox, unit_settings(),
                            fakes.queue_index, applications=fakes.applications, leases=fakes.review_leases,
                            decisions=fakes.decisions, audit=fakes.audit)


def test_reenviar_correo_reaches_a_failed_email_older_than_the_newest_100(service, fakes):
    """101 failed emails: the console lists the newest 100, yet the oldest one's application page shows
    it and its "Reenviar correo" queues it (recorded in its history), not "otro revisor lo reenvió"."""
    app = data.create_pending(fakes.identity, fakes.storage)
    account = fakes.identity.get_account(app.id)
    fakes.applications.record(app.id, account.username, {**account.attributes, "folio": "AU-2026-VIEJO002"})
    oldest = fakes.outbox_store.add("enlace_estado", contract.email(app.email), account_id=app.id)
    newer = {fakes.outbox_store.add("prueba", contract.email(f"n{i}@example.com")) for i in range(100)}

    def refuse(row):
        raise OSError("smtp")

    for _ in range(outbox_module.MAX_ATTEMPTS):
        fakes.outbox_store.expedite()
        fakes.outbox_store.deliver_due(refuse, limit=1000)
    assert {f.id for f in service.failed_emails()} == newer
    assert [f.id for f in service.failed_emails(app.id)] == [oldest]
    assert service.retry_email(oldest, BETO)
    assert len(fakes.mailer.to(app.email)) == 1  # delivered (the unit app delivers in the caller's thread)
    assert not service.retry_email(oldest, BETO)
    (resend,) = [e for e in data.audit_events(fakes.audit, app.id) if e["action"] == "reenviar_correo"]
    assert resend["actor_username"] == BETO.username
    assert resend["details"] == {"correo": "enlace_estado", "intentos": outbox_module.MAX_ATTEMPTS}
