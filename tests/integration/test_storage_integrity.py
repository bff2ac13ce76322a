"""The SHA-256 computed while an upload is received travels to S3, which checks the bytes against it."""
from __future__ import annotations

import hashlib
import uuid

import pytest

from registro.adapters.storage import S3Store, StorageUnavailable
from registro.config import Settings


def test_s3_refuses_bytes_that_do_not_match_the_recorded_sha256():
    store = S3Store(Settings.from_env().s3)
    key = f"prueba/integridad-{uuid.uuid4().hex}"
    data = b"%PDF-1.7 contenido"
    store.put(key, data, content_type="application/pdf", metadata={"sha256": hashlib.sha256(data).hexdigest()})
    assert store.get(key) == data
    with pytest.raises(StorageUnavailable):
        store.put(key + "-mal", data, content_type="application/pdf",
                  metadata={"sha256": hashlib.sha256(b"otra cosa").hexdigest()})
    assert store.list_keys(key + "-mal") == []
    store.delete(key)
