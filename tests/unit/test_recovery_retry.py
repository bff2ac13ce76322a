"""Issue 11, item 15: a recovery request that meets Keycloak (or Keycloak's SMTP server) down is
retried with bounded backoff, and each failure is logged with its real cause and no personal data.
Issue 20, item 5: the request is an outbox row (kind `recuperacion`), so the retries are the
outbox's and the request survives the process; one that keeps failing is listed for the console."""
from __future__ import annotations

import logging

import pytest
from keycloak.exceptions import KeycloakPostError

from keycloak_ext import IdentityUnavailable
from registro.platform import outbox as outbox_module
from registro.platform.outbox import Outbox
from registro.recovery.service import RECOVERY, RecoveryRequests, ResetTarget, failure_cause
from tests.fakes import FakeIdentity, FakeMailer, FakeOutboxStore

TARGET = ResetTarget("modulo-ejemplo", "http://modulo.prueba/")
USERNAME = "pepj800101abc"
EMAIL = "pepe@example.com"


class FlakyIdentity(FakeIdentity):
    """Fails the first `failures` sends with the error Keycloak gives when its SMTP server is down."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures
        self.tries = 0

    def send_actions_email(self, account_id, actions, **kwargs):
        self.tries += 1
        if self.tries <= self.failures:
            cause = KeycloakPostError(error_message=b"", response_code=500,
                                      response_body=b'{"errorMessage":"Failed to send execute actions email: '
                                                    b'pepe@example.com"}')
            raise IdentityUnavailable("Keycloak respondió 500") from cause
        return super().send_actions_email(account_id, actions, **kwargs)


def enabled_account(identity):
    return identity.create_account(username=USERNAME, email=EMAIL, first_name="José", last_name="Pérez",
                                   attributes={"estatus": "aprobado"}, enabled=True)


def requests_over(identity, store=None) -> RecoveryRequests:
    """The recovery front door's queue over an outbox delivering in the caller's thread (as in unit
    tests and the `make` commands); the container routes the kind the same way."""
    outbox = Outbox(store or FakeOutboxStore(), FakeMailer(), background=False)
    requests = RecoveryRequests(outbox, identity, TARGET)
    outbox.route(RECOVERY, requests.deliver)
    return requests


def next_round(requests: RecoveryRequests) -> None:
    """The back-off passes and the worker takes its next round."""
    requests.outbox.store.expedite()
    requests.outbox.deliver_due()


def test_smtp_down_is_retried_until_the_email_goes_out(caplog):
    identity = FlakyIdentity(failures=2)
    account = enabled_account(identity)
    requests = requests_over(identity)
    with caplog.at_level(logging.INFO):
        requests.request_reset(USERNAME)
        next_round(requests)
        assert identity.actions_emails == []
        next_round(requests)
    assert identity.actions_emails == [(account, ["UPDATE_PASSWORD"])]
    assert identity.tries == 3
    assert caplog.text.count("servidor SMTP no disponible") == 2
    assert USERNAME not in caplog.text and EMAIL not in caplog.text
    (row,) = requests.outbox.store.of_kind(RECOVERY)
    assert row["state"] == "enviado" and row["message"] == b""  # the username does not stay in the database


def test_keycloak_down_then_back_completes():
    identity = FakeIdentity()
    account = enabled_account(identity)
    identity.down = True
    requests = requests_over(identity)
    requests.request_reset(USERNAME)
    next_round(requests)
    assert requests.outbox.pending() == 1  # still retrying: the request was not dropped
    identity.down = False
    next_round(requests)
    assert identity.actions_emails == [(account, ["UPDATE_PASSWORD"])] and requests.outbox.pending() == 0


def test_a_request_survives_the_process_that_took_it():
    """The in-process queue it replaces lost its requests with the process; a row does not."""
    identity = FakeIdentity()
    account = enabled_account(identity)
    identity.down = True
    store = FakeOutboxStore()
    requests_over(identity, store).request_reset(USERNAME)
    identity.down = False
    restarted = requests_over(identity, store)  # another process (or replica) over the same table
    next_round(restarted)
    assert identity.actions_emails == [(account, ["UPDATE_PASSWORD"])]


def test_retries_are_bounded_and_the_last_failure_is_listed_with_its_cause(caplog):
    identity = FakeIdentity()
    enabled_account(identity)
    identity.down = True
    requests = requests_over(identity)
    requests.request_reset(USERNAME)
    for _ in range(outbox_module.MAX_ATTEMPTS):
        next_round(requests)
    assert f"fallido tras {outbox_module.MAX_ATTEMPTS} intentos (Keycloak no responde)" in caplog.text
    assert caplog.text.count("recuperación: intento") == outbox_module.MAX_ATTEMPTS
    assert USERNAME not in caplog.text
    (failed,) = requests.outbox.failed()
    assert (failed.kind, failed.last_error, failed.account_id) == (RECOVERY, "Keycloak no responde", None)
    identity.down = False
    assert requests.outbox.retry(failed.id)  # "Reenviar correo" in the console
    assert identity.actions_emails and requests.outbox.failed() == []


def test_backoff_doubles_up_to_the_cap():
    assert [outbox_module.backoff_s(n) for n in range(1, 10)] == [10, 20, 40, 80, 160, 320, 640, 1280, 1800]


@pytest.mark.parametrize("exc, cause", [
    (IdentityUnavailable("Keycloak no responde"), "Keycloak no responde"),
    (ValueError("pepe@example.com"), "ValueError"),
])
def test_failure_cause_never_quotes_the_message(exc, cause):
    assert failure_cause(exc) == cause
