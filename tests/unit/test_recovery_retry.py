"""Issue 11, item 15: a recovery request that meets Keycloak (or Keycloak's SMTP server) down is
retried with bounded backoff, and each failure is logged with its real cause and no personal data."""
from __future__ import annotations

import logging

import pytest
from keycloak.exceptions import KeycloakPostError

from keycloak_ext import IdentityUnavailable
from registro.workflow.recovery import RecoveryDispatcher, ResetTarget, RetryPolicy, failure_cause
from tests.fakes import FakeIdentity

TARGET = ResetTarget("modulo-ejemplo", "http://modulo.prueba/")
USERNAME = "pepj800101abc"
EMAIL = "pepe@example.com"
FAST = RetryPolicy(attempts=4, first_delay_s=0.01, max_delay_s=0.05)


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


def test_smtp_down_is_retried_until_the_email_goes_out(caplog):
    identity = FlakyIdentity(failures=2)
    account = enabled_account(identity)
    d = RecoveryDispatcher(identity, TARGET, retry=FAST)
    with caplog.at_level(logging.INFO):
        d.request_reset(USERNAME)
        assert d.wait_idle(5)
    assert identity.actions_emails == [(account, ["UPDATE_PASSWORD"])]
    assert identity.tries == 3
    assert caplog.text.count("servidor SMTP no disponible") == 2
    assert USERNAME not in caplog.text and EMAIL not in caplog.text


def test_keycloak_down_then_back_completes():
    identity = FakeIdentity()
    account = enabled_account(identity)
    identity.down = True
    d = RecoveryDispatcher(identity, TARGET, retry=RetryPolicy(attempts=50, first_delay_s=0.01, max_delay_s=0.02))
    d.request_reset(USERNAME)
    assert not d.wait_idle(0.1)  # still retrying: the request was not dropped
    identity.down = False
    assert d.wait_idle(5)
    assert identity.actions_emails == [(account, ["UPDATE_PASSWORD"])]


def test_retries_are_bounded_and_the_last_failure_says_so(caplog):
    identity = FakeIdentity()
    enabled_account(identity)
    identity.down = True
    d = RecoveryDispatcher(identity, TARGET, retry=FAST)
    d.request_reset(USERNAME)
    assert d.wait_idle(5)
    assert "se abandonó una solicitud tras 4 intentos (Keycloak no responde)" in caplog.text
    assert caplog.text.count("se reintenta") == 3
    assert USERNAME not in caplog.text


def test_backoff_doubles_up_to_the_cap():
    policy = RetryPolicy(attempts=9, first_delay_s=2, max_delay_s=60)
    assert [policy.delay(n) for n in range(1, 9)] == [2, 4, 8, 16, 32, 60, 60, 60]


@pytest.mark.parametrize("exc, cause", [
    (IdentityUnavailable("Keycloak no responde"), "Keycloak no responde"),
    (ValueError("pepe@example.com"), "ValueError"),
])
def test_failure_cause_never_quotes_the_message(exc, cause):
    assert failure_cause(exc) == cause
