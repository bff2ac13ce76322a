"""What every PhoneLinkStore does (documents/phone_links.py): run on the in-memory twin
(tests/unit/test_phone_links.py) and on the real PostgreSQL table (tests/integration/test_phone_links_db.py)."""
from __future__ import annotations

import threading
import uuid
from datetime import timedelta

from registro.documents import phone_links as pl

KEY = "clave-de-contrato"


def _account() -> str:
    return str(uuid.uuid4())


def a_link_opens_once_by_token_or_code(store) -> None:
    account = _account()
    by_token = pl.new_link(store, KEY, account, "v1")
    opened = pl.redeem(store, KEY, token=by_token.token)
    assert opened is not None and opened[0].account_id == account and opened[0].used
    assert pl.redeem(store, KEY, token=by_token.token) is None  # single use
    assert pl.redeem(store, KEY, code=by_token.code) is None  # the code of a used link opens nothing either
    session = opened[1]
    assert store.session(pl.session_hash(session), pl.utcnow()).id == by_token.link.id
    by_code = pl.new_link(store, KEY, account, "v1")  # revokes the first, and its session
    assert store.session(pl.session_hash(session), pl.utcnow()) is None
    typed = f" {by_code.code[:4].lower()}-{by_code.code[4:]} "
    opened = pl.redeem(store, KEY, code=typed)
    assert opened is not None and opened[0].id == by_code.link.id
    assert pl.redeem(store, KEY, token=by_code.token) is None


def two_phones_at_once_open_a_link_once(store) -> None:
    link = pl.new_link(store, KEY, _account(), "v1")
    results: list = []
    barrier = threading.Barrier(4)

    def open_it() -> None:
        barrier.wait()
        results.append(pl.redeem(store, KEY, code=link.code))

    threads = [threading.Thread(target=open_it) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r is not None for r in results) == 1


def an_expired_link_and_its_session_open_nothing(store) -> None:
    account = _account()
    link = pl.new_link(store, KEY, account, "v1")
    later = pl.utcnow() + pl.TTL + timedelta(seconds=1)
    assert pl.redeem(store, KEY, token=link.token, now=later) is None
    link2 = pl.new_link(store, KEY, account, "v1")
    opened = pl.redeem(store, KEY, token=link2.token)
    assert store.session(pl.session_hash(opened[1]), later) is None
    assert store.current(account, later) is None and store.current(account, pl.utcnow()).id == link2.link.id


def revoking_ends_the_session_and_uploads_are_seen(store) -> None:
    account = _account()
    link = pl.new_link(store, KEY, account, "v1")
    link_id = pl.redeem(store, KEY, token=link.token)[0].id
    found = store.current(account, pl.utcnow())
    assert found.uploaded_at is None
    now = pl.utcnow()
    store.uploaded(link_id, now)
    assert store.current(account, pl.utcnow()).uploaded_at is not None
    store.revoke(account, pl.utcnow())
    assert store.current(account, pl.utcnow()) is None


def a_wrong_code_opens_nothing(store) -> None:
    pl.new_link(store, KEY, _account(), "v1")
    assert pl.redeem(store, KEY, code="2222-2222") is None
    assert pl.redeem(store, KEY, code="corto") is None
    assert pl.redeem(store, "otra-clave", code=pl.new_link(store, KEY, _account(), "v1").code) is None
