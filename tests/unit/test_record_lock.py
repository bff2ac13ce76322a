"""Concurrent changes to one application's record lose nothing (Keycloak has no compare-and-set)."""
from __future__ import annotations

import io
import threading
import time

import pytest

from registro.domain.application import Application
from registro.workflow.documents import Upload, store_document
from registro.workflow.record_lock import ApplicationBusy, editing
from tests.fakes import FakeIdentity, FakeStore
from tests.support.files import pdf_bytes


class SlowWritingIdentity(FakeIdentity):
    """Widens the window between reading and writing the record, as a slow Keycloak would."""

    def update_attributes(self, account_id, changes):
        time.sleep(0.05)
        return super().update_attributes(account_id, changes)


def test_two_uploads_of_different_documents_at_once_keep_both_records():
    identity, storage = SlowWritingIdentity(), FakeStore()
    account_id = identity.create_account(username="pela800101ab8", email="a@example.com", first_name="Ana",
                                         last_name="Peña", attributes={"estatus": "pendiente_documentos",
                                                                       "es_extranjero": "false"})
    application = Application(identity.get_account(account_id))
    data = pdf_bytes()
    errors = []

    def upload(kind):
        try:
            store_document(identity, storage, application, kind,
                           Upload(stream=io.BytesIO(data), size=len(data), sha256="x", original_name=f"{kind}.pdf"))
        except Exception as exc:  # noqa: BLE001 — reported below
            errors.append(exc)

    threads = [threading.Thread(target=upload, args=(kind,)) for kind in ("curp", "responsiva_firmada")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert set(Application(identity.get_account(account_id)).documents) == {"curp", "responsiva_firmada"}
    assert not [k for k in storage.objects if k.endswith("bloqueo-edicion.json")], "the lock is released afterwards"


def test_a_held_lock_makes_the_next_change_wait_then_refuse():
    storage = FakeStore()
    with editing(storage, "solicitud-1"):
        with pytest.raises(ApplicationBusy):
            with editing(storage, "solicitud-1", wait_s=0.2):
                pass
    with editing(storage, "solicitud-1", wait_s=0.2):
        pass  # released: free again


class TornReadStore(FakeStore):
    """Answers reads of the lock object the way versitygw does while it is being overwritten: an empty or
    cut body, or a 503, a few times."""

    def __init__(self, failures):
        super().__init__()
        self.failures = list(failures)

    def get_with_etag(self, key):
        if key.endswith("bloqueo-edicion.json") and self.failures:
            failure = self.failures.pop(0)
            if failure == "503":
                from registro.adapters.storage import StorageUnavailable
                raise StorageUnavailable("503 SlowDown")
            data, etag = super().get_with_etag(key)
            return data[: len(data) // 2] if failure == "cut" else b"", etag
        return super().get_with_etag(key)


def test_torn_reads_of_the_lock_are_read_again_instead_of_failing():
    storage = TornReadStore(["", "503", "cut"])
    with editing(storage, "solicitud-1"):
        # Another request finds the lock held and reads it: its torn reads are retried, then it waits.
        with pytest.raises(ApplicationBusy):
            with editing(storage, "solicitud-1", wait_s=0.1):
                pass
    assert storage.failures == []
    with editing(storage, "solicitud-1", wait_s=0.2):
        pass
