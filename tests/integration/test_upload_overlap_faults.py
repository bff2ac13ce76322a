"""Faults at the points where an upload's steps overlap, against the real Keycloak and S3 server.

The S3 put runs while the content check runs and while the application's row lock is taken and the
record read (documents/service.py). Each case injects one failure at one of those points — a real S3
or PostgreSQL endpoint that does not answer, a record write that fails, or a put still running when the
check refuses — and checks
what the fault matrix checks (tests/reliability/test_fault_matrix.py): a clear Spanish error, no
record pointing to a missing object, no object left counted as a document, and an upload right
after with everything up completes.
"""
from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import replace

import pytest
from sqlalchemy.engine import make_url

from registro import create_app
from registro.adapters.mail import SmtpMailer
from registro.adapters.storage import S3Store
from registro.container import Adapters
from registro.domain import documents as docs
from registro.domain.application import Application
from registro.domain.storage_keys import application_prefix
from registro.kernel.records import RecordedIdentity
from registro.platform.db import Database, DatabaseUnavailable
from tests.support import files
from tests.support import hostile_files as hostile
from tests.support.applications import upload

pytestmark = pytest.mark.integration

UNANSWERED = "http://127.0.0.1:9"  # nothing listens there: connection refused, as when the server is down


class StoreWithFaults:
    """The service's real S3 adapter; a document's put can be sent to a server that is down, or be slow."""

    def __init__(self, real: S3Store, down: S3Store) -> None:
        self.real, self.down = real, down
        self.put_down = False
        self.put_delay_s = 0.0
        self.puts_ended = threading.Event()

    def __getattr__(self, name):
        return getattr(self.real, name)

    def put(self, key, body, **kwargs):
        if "/documentos/" not in key or "/vistas/" in key:
            return self.real.put(key, body, **kwargs)
        try:
            time.sleep(self.put_delay_s)  # a slow S3: the put still runs when the check answers
            return (self.down if self.put_down else self.real).put(key, body, **kwargs)
        finally:
            self.puts_ended.set()


class _WriteFails:
    """A locked record whose write fails (the database refusing the UPDATE): the transaction rolls back."""

    def __init__(self, held) -> None:
        self.held, self.account = held, held.account

    def update(self, **changes):
        raise DatabaseUnavailable("OperationalError")


class IdentityWithFaults:
    """The service's identity directory (the record in PostgreSQL, the account in Keycloak); from the
    `fail_from`-th read of the record on, a database that is down; with `fail_write`, the record's write fails."""

    def __init__(self, real: RecordedIdentity, down: RecordedIdentity) -> None:
        self.real, self.down = real, down
        self.fail_from: int | None = None
        self.fail_write = False
        self.reads = 0

    def __getattr__(self, name):
        return getattr(self.real, name)

    def _reading(self) -> RecordedIdentity:
        self.reads += 1
        return self.down if self.fail_from is not None and self.reads >= self.fail_from else self.real

    def get_account(self, account_id):
        return self._reading().get_account(account_id)

    @contextlib.contextmanager
    def locked(self, account_id):
        with self._reading().locked(account_id) as held:
            yield _WriteFails(held) if self.fail_write and held is not None else held


@pytest.fixture
def faulty(service_settings, gateway, storage):
    store = StoreWithFaults(storage, S3Store(replace(service_settings.s3, endpoint_url=UNANSWERED, timeout_s=2)))
    # A PostgreSQL that does not answer (nothing listens on port 9), with the real Keycloak beside it.
    identity = IdentityWithFaults(gateway, RecordedIdentity(gateway.keycloak, Database(
        str(make_url(service_settings.database_url).set(host="127.0.0.1", port=9)))))
    app = create_app({"SETTINGS": service_settings, "TESTING": True,
                      "ADAPTERS": Adapters(identity=identity, storage=store, mailer=SmtpMailer(service_settings.smtp))})
    return app.test_client(), identity, store


def _consistent(gateway, storage, account_id: str) -> dict:
    """Every record points to a stored object and every stored document has a record; returns the records."""
    records = Application(gateway.get_account(account_id)).documents
    stored = {k for k in storage.list_keys(application_prefix(account_id)) if "/documentos/" in k and "/vistas/" not in k}
    assert {r.key for r in records.values()} == stored, (records, stored)
    return records


def _completes_afterwards(client, identity, store, gateway, storage, account_id, link) -> None:
    identity.fail_from, identity.fail_write, store.put_down, store.put_delay_s = None, False, False, 0.0
    assert upload(client, link, docs.CURP, files.pdf_bytes()).status_code == 303
    assert docs.CURP in _consistent(gateway, storage, account_id)


def _left_nothing_then_completes(client, identity, store, gateway, storage, account_id, link) -> None:
    """The refused upload left no record and no object; once the fault is gone a retry completes."""
    assert _consistent(gateway, storage, account_id) == {}
    _completes_afterwards(client, identity, store, gateway, storage, account_id, link)


def test_a_file_refused_while_its_put_still_runs_leaves_nothing_in_s3(faulty, gateway, storage, applications):
    client, identity, store = faulty
    account_id, link = applications(status="pendiente_documentos")
    store.put_delay_s = 1.0
    r = upload(client, link, docs.CURP, hostile.build("openaction_javascript"), "firmado.pdf")
    assert r.status_code == 400 and hostile.ACTIVE in r.get_data(as_text=True)
    assert store.puts_ended.is_set()  # answered only after the put had ended, and its object was deleted
    _left_nothing_then_completes(client, identity, store, gateway, storage, account_id, link)


def test_s3_down_for_the_put_while_the_check_passes(faulty, gateway, storage, applications):
    client, identity, store = faulty
    account_id, link = applications(status="pendiente_documentos")
    store.put_down = True
    r = upload(client, link, docs.CURP, files.pdf_bytes())
    assert r.status_code == 503 and "El almacenamiento de documentos no está disponible" in r.get_data(as_text=True)
    _left_nothing_then_completes(client, identity, store, gateway, storage, account_id, link)


def test_database_down_for_the_read_under_the_lock_while_the_put_runs(faulty, gateway, storage, applications):
    client, identity, store = faulty
    account_id, link = applications(status="pendiente_documentos")
    # Reads: the page (for its CSRF token), the upload's opening, then the read under the lock.
    identity.reads, identity.fail_from, store.put_delay_s = 0, 3, 0.5
    r = upload(client, link, docs.CURP, files.pdf_bytes())
    assert identity.reads == 3 and store.puts_ended.is_set()
    assert r.status_code == 503 and "No se realizó ningún cambio" in r.get_data(as_text=True)
    _left_nothing_then_completes(client, identity, store, gateway, storage, account_id, link)


def test_the_record_write_failing_when_it_replaces_a_document_keeps_the_old_one(faulty, gateway, storage,
                                                                                   applications):
    client, identity, store = faulty
    account_id, link = applications(status="pendiente_documentos")
    assert upload(client, link, docs.CURP, files.pdf_bytes()).status_code == 303
    first = _consistent(gateway, storage, account_id)[docs.CURP]
    identity.fail_write = True
    r = upload(client, link, docs.CURP, files.pdf_bytes(pages=2))
    assert r.status_code == 503 and "No se realizó ningún cambio" in r.get_data(as_text=True)
    assert _consistent(gateway, storage, account_id)[docs.CURP] == first  # the old document stays, whole
    _completes_afterwards(client, identity, store, gateway, storage, account_id, link)
