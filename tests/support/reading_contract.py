"""What a documents.readings.ReadingStore must do, checked against PgReadingStore (tests/integration/
test_state_tables.py) and FakeReadingStore (tests/unit/test_reading_store.py)."""
from __future__ import annotations

import uuid


def _reading(account_id: str, kind: str, token: str, leido: bool = True) -> dict:
    return {"version": "v1", "documento": f"solicitudes/{account_id}/documentos/{kind}/{token}",
            "sha256": token * 2, "fecha": "2026-12-07T18:00:00+00:00", "leido": leido,
            "motivos": ["datos_no_coinciden"], "campos": [{"campo": "nombre", "outcome": "no_coincide",
                                                            "leido": "PEDRO MARTÍNEZ", "declarado": "Pedro"}]}


def a_reading_is_kept_per_document_kind_and_replaced_by_the_next(store) -> None:
    account = str(uuid.uuid4())
    first = _reading(account, "curp", "a" * 32)
    store.keep(account, "curp", first)
    assert store.get(account, "curp") == first  # accents and nesting survive the round trip
    store.keep(account, "identificacion", _reading(account, "identificacion", "b" * 32, leido=False))
    replacement = _reading(account, "curp", "c" * 32)
    store.keep(account, "curp", replacement)  # a replaced document: its reading (personal data) goes
    assert store.get(account, "curp") == replacement
    assert store.get(account, "identificacion")["leido"] is False
    assert store.get(account, "rfc") is None and store.get(str(uuid.uuid4()), "curp") is None


def a_reading_read_back_is_a_copy(store) -> None:
    account = str(uuid.uuid4())
    store.keep(account, "curp", _reading(account, "curp", "d" * 32))
    store.get(account, "curp")["campos"].clear()
    assert store.get(account, "curp")["campos"]


def forgetting_an_application_deletes_its_readings_only(store) -> None:
    gone, kept = str(uuid.uuid4()), str(uuid.uuid4())
    for account in (gone, kept):
        store.keep(account, "curp", _reading(account, "curp", "e" * 32))
        store.keep(account, "identificacion", _reading(account, "identificacion", "f" * 32))
    assert store.forget(gone) == 2
    assert store.get(gone, "curp") is None and store.get(gone, "identificacion") is None
    assert store.get(kept, "curp") is not None and store.get(kept, "identificacion") is not None
    assert store.forget(gone) == 0


CHECKS = (a_reading_is_kept_per_document_kind_and_replaced_by_the_next, a_reading_read_back_is_a_copy,
          forgetting_an_application_deletes_its_readings_only)
