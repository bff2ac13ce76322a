"""The outbox's delivery thread (one per process, as in every gunicorn worker)."""
from __future__ import annotations

from registro.platform.outbox import Outbox
from tests.fakes import FakeMailer, FakeOutboxStore
from tests.support.store_contract import email


def test_a_commit_wakes_the_worker_which_sends_at_once_and_idles():
    store, mailer = FakeOutboxStore(), FakeMailer()
    outbox = Outbox(store, mailer, background=True, poll_s=3600)  # no poll: only the wake-up can send it
    outbox.enqueue(email("uno@example.com"), kind="prueba")
    assert outbox.wait_idle(10)
    assert [m.to for m in mailer.sent] == ["uno@example.com"] and outbox.pending() == 0


def test_smtp_down_keeps_the_row_and_a_later_round_sends_it():
    store, mailer = FakeOutboxStore(), FakeMailer()
    outbox = Outbox(store, mailer, background=False)
    mailer.down = True
    outbox.enqueue(email("dos@example.com"), kind="prueba")
    assert outbox.pending() == 1 and not mailer.sent
    assert outbox.deliver_due() == 0  # backed off: not due yet, not even tried
    mailer.down = False
    assert outbox.flush() == 1 and [m.to for m in mailer.sent] == ["dos@example.com"]
