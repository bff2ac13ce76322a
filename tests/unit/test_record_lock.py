"""Concurrent changes to one application's record lose nothing: they serialise on its row lock."""
from __future__ import annotations

import io
import threading
import time

import pytest

from registro.domain.application import Application
from registro.documents.service import Upload, store_document
from registro.kernel.record_lock import ApplicationBusy, editing
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
    assert not [k for k in storage.objects if k.endswith(".json")], "no state object in S3: bytes only"


def _account(identity):
    return identity.create_account(username="pela800101ab8", email="a@example.com", first_name="Ana",
                                   last_name="Peña", attributes={"estatus": "pendiente_documentos"})


def test_a_held_lock_makes_the_next_change_wait_then_refuse():
    identity = FakeIdentity()
    account_id = _account(identity)
    identity.lock_wait_s = 0.2
    with editing(identity, account_id):
        with pytest.raises(ApplicationBusy):
            identity.update_attributes(account_id, {"enlace_version": "2"})  # another request's change
    with editing(identity, account_id) as held:
        held.update(attributes={"enlace_version": "3"})  # released: free again
    assert identity.get_account(account_id).attr("enlace_version") == "3"


def test_a_change_waits_for_the_holder_and_both_survive():
    identity = FakeIdentity()
    account_id = _account(identity)
    inside, done = threading.Event(), threading.Event()

    def other_request():
        assert inside.wait(5)
        identity.update_attributes(account_id, {"enlace_version": "7"})
        done.set()

    other = threading.Thread(target=other_request)
    other.start()
    with editing(identity, account_id) as held:
        inside.set()
        assert not done.wait(0.2), "the other change must wait for the lock"
        held.update(attributes={"fecha_envio": "2026-12-07T00:00:00+00:00"})
    other.join(5)
    account = identity.get_account(account_id)
    assert account.attr("enlace_version") == "7" and account.attr("fecha_envio")
