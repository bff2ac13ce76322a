"""The durable outbox: nothing lost while SMTP is down, nothing sent twice by replicas sweeping together."""
from __future__ import annotations

import threading
import time

from registro.adapters.mail import Attachment, OutgoingEmail
from registro.workflow.outbox import Outbox, from_json, to_json
from tests.fakes import FakeMailer, FakeStore


def _email(i: int = 0) -> OutgoingEmail:
    return OutgoingEmail(to=f"p{i}@example.com", subject="Confirme", text="texto", html="<p>html</p>",
                         attachments=(Attachment("responsiva.pdf", "application/pdf", b"%PDF-1.7 \x00\xff"),))


def test_a_message_survives_the_round_trip_through_storage():
    assert from_json(to_json(_email())) == _email()


def test_smtp_down_keeps_the_message_until_a_later_sweep_sends_it():
    store, mailer = FakeStore(), FakeMailer()
    now = [1000.0]
    outbox = Outbox(store, mailer, background=False, clock=lambda: now[0])
    mailer.down = True
    outbox.enqueue(_email())
    assert len(outbox.pending()) == 1 and mailer.sent == []
    mailer.down = False
    assert outbox.drain() == 0  # younger than the grace period: its own process may still be on it
    now[0] += outbox.grace_s + 1
    assert outbox.drain() == 1
    assert [m.to for m in mailer.sent] == ["p0@example.com"] and outbox.pending() == []
    assert not store.list_keys("correo/")  # neither the message nor its sweep lease is left behind


def test_two_replicas_sweeping_at_once_send_each_message_once():
    store, mailer = FakeStore(), FakeMailer()
    mailer.down = True
    first = Outbox(store, mailer, background=False)
    for i in range(10):
        first.enqueue(_email(i))
    mailer.down = False
    replicas = [Outbox(store, mailer, background=False) for _ in range(4)]
    barrier = threading.Barrier(len(replicas))

    def sweep(outbox):
        barrier.wait()
        outbox.drain(min_age_s=0)

    threads = [threading.Thread(target=sweep, args=(o,)) for o in replicas]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(m.to for m in mailer.sent) == sorted(f"p{i}@example.com" for i in range(10))


def test_background_delivery_sends_off_the_callers_thread():
    store, mailer = FakeStore(), FakeMailer()
    outbox = Outbox(store, mailer, background=True)
    outbox.enqueue(_email())
    assert outbox.wait_idle(10)
    assert [m.to for m in mailer.sent] == ["p0@example.com"] and outbox.pending() == []


def test_background_delivery_reuses_one_relay_connection_and_closes_it_at_rest():
    store, mailer = FakeStore(), FakeMailer()
    outbox = Outbox(store, mailer, background=True, idle_close_s=0.2)
    for i in range(5):
        outbox.enqueue(_email(i))
    assert outbox.wait_idle(10)
    assert sorted(m.to for m in mailer.sent) == [f"p{i}@example.com" for i in range(5)]
    assert mailer.connections == 1 and outbox.pending() == []
    (batch,) = mailer.open_batches
    deadline = time.monotonic() + 10
    while batch.connected and time.monotonic() < deadline:  # closed after idle_close_s without messages
        time.sleep(0.01)
    assert not batch.connected
    outbox.enqueue(_email(9))  # the next message opens a new one
    assert outbox.wait_idle(10)
    assert mailer.connections == 2 and mailer.sent[-1].to == "p9@example.com"


def test_a_relay_failure_in_a_batch_keeps_the_message_queued_and_the_next_one_reconnects():
    store, mailer = FakeStore(), FakeMailer()
    outbox = Outbox(store, mailer, background=True, idle_close_s=30)
    mailer.down = True
    outbox.enqueue(_email(1))
    assert outbox.wait_idle(10)
    assert mailer.sent == [] and len(outbox.pending()) == 1
    mailer.down = False
    outbox.enqueue(_email(2))
    assert outbox.wait_idle(10)
    assert [m.to for m in mailer.sent] == ["p2@example.com"] and len(outbox.pending()) == 1
    assert outbox.drain(min_age_s=0) == 1 and outbox.pending() == []
