"""registro counts every request Keycloak answers (observability/counters.KEYCLOAK_REQUESTS): the gateway
tells each answer's method and status, from both of python-keycloak's sessions (token and admin API)."""
from __future__ import annotations

import pytest
import responses

from keycloak_ext import AccountNotFound, KeycloakGateway, KeycloakSettings
from registro.observability import counters
from registro.observability.metrics import exposition
from tests.support import metrics

SERVER = "http://keycloak.invalid:8080"
_SETTINGS = KeycloakSettings(server_url=SERVER, realm="anam", client_id="registro-service",
                             client_secret="x" * 32, admin_user="admin", admin_password="x")


def test_the_gateway_tells_every_answer_of_both_sessions():
    told: list[tuple[str, int]] = []
    gateway = KeycloakGateway.for_service(_SETTINGS, on_answer=lambda method, status: told.append((method, status)))
    with responses.RequestsMock() as rsps:
        rsps.add(responses.POST, f"{SERVER}/realms/anam/protocol/openid-connect/token",
                 json={"access_token": "t", "expires_in": 300, "token_type": "Bearer"})
        rsps.add(responses.GET, f"{SERVER}/admin/realms/anam/users/ausente", status=404,
                 json={"error": "User not found"})
        rsps.add(responses.GET, f"{SERVER}/admin/realms/anam/users", json=[])
        with pytest.raises(AccountNotFound):
            gateway.get_account("ausente")
        assert gateway.find_by_email("nadie@example.com") is None
    assert told == [("POST", 200), ("GET", 404), ("GET", 200)]


def test_without_a_listener_nothing_is_hooked():
    conn = KeycloakGateway.for_service(_SETTINGS).admin.connection
    assert conn._s.hooks["response"] == [] and conn.keycloak_openid.connection._s.hooks["response"] == []  # noqa: SLF001


def _count(endpoint: str, method: str, status: str) -> float:
    return metrics.keycloak_requests(exposition(None).decode()).get((endpoint, method, status), 0.0)


@pytest.mark.parametrize("told, series", [
    (("POST", 201, "registration.form"), ("registration.form", "POST", "2xx")),
    (("GET", 404, None), ("fondo", "GET", "4xx")),  # the reconciler, the outbox: no request
    (("PATCH", 503, "review.detail"), ("review.detail", "otro", "5xx")),
    (("GET", 99, "review.detail"), ("review.detail", "GET", "otro")),
])
def test_each_answer_is_counted_under_its_endpoint_method_and_status_class(told, series):
    before = _count(*series)
    counters.keycloak_answered(*told)
    assert _count(*series) - before == 1
