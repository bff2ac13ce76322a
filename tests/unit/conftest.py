"""Unit-test fixtures: the app with in-memory fakes; no network."""
from __future__ import annotations

import pytest

from keycloak_ext import KeycloakSettings
from registro import create_app
from registro.config import S3Settings, Settings, SmtpSettings
from registro.container import Adapters
from registro.adapters.sessions import MemorySessions
from tests.fake_queue import FakeQueueIndex, rows_of_identity
from tests.fakes import FakeAuditLog, FakeManifestStore, FakeReadingStore, FakeUploadMarkers, FakeUsedSolutions
from tests.fakes import (FakeApplicationStore, FakeDecisionStore, FakeIdentity, FakeLeaseStore, FakeMailer,
                         FakeOutboxStore, FakeStore)


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
        # The confirmation answers at once (202) unless a test asks it to wait for the check (test_direct_uploads).
        direct_upload_wait_s=0.0,
    )
    return base.with_changes(**changes)


@pytest.fixture
def fakes() -> Adapters:
    outbox_store, audit = FakeOutboxStore(), FakeAuditLog()
    identity, leases = FakeIdentity(), FakeLeaseStore()
    # The queue reads the applications' rows and the leases, as its SQL reads the tables.
    queue = FakeQueueIndex(lambda: rows_of_identity(identity),
                           lambda: [(r.account_id, r.expires_at, r.released) for r in list(leases.rows.values())],
                           clock=leases.clock)
    identity.applications = applications = FakeApplicationStore(outbox_store, audit_log=audit)  # one database
    return Adapters(identity=identity, storage=FakeStore(), mailer=FakeMailer(),
                    queue_index=queue, console_sessions=MemorySessions(),
                    applications=applications, outbox_store=outbox_store,
                    review_leases=leases, decisions=FakeDecisionStore(), audit=audit,
                    used_captchas=FakeUsedSolutions(), upload_markers=FakeUploadMarkers(),
                    reading_store=FakeReadingStore(), page_view_store=FakeManifestStore())


@pytest.fixture
def app(fakes):
    return create_app({"SETTINGS": unit_settings(), "ADAPTERS": fakes, "TESTING": True})


@pytest.fixture
def client(app):
    return app.test_client()
