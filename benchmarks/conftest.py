"""Fixtures shared by the benchmarks that `make bench` runs with pytest."""
from __future__ import annotations

import pytest

from keycloak_ext import KeycloakGateway, KeycloakSettings


@pytest.fixture(scope="module")
def admin():
    """The master admin bound to realm `anam`, for the benchmarks' throwaway anchor realms."""
    admin = KeycloakGateway.for_bootstrap_admin(KeycloakSettings.from_env()).admin
    admin.connection.timeout = 300  # creating a realm takes tens of seconds on a busy host
    return admin

