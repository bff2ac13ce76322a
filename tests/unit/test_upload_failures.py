"""Failures at the points where an upload's steps overlap (workflow/documents.py): the S3 put runs
while the content check runs and while the edit lock is taken and the record read. Whatever fails,
and whenever, no record points to a missing object and no stored object is left counted as a
document; a new object is deleted only after its put has ended (else a late put would leave it)."""
from __future__ import annotations

import io
import threading
import time

import pytest

from keycloak_ext import IdentityUnavailable
from registro.adapters.storage import StorageUnavailable
from registro.domain import filetypes
from registro.domain.application import Application
from registro.domain.storage_keys import edit_lock_key
from registro.filecheck import sandbox
from registro.workflow import documents as flow
from registro.workflow import record_lock
from registro.workflow.documents import Upload, store_document
from registro.workflow.record_lock import ApplicationBusy, editing
from tests.fakes import FakeIdentity, FakeStore
from tests.support import files
from tests.support import hostile_files as hostile

KIND = "curp"


class SlowStore(FakeStore):
    """A put of a document takes `put_s` and may fail at its end; every document write and delete is logged."""

    def __init__(self, put_s: float = 0.2, put_fails: bool = False) -> None:
        super().__init__()
        self.put_s, self.put_fails = put_s, put_fails
        self.events: list[tuple[str, str]] = []

    def put(self, key, body, *, content_type, metadata=None):
        if "/documentos/" not in key:
            return super().put(key, body, content_type=content_type, metadata=metadata)
        self.events.append(("put-start", key))
        time.sleep(self.put_s)
        if self.put_fails:
            self.events.append(("put-failed", key))
            raise StorageUnavailable("S3 no responde")
        super().put(key, body, content_type=content_type, metadata=metadata)
        self.events.append(("put-end", key))

    def delete(self, key):
        if "/documentos/" in key:
            self.events.append(("delete", key))
        super().delete(key)

    def documents(self) -> list[str]:
        return [k for k in self.objects if "/documentos/" in k]

    def deleted_after_its_put(self, key: str) -> bool:
        names = [e for e, k in self.events if k == key]
        return "delete" in names and names.index("delete") > max(
            names.index(e) for e in ("put-end", "put-failed") if e in names)


def _application(identity: FakeIdentity) -> Application:
    account_id = identity.create_account(username="pela800101ab8", email="a@example.com", first_name="Ana",
                                         last_name="Peña", attributes={"estatus": "pendiente_documentos",
                                                                       "es_extranjero": "false"})
    return Application(identity.get_account(account_id))


def _upload(data: bytes) -> Upload:
    return Upload(stream=io.BytesIO(data), size=len(data), sha256="0" * 64, original_name="curp.pdf")


def _new_key(store: SlowStore) -> str:
    return next(k for e, k in store.events if e == "put-start")


def test_a_refused_file_is_deleted_after_the_put_that_ran_during_its_check():
    sandbox.warm_up()  # the check answers in milliseconds, long before the put ends
    identity, store = FakeIdentity(), SlowStore(put_s=1.0)
    application = _application(identity)
    with pytest.raises(filetypes.UnreadableFile) as caught:
        store_document(identity, store, application, KIND, _upload(hostile.build("openaction_javascript")))
    assert hostile.ACTIVE in caught.value.message
    assert store.documents() == [] and store.deleted_after_its_put(_new_key(store))
    assert Application(identity.get_account(application.id)).documents == {}
    assert not store.list_keys(edit_lock_key(application.id))


def test_s3_failing_during_the_check_leaves_no_record():
    identity, store = FakeIdentity(), SlowStore(put_s=0.1, put_fails=True)
    application = _application(identity)
    with pytest.raises(StorageUnavailable):
        store_document(identity, store, application, KIND, _upload(files.pdf_bytes()))
    assert store.documents() == [] and store.deleted_after_its_put(_new_key(store))
    assert Application(identity.get_account(application.id)).documents == {}


class ReadFailsUnderTheLock(FakeIdentity):
    fail_reads = False

    def get_account(self, account_id):
        if self.fail_reads:
            raise IdentityUnavailable("Keycloak no responde")
        return super().get_account(account_id)


def test_keycloak_failing_on_the_read_under_the_lock_deletes_the_object_once_its_put_ended():
    identity, store = ReadFailsUnderTheLock(), SlowStore(put_s=0.3)
    application = _application(identity)
    identity.fail_reads = True
    with pytest.raises(IdentityUnavailable):
        store_document(identity, store, application, KIND, _upload(files.pdf_bytes()))
    identity.fail_reads = False
    assert store.documents() == [] and store.deleted_after_its_put(_new_key(store))
    assert Application(identity.get_account(application.id)).documents == {}


class WriteFails(FakeIdentity):
    def update_account(self, account_id, **changes):
        raise IdentityUnavailable("Keycloak no responde")


def test_keycloak_failing_on_the_write_deletes_the_object_it_would_have_pointed_to():
    identity, store = WriteFails(), SlowStore(put_s=0.05)
    application = _application(identity)
    with pytest.raises(IdentityUnavailable):
        store_document(identity, store, application, KIND, _upload(files.pdf_bytes()))
    assert store.documents() == [] and store.deleted_after_its_put(_new_key(store))


def test_a_busy_lock_deletes_the_new_object_once_its_put_ended(monkeypatch):
    identity, store = FakeIdentity(), SlowStore(put_s=0.3)
    application = _application(identity)
    monkeypatch.setattr(record_lock, "WAIT_S", 0.05)
    with editing(store, application.id, wait_s=0):  # another tab's change, under way
        with pytest.raises(ApplicationBusy):
            store_document(identity, store, application, KIND, _upload(files.pdf_bytes()))
    assert store.documents() == [] and store.deleted_after_its_put(_new_key(store))


def test_the_document_submitted_meanwhile_is_refused_and_its_object_deleted():
    """The page allowed the upload; under the lock the record says it was sent to review."""
    identity, store = FakeIdentity(), SlowStore(put_s=0.05)
    application = _application(identity)
    identity.update_attributes(application.id, {"estatus": "en_revision"})
    with pytest.raises(flow.DocumentNotAllowed):
        store_document(identity, store, application, KIND, _upload(files.pdf_bytes()))
    assert store.documents() == [] and store.deleted_after_its_put(_new_key(store))


def test_a_hold_grown_stale_while_the_check_ran_is_not_written_under(monkeypatch):
    """The check outlasts the hold: meanwhile another request takes the expired lock over and changes
    the record. The upload must read the record again under a new hold, not write its stale copy."""
    identity, store = FakeIdentity(), SlowStore(put_s=0.0)
    application = _application(identity)
    monkeypatch.setattr(record_lock, "HOLD_S", 0.3)
    monkeypatch.setattr(record_lock, "FRESH_S", 0.15)
    checking, taken_over = threading.Event(), threading.Event()
    real_verify = filetypes.verify

    def slow_verify(stream, content_type):
        checking.set()
        assert taken_over.wait(5)
        return real_verify(stream, content_type)

    monkeypatch.setattr(filetypes, "verify", slow_verify)

    def other_request():
        assert checking.wait(5)
        with editing(store, application.id, wait_s=5):  # waits until the upload's lock expires
            identity.update_attributes(application.id, {"enlace_version": "7"})
        taken_over.set()

    other = threading.Thread(target=other_request)
    other.start()
    record = store_document(identity, store, application, KIND, _upload(files.pdf_bytes()))
    other.join()
    account = identity.get_account(application.id)
    assert account.attr("enlace_version") == "7"  # the other request's change survived
    assert Application(account).documents[KIND].key == record.key and record.key in store.objects


def test_a_fresh_hold_is_released_with_one_delete_and_a_stale_one_only_if_still_ours(monkeypatch):
    class Counting(FakeStore):
        def __init__(self):
            super().__init__()
            self.reads = 0

        def get_with_etag(self, key):
            self.reads += 1
            return super().get_with_etag(key)

    store = Counting()
    with editing(store, "solicitud-1"):
        pass
    assert store.reads == 0 and not store.objects
    monkeypatch.setattr(record_lock, "FRESH_S", 0.0)
    with editing(store, "solicitud-1"):
        pass
    assert store.reads == 1 and not store.objects
    with editing(store, "solicitud-1"):
        # Taken over meanwhile (the hold had expired): the lock is someone else's now.
        store.objects[edit_lock_key("solicitud-1")] = (b'{"holder": "otro", "expires_at": 1e12}', "", {})
    assert edit_lock_key("solicitud-1") in store.objects


def test_a_stream_without_a_second_reader_is_checked_before_its_put(tmp_path):
    """A caller whose stream cannot be read twice at once still gets the check, first: nothing is put."""
    identity, store = FakeIdentity(), SlowStore(put_s=0.0)
    application = _application(identity)
    data = hostile.build("launch_action")
    with open(tmp_path / "archivo", "w+b") as stream:
        stream.write(data)
        stream.seek(0)
        upload = Upload(stream=stream, size=len(data), sha256="0" * 64, original_name="a.pdf")
        assert upload.second_reader() is None
        with pytest.raises(filetypes.UnreadableFile):
            store_document(identity, store, application, KIND, upload)
    assert store.events == [] and Application(identity.get_account(application.id)).documents == {}


def test_a_failure_after_the_record_was_written_never_deletes_the_object_it_points_to():
    """The release of the lock fails in an unforeseen way after Keycloak took the record: the new
    object must stay (deleting it would leave a record pointing to nothing)."""

    class ReleaseBreaks(SlowStore):
        def delete(self, key):
            if key.endswith("bloqueo-edicion.json"):
                raise RuntimeError("fallo inesperado")
            super().delete(key)

    identity, store = FakeIdentity(), ReleaseBreaks(put_s=0.0)
    application = _application(identity)
    with pytest.raises(RuntimeError):
        store_document(identity, store, application, KIND, _upload(files.pdf_bytes()))
    record = Application(identity.get_account(application.id)).documents[KIND]
    assert record.key in store.objects and store.documents() == [record.key]


def test_the_replaced_object_is_gone_when_the_upload_answers():
    identity, store = FakeIdentity(), SlowStore(put_s=0.0)
    application = _application(identity)
    first = store_document(identity, store, application, KIND, _upload(files.pdf_bytes()))
    second = store_document(identity, store, Application(identity.get_account(application.id)), KIND,
                            _upload(files.pdf_bytes(pages=2)))
    assert store.documents() == [second.key] and ("delete", first.key) in store.events
