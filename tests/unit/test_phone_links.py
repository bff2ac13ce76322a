"""The phone links' store rules (documents/phone_links.py) on the in-memory twin; the same contract runs on
PostgreSQL in tests/integration/test_phone_links_db.py."""
from __future__ import annotations

from registro.documents import phone_links as pl
from tests.fakes import FakePhoneLinkStore
from tests.support import phone_links_contract as contract


def test_a_link_opens_once_by_token_or_code():
    contract.a_link_opens_once_by_token_or_code(FakePhoneLinkStore())


def test_two_phones_at_once_open_a_link_once():
    contract.two_phones_at_once_open_a_link_once(FakePhoneLinkStore())


def test_an_expired_link_and_its_session_open_nothing():
    contract.an_expired_link_and_its_session_open_nothing(FakePhoneLinkStore())


def test_revoking_ends_the_session_and_uploads_are_seen():
    contract.revoking_ends_the_session_and_uploads_are_seen(FakePhoneLinkStore())


def test_a_wrong_code_opens_nothing():
    contract.a_wrong_code_opens_nothing(FakePhoneLinkStore())


def test_codes_are_eight_unambiguous_characters_and_only_hashes_are_stored():
    store = FakePhoneLinkStore()
    link = pl.new_link(store, "k", "cuenta", "v1")
    assert len(link.code) == 8 and set(link.code) <= set(pl.CODE_ALPHABET) and not set("01OI") & set(link.code)
    assert link.code_shown == f"{link.code[:4]}-{link.code[4:]}"
    row = store.rows[0]
    assert link.token not in str(row) and link.code not in str(row)


def test_the_fake_and_the_real_store_share_the_protocol():
    from tests.unit.test_fakes_match_protocols import protocol_methods
    import inspect

    for name in protocol_methods(pl.PhoneLinkStore):
        expected = list(inspect.signature(getattr(pl.PhoneLinkStore, name)).parameters)
        for implementation in (pl.PgPhoneLinkStore, FakePhoneLinkStore):
            assert list(inspect.signature(getattr(implementation, name)).parameters) == expected, name
