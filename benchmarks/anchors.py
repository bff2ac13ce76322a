"""Throwaway Keycloak realms for the benchmarks' anchors: Keycloak doing the same job itself."""
from __future__ import annotations

import json
import uuid
from contextlib import contextmanager
from typing import Iterator

from keycloak_ext import KeycloakSettings


@contextmanager
def throwaway_realm(admin, prefix: str, *, source=None, **settings) -> Iterator[str]:
    """A realm for a benchmark's anchor (Keycloak doing the same job itself) with the stack's SMTP and
    `settings`, deleted afterwards. Yields its name. `source`: the stack Keycloak's admin, when `admin`
    is another Keycloak's (benchmarks/anchor_keycloak.py)."""
    anam = anam_realm(source or admin)
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    admin.connection.raw_post("admin/realms", data=json.dumps({
        "realm": name, "enabled": True,
        "smtpServer": {k: v for k, v in anam.get("smtpServer", {}).items() if k != "password"},  # masked on read
        **settings})).raise_for_status()
    try:
        yield name
    finally:
        admin.connection.raw_delete(f"admin/realms/{name}")


def anam_realm(admin) -> dict:
    """The project's realm as the admin API shows it (its password policy, SMTP server…)."""
    return admin.connection.raw_get(f"admin/realms/{KeycloakSettings.from_env().realm}").json()
