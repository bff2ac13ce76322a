"""Fixtures for tests against the real Keycloak, S3 server and mail catcher of `make test`."""
from __future__ import annotations

import boto3
import pytest
from botocore.config import Config

from keycloak_ext import KeycloakGateway, KeycloakSettings
from tests.support.mailbox import Mailbox
from tests.support.stack import TestStack

pytestmark = pytest.mark.integration


class StaleStack(UserWarning):
    """The stack's services run older code than this tree: the tests drive those processes."""


@pytest.fixture(scope="session", autouse=True)
def stack_serves_this_tree():
    """A stack started before a change to the service still serves the code it started with, and the
    tests of this folder drive its processes: said in the warnings summary (`make test` always starts
    its own stack, so this concerns runs by hand against a stack left running)."""
    import os
    import warnings
    from pathlib import Path

    from tools.stack.code_version import stale_services

    if os.environ.get("STACK_DIR"):
        stale = stale_services(Path(os.environ["STACK_DIR"]) / "pids")
        if stale:
            warnings.warn(StaleStack(
                f"la pila {os.environ['STACK_DIR']} ejecuta {', '.join(stale)} con código anterior a este árbol: "
                "estas pruebas ejercen esos procesos; reinicie la pila (python -m tools.stack down y up) para "
                "probar los cambios del servicio"))


@pytest.fixture(scope="session")
def stack() -> TestStack:
    return TestStack.from_env()


@pytest.fixture(scope="session")
def kc_settings(stack: TestStack) -> KeycloakSettings:
    return KeycloakSettings.from_env()


@pytest.fixture(scope="session")
def keycloak_gateway(kc_settings: KeycloakSettings) -> KeycloakGateway:
    """Keycloak itself, authenticated as the `registro` service account: exactly what the service can do."""
    return KeycloakGateway.for_service(kc_settings)


@pytest.fixture(scope="session")
def gateway(keycloak_gateway: KeycloakGateway):
    """The identity directory the service uses: applications from registro's database (where their
    record lives), accounts from Keycloak (kernel/records.py)."""
    from registro.config import Settings
    from registro.kernel.records import RecordedIdentity
    from registro.platform.db import Database

    return RecordedIdentity(keycloak_gateway, Database.shared(Settings.from_env().database_url))


@pytest.fixture(scope="session")
def kc_admin(kc_settings: KeycloakSettings):
    """The master admin bound to realm `anam`, for test set-up the service may not do itself."""
    return KeycloakGateway.for_bootstrap_admin(kc_settings).admin


@pytest.fixture(scope="session")
def s3(stack: TestStack):
    return boto3.client("s3", endpoint_url=stack.s3_endpoint, aws_access_key_id=stack.s3_access_key,
                        aws_secret_access_key=stack.s3_secret_key, region_name="us-east-1",
                        config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"))


@pytest.fixture(scope="session")
def mailbox(stack: TestStack) -> Mailbox:
    return Mailbox(stack.mail_api)


@pytest.fixture
def make_account(gateway, keycloak_gateway: KeycloakGateway, kc_admin, unique: str):
    """Creates accounts through the gateway (`groups`: paths joined in the create, as registration
    joins the user type's group) and deletes them after the test. Roles are given by
    the admin: the service account may only grant user-type roles, never `revisor`, and may not
    touch a reviewer's account (keycloak_ext.provisioning, least privilege)."""
    created: list[str] = []

    def make(*, username: str | None = None, email: str | None = None, attributes: dict | None = None,
             enabled: bool = False, role: str | None = None, first_name: str = "Ana", last_name: str = "Pérez López",
             groups: tuple[str, ...] = ()) -> str:
        n = len(created)
        account_id = gateway.create_account(
            username=username or f"prueba-{unique}-{n}", email=email or f"prueba-{unique}-{n}@example.com",
            first_name=first_name, last_name=last_name, attributes=attributes or {}, enabled=enabled, groups=groups)
        created.append(account_id)
        if role:
            kc_admin.assign_realm_roles(account_id, [kc_admin.get_realm_role(role)])
        return account_id

    yield make
    admin_gateway = KeycloakGateway(keycloak_gateway.settings, admin=kc_admin)  # 404-tolerant delete, as the admin
    for account_id in created:
        admin_gateway.delete_account(account_id)


@pytest.fixture
def registro_app():
    """The service in-process with its real adapters (Keycloak, S3, SMTP of the test stack)."""
    from registro import create_app
    from registro.config import Settings

    return create_app({"SETTINGS": Settings.from_env(), "TESTING": True})


@pytest.fixture
def queue_index(service_settings):
    """The review queue as every app instance of the tests reads it: SQL over the stack's database."""
    from registro.platform.db import Database
    from registro.review.queue import PgQueueIndex

    return PgQueueIndex(Database.shared(service_settings.database_url))


@pytest.fixture
def pending(gateway, storage, queue_index):
    """`pending(**kw) -> review_data.Pending`: applications waiting for review (their record in the
    database, their account in Keycloak, documents in S3); deleted with their objects after the test."""
    from tests.support import review_data

    made: list[str] = []

    def make(**kwargs) -> review_data.Pending:
        created = review_data.create_pending(gateway, storage, **kwargs)
        made.append(created.id)
        return created

    yield make
    for account_id in made:
        review_data.cleanup(gateway, storage, account_id)


@pytest.fixture
def registro(registro_app):
    return registro_app.test_client()


# --- activation and documents (issue 4); reusable by the review-console tests -------------------
@pytest.fixture(scope="session")
def service_settings(stack: TestStack):
    """The service's Settings as the stack's `registro` reads them (same signing key, bucket…)."""
    from registro.config import Settings

    return Settings.from_env()


@pytest.fixture(scope="session")
def storage(service_settings):
    """The service's own S3 adapter (S3Store) against the stack's S3 server."""
    from registro.adapters.storage import S3Store

    return S3Store(service_settings.s3)


@pytest.fixture
def applications(gateway, storage, service_settings):
    """`applications(foreign=False, status="pendiente_correo", **kw) -> (account_id, link_url)`:
    registered applications as registration leaves them; deleted with their objects after the test."""
    from tests.support.applications import create_application, delete_application

    created: list[str] = []

    def make(**kwargs):
        account_id, link = create_application(gateway, storage, service_settings, **kwargs)
        created.append(account_id)
        return account_id, link

    yield make
    for account_id in created:
        delete_application(gateway, storage, account_id)


@pytest.fixture
def registered_emails(gateway):
    """Emails this test registers; their accounts (and nothing else) are deleted afterwards."""
    emails: list[str] = []
    yield emails
    for email in emails:
        account = gateway.find_by_email(email)
        if account is not None:
            gateway.delete_account(account.id)
