"""Fixtures for the production topology (`make test` starts a fresh `prodtest` stack for these).

The tests act on the stack's processes (SIGKILL a Keycloak node, a registro replica; restart; wipe
and restore) through the same pid files `python -m tools.stack` keeps, and talk to the services
through the balancer exactly as browsers do."""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Callable

import boto3
import pytest
import requests
from botocore.config import Config
from requests.adapters import HTTPAdapter

from keycloak_ext import KeycloakGateway, KeycloakSettings
from tests.production.http import BalancerClient
from tests.support.mailbox import Mailbox
from tests.support.reviewer import PASSWORD as REVIEWER_PASSWORD
from tests.support.reviewer import ReviewerAccount, console_login
from tests.support.stack import StackMissing
from tools.stack.profiles import PRODUCTION_PROFILES, Profile
from tools.stack.runner import Stack

pytestmark = pytest.mark.integration


def eventually(check: Callable[[], object], timeout_s: float = 60.0, what: str = "la condición"):
    """Polls `check` until it returns something truthy (a readiness probe, never a fixed wait)."""
    deadline = time.monotonic() + timeout_s
    delay = 0.05
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"no se cumplió {what} en {timeout_s:.0f} s")
        time.sleep(delay)
        delay = min(delay * 2, 0.5)


@pytest.fixture(scope="session")
def prod() -> Stack:
    name = os.environ.get("STACK_PROFILE")
    if name not in PRODUCTION_PROFILES:
        raise StackMissing("sin pila de producción: ejecute `make test` (levanta la pila prodtest para estas pruebas)")
    stack = Stack(Profile.named(name))
    missing = [s for s in stack.services if stack.pid_of(s) is None]
    if missing:
        raise StackMissing(f"la pila «{name}» no está completa; faltan: {', '.join(missing)}")
    return stack


@pytest.fixture(scope="session")
def env(prod: Stack) -> dict[str, str]:
    return prod.env


def kill(stack: Stack, name: str) -> None:
    """SIGKILL to the whole process group: no shutdown hook, no goodbye to the cluster."""
    pid = stack.pid_of(name)
    assert pid is not None, f"{name} no está corriendo"
    os.killpg(pid, signal.SIGKILL)
    eventually(lambda: stack.pid_of(name) is None, 20, f"que {name} terminara")


def restart(stack: Stack, name: str) -> None:
    stack.stop(name)
    stack.start(name)
    stack.wait_ready(name)


def log_offset(stack: Stack, name: str) -> int:
    path = stack.log_of(name)
    return path.stat().st_size if path.exists() else 0


def log_since(stack: Stack, name: str, offset: int) -> str:
    with open(stack.log_of(name), "rb") as log:
        log.seek(offset)
        return log.read().decode(errors="replace")


def all_logs(stack: Stack) -> dict[str, str]:
    return {p.name: p.read_text(errors="replace") for p in Path(stack.logs).glob("*.log")}


@pytest.fixture(scope="session")
def kc_settings(env) -> KeycloakSettings:
    return KeycloakSettings.from_env(dict(env))


@pytest.fixture(scope="session")
def gateway(kc_settings, env):
    """The identity directory the service uses: applications from registro's database, accounts from
    Keycloak (kernel/records.py)."""
    from registro.config import Settings
    from registro.kernel.records import RecordedIdentity
    from registro.platform.db import Database

    return RecordedIdentity(KeycloakGateway.for_service(kc_settings),
                            Database.shared(Settings.from_env(dict(env)).database_url))


@pytest.fixture(scope="session")
def kc_admin(kc_settings):
    return KeycloakGateway.for_bootstrap_admin(kc_settings).admin


@pytest.fixture(scope="session")
def s3(env):
    return boto3.client("s3", endpoint_url=env["S3_ENDPOINT_URL"], aws_access_key_id=env["S3_ACCESS_KEY"],
                        aws_secret_access_key=env["S3_SECRET_KEY"], region_name="us-east-1",
                        config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"))


@pytest.fixture(scope="session")
def mailbox(env) -> Mailbox:
    return Mailbox(env["MAIL_API_URL"])


@pytest.fixture(scope="session")
def service_settings(env):
    from registro.config import Settings

    return Settings.from_env(dict(env))


@pytest.fixture
def registro(env) -> BalancerClient:
    """A browser at the public registro front (the balancer)."""
    return BalancerClient(env["REGISTRO_PUBLIC_URL"])


def from_address(session: requests.Session, address: str) -> requests.Session:
    """Makes `session` connect from another loopback address: another client, as the balancer sees it."""

    class SourceAdapter(HTTPAdapter):
        def init_poolmanager(self, *args, **kwargs):
            kwargs["source_address"] = (address, 0)
            super().init_poolmanager(*args, **kwargs)

    session.mount("http://", SourceAdapter())
    session.mount("https://", SourceAdapter())
    return session


def make_user(kc_admin, unique: str, *, password: str, role: str, attributes: dict, email: str | None = None,
              first_name: str = "Ana", last_name: str = "Pérez López") -> tuple[str, str]:
    username = f"prod-{unique}"
    account_id = kc_admin.create_user({
        "username": username, "email": email or f"{username}@example.com", "firstName": first_name,
        "lastName": last_name, "enabled": True, "emailVerified": True,
        "attributes": {k: [v] for k, v in attributes.items()}})
    kc_admin.set_user_password(account_id, password, temporary=False)
    role_repr = kc_admin.get_realm_role(role)
    kc_admin.assign_realm_roles(account_id, [role_repr])
    return account_id, username


@pytest.fixture
def reviewer_console(env, kc_admin, unique):
    """A reviewer logged into the console through the balancer (password and OTP enrolment at
    Keycloak's public front)."""
    account_id, username = make_user(kc_admin, f"rev-{unique}", password=REVIEWER_PASSWORD, role="revisor",
                                     attributes={}, first_name="Rita", last_name="Revisora")
    reviewer = ReviewerAccount(id=account_id, username=username)
    client = BalancerClient(env["REGISTRO_PUBLIC_URL"])
    r = console_login(client, reviewer)
    assert r.status_code == 302 and r.location.endswith("/revision/"), (r.status_code, r.text[:500])
    client.reviewer = reviewer
    yield client
    kc_admin.delete_user(account_id)



def metric_value(text: str, name: str, **labels: str) -> float:
    """Sum of the samples of `name` whose labels include `labels` (0 when none)."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        head, _, value = line.rpartition(" ")
        if all(f'{k}="{v}"' in head for k, v in labels.items()):
            total += float(value)
    return total


def stored_documents(s3, bucket: str, account_id: str) -> dict[str, list[str]]:
    """SHA-256 of every stored document of an application, by kind (documentos/<kind>/<random>)."""
    import hashlib

    found: dict[str, list[str]] = {}
    prefix = f"solicitudes/{account_id}/documentos/"
    for item in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []):
        kind = item["Key"][len(prefix):].split("/", 1)[0]
        body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
        found.setdefault(kind, []).append(hashlib.sha256(body).hexdigest())
    return found


def psql_value(stack: Stack, sql: str) -> str:
    from tools.stack.prod import psql

    return psql(stack.profile, sql).strip()
