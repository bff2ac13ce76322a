"""Failures at the points where an upload's steps overlap (documents/service.py): the S3 put runs
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
from registro import filecheck
from registro.domain import filetypes
from registro.domain.application import Application
from registro.filecheck import sandbox
from registro.documents import service as flow
from registro.documents.service import Upload, store_document
from registro.kernel.record_lock import ApplicationBusy, editing
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
    identity.lock_wait_s = 0.05
    with editing(identity, application.id):  # another tab's change, under way
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


def test_a_change_made_while_the_check_ran_waits_for_the_upload_and_survives(monkeypatch):
    """The upload holds the application's lock from its read to its write (the check runs inside): another
    request's change waits for it instead of being overwritten by the upload's copy of the record."""
    identity, store = FakeIdentity(), SlowStore(put_s=0.0)
    application = _application(identity)
    checking, other_done = threading.Event(), threading.Event()
    real_verify = filecheck.check_upload

    def slow_verify(stream, content_type):
        checking.set()
        assert not other_done.wait(0.3), "the other change went through while the upload held the lock"
        return real_verify(stream, content_type)

    monkeypatch.setattr(filecheck, "check_upload", slow_verify)

    def other_request():
        assert checking.wait(5)
        identity.update_attributes(application.id, {"enlace_version": "7"})
        other_done.set()

    other = threading.Thread(target=other_request)
    other.start()
    record = store_document(identity, store, application, KIND, _upload(files.pdf_bytes()))
    other.join(5)
    account = identity.get_account(application.id)
    assert account.attr("enlace_version") == "7"  # the other request's change survived
    assert Application(account).documents[KIND].key == record.key and record.key in store.objects


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


def test_a_failure_after_the_record_was_written_never_deletes_the_object_it_points_to(monkeypatch):
    """What runs after the write (the deletion of the replaced object) fails in an unforeseen way: the new
    object must stay (deleting it would leave a record pointing to nothing)."""
    identity, store = FakeIdentity(), SlowStore(put_s=0.0)
    application = _application(identity)
    first = store_document(identity, store, application, KIND, _upload(files.pdf_bytes()))

    written, real_in_background = [], flow.in_background
    real_update = identity.update_account

    def update_account(account_id, **changes):
        account = real_update(account_id, **changes)
        written.append(True)
        return account

    def breaks_once_written(fn):
        if written:
            raise RuntimeError("fallo inesperado")
        return real_in_background(fn)

    monkeypatch.setattr(identity, "update_account", update_account)
    monkeypatch.setattr(flow, "in_background", breaks_once_written)
    with pytest.raises(RuntimeError):
        store_document(identity, store, Application(identity.get_account(application.id)), KIND,
                       _upload(files.pdf_bytes(pages=2)))
    record = Application(identity.get_account(application.id)).documents[KIND]
    assert record.key != first.key and record.key in store.objects


def test_the_replaced_object_is_gone_when_the_upload_answers():
    identity, store = FakeIdentity(), SlowStore(put_s=0.0)
    application = _application(identity)
    first = store_document(identity, store, application, KIND, _upload(files.pdf_bytes()))
    second = store_document(identity, store, Application(identity.get_account(application.id)), KIND,
                            _upload(files.pdf_bytes(pages=2)))
    assert store.documents() == [second.key] and ("delete", first.key) in store.events
