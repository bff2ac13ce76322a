"""Unit-test fixtures: the app with in-memory fakes; no network."""
from __future__ import annotations

import pytest

from keycloak_ext import KeycloakSettings
from registro import create_app
from registro.config import S3Settings, Settings, SmtpSettings
from registro.container import Adapters
from registro.adapters.sessions import MemorySessions
from registro.workflow.queue_index import MemoryBackend, QueueIndex
from tests.fakes import FakeAuditLog, FakeUploadMarkers, FakeUsedSolutions
from tests.fakes import FakeApplicationStore, FakeIdentity, FakeMailer, FakeOutboxStore, FakeStore


def unit_settings(**changes) -> Settings:
    base = Settings(
        secret_key="clave-de-pruebas-unitarias",
        public_url="http://registro.prueba",
        keycloak=KeycloakSettings(server_url="http://keycloak.prueba/", realm="anam", client_id="registro-service",
                                  client_secret="x", admin_user="admin", admin_password="admin"),
        keycloak_public_url="http://keycloak.prueba",
        portal_login_url="http://portal.prueba/entrar", portal_client_id="portal",
        s3=S3Settings(endpoint_url=None, bucket="b", region="us-east-1", access_key=None, secret_key=None, sse=None),
        smtp=SmtpSettings(host="127.0.0.1", port=1, sender="usuarios.externos@anam.gob.mx", sender_name="ANAM",
                          user=None, password=None, starttls=False, ssl=False),
    )
    return base.with_changes(**changes)


@pytest.fixture
def fakes() -> Adapters:
    outbox_store = FakeOutboxStore()
    return Adapters(identity=FakeIdentity(), storage=FakeStore(), mailer=FakeMailer(),
                    queue_index=QueueIndex(MemoryBackend()), console_sessions=MemorySessions(),
                    applications=FakeApplicationStore(outbox_store), outbox_store=outbox_store,
                    audit=FakeAuditLog(), used_captchas=FakeUsedSolutions(), upload_markers=FakeUploadMarkers())


@pytest.fixture
def app(fakes):
    return create_app({"SETTINGS": unit_settings(), "ADAPTERS": fakes, "TESTING": True})


@pytest.fixture
def client(app):
    return app.test_client()
