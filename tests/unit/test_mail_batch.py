"""SmtpBatch: several messages over one relay connection, with the relay's own ways of failing
(smtplib replaced by a relay double that keeps the protocol's order: connect, send, quit)."""
from __future__ import annotations

import smtplib

import pytest

from registro.adapters import mail
from registro.adapters.mail import MailUnavailable, OutgoingEmail, SmtpMailer
from tests.unit.conftest import unit_settings


class Relay:
    """What the relay saw: connections opened and messages accepted per connection."""

    def __init__(self) -> None:
        self.connections: list[RelayConnection] = []
        self.refuse_connections = False

    def factory(self, host, port, timeout=None, **_):
        if self.refuse_connections:
            raise ConnectionRefusedError(111, "refused")
        conn = RelayConnection()
        self.connections.append(conn)
        return conn


class RelayConnection:
    def __init__(self) -> None:
        self.messages: list[str] = []
        self.dropped_by_relay = False  # the relay closed it (idle timeout): the next command fails
        self.quit_called = False
        self.closed = False

    def sendmail(self, from_addr, to_addrs, msg, mail_options=(), rcpt_options=()) -> dict:
        if self.dropped_by_relay or self.closed:
            raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
        self.messages.extend(to_addrs)
        return {}

    def quit(self):
        self.quit_called = True
        self.closed = True

    def close(self):
        self.closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


@pytest.fixture
def relay(monkeypatch) -> Relay:
    r = Relay()
    monkeypatch.setattr(mail.smtplib, "SMTP", r.factory)
    return r


def _email(to: str) -> OutgoingEmail:
    return OutgoingEmail(to=to, subject="Confirme su correo", text="texto", html="<p>html</p>")


def test_messages_of_a_batch_share_one_connection_closed_with_quit(relay):
    mailer = SmtpMailer(unit_settings().smtp)
    with mailer.batch() as batch:
        assert relay.connections == []  # opened at the first message, not before
        for i in range(3):
            batch.send(_email(f"p{i}@example.com"))
    (conn,) = relay.connections
    assert conn.messages == ["p0@example.com", "p1@example.com", "p2@example.com"] and conn.quit_called


def test_a_connection_the_relay_closed_while_idle_is_replaced_and_the_message_sent_once(relay):
    batch = SmtpMailer(unit_settings().smtp).batch()
    batch.send(_email("a@example.com"))
    relay.connections[0].dropped_by_relay = True
    batch.send(_email("b@example.com"))
    assert [c.messages for c in relay.connections] == [["a@example.com"], ["b@example.com"]]
    assert relay.connections[0].closed
    batch.close()


def test_a_fresh_connection_that_fails_is_reported_not_retried(relay, monkeypatch):
    def drops_at_once(self, *args):
        raise smtplib.SMTPServerDisconnected("closed")

    monkeypatch.setattr(RelayConnection, "sendmail", drops_at_once)
    batch = SmtpMailer(unit_settings().smtp).batch()
    with pytest.raises(MailUnavailable):
        batch.send(_email("a@example.com"))
    assert len(relay.connections) == 1 and relay.connections[0].closed


def test_relay_down_raises_mail_unavailable_and_the_next_send_connects_again(relay):
    batch = SmtpMailer(unit_settings().smtp).batch()
    relay.refuse_connections = True
    with pytest.raises(MailUnavailable):
        batch.send(_email("a@example.com"))
    relay.refuse_connections = False
    batch.send(_email("a@example.com"))
    assert [c.messages for c in relay.connections] == [["a@example.com"]]
    batch.close()
