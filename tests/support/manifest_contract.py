"""What a review.page_views.ManifestStore must do, checked against PgManifestStore (tests/integration/
test_state_tables.py) and FakeManifestStore (tests/unit/test_page_render.py)."""
from __future__ import annotations

import uuid

import pytest

from registro.domain import storage_keys


def _key(account_id: str, kind: str = "curp") -> str:
    return storage_keys.document_key(account_id, kind)


def _manifest(codes: list[str] | None = None) -> dict:
    return {"estado": "ok", "paginas": 3, "mostradas": 2, "formato": "image/webp", "codigos": codes or [],
            "codigos_buscados": codes is not None, "motivo": ""}


def a_manifest_is_kept_per_document_and_replaced_by_the_next(store) -> None:
    account = str(uuid.uuid4())
    key, other = _key(account), _key(account, "identificacion")
    assert store.get(key) is None
    first = _manifest(["AU|PELA800101MDFRPN06|Peña Ñúñez"])
    store.keep(key, first)
    assert store.get(key) == first  # accents survive the round trip
    store.keep(key, _manifest())  # rendered again: the later one stands
    assert store.get(key) == _manifest()
    assert store.get(other) is None


def a_manifest_read_back_is_a_copy(store) -> None:
    key = _key(str(uuid.uuid4()))
    store.keep(key, _manifest(["código"]))
    store.get(key)["codigos"].clear()
    assert store.get(key)["codigos"] == ["código"]


def a_manifest_of_another_version_reads_as_none(store, monkeypatch) -> None:
    """PAGE_VIEWS_VERSION bumped (the images changed): what was made before is rendered again."""
    key = _key(str(uuid.uuid4()))
    store.keep(key, _manifest())
    monkeypatch.setattr(storage_keys, "PAGE_VIEWS_VERSION", "v999")
    import registro.review.page_views as page_views
    monkeypatch.setattr(page_views, "PAGE_VIEWS_VERSION", "v999")
    assert store.get(key) is None
    store.keep(key, _manifest())
    assert store.get(key) == _manifest()


def a_key_outside_an_application_is_refused(store) -> None:
    with pytest.raises(ValueError):
        store.keep("otra-cosa/sin/solicitud", _manifest())


def forgetting_an_application_deletes_its_manifests_only(store) -> None:
    gone, kept = str(uuid.uuid4()), str(uuid.uuid4())
    keys = {account: [_key(account), storage_keys.responsiva_key(account, "AU-2026-ABCDEFGH")]
            for account in (gone, kept)}
    for account_keys in keys.values():
        for key in account_keys:
            store.keep(key, _manifest(["código"]))
    assert store.forget(gone) == 2
    assert [store.get(k) for k in keys[gone]] == [None, None]
    assert all(store.get(k) is not None for k in keys[kept])
    assert store.forget(gone) == 0


CHECKS = (a_manifest_is_kept_per_document_and_replaced_by_the_next, a_manifest_read_back_is_a_copy,
          a_key_outside_an_application_is_refused, forgetting_an_application_deletes_its_manifests_only)
VERSIONED = (a_manifest_of_another_version_reads_as_none,)
