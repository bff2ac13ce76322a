"""The Keycloak gateway skips requests' per-call scan of the environment only when that scan could
find nothing: a proxy or CA-bundle variable set at start is still honoured."""
from __future__ import annotations

import pytest

from keycloak_ext import KeycloakGateway, KeycloakSettings
from keycloak_ext.gateway import environment_configures_http

_SETTINGS = KeycloakSettings(server_url="http://127.0.0.1:1", realm="anam", client_id="registro-service",
                             client_secret="x" * 32, admin_user="admin", admin_password="x")


def _sessions(gateway: KeycloakGateway):
    conn = gateway.admin.connection
    return [conn._s, conn.keycloak_openid.connection._s]  # noqa: SLF001


@pytest.mark.parametrize("environ, configured", [
    ({"PATH": "/bin", "HOME": "/root"}, False),
    ({"HTTPS_PROXY": "http://proxy:3128"}, True),
    ({"no_proxy": "localhost"}, True),
    ({"Ftp_Proxy": "http://proxy:3128"}, True),
    ({"REQUESTS_CA_BUNDLE": "/etc/ssl/ca.pem"}, True),
])
def test_which_variables_requests_would_act_on(environ, configured):
    assert environment_configures_http(environ) is configured


def test_without_proxy_variables_the_scan_is_off(monkeypatch):
    for name in list(__import__("os").environ):
        if name.lower().endswith("_proxy") or name.lower() in ("requests_ca_bundle", "curl_ca_bundle"):
            monkeypatch.delenv(name)
    assert all(s.trust_env is False for s in _sessions(KeycloakGateway.for_service(_SETTINGS)))


def test_a_proxy_variable_set_at_start_is_honoured(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    assert all(s.trust_env is True for s in _sessions(KeycloakGateway.for_service(_SETTINGS)))
