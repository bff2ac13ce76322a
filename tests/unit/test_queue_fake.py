"""The queue's in-memory twin (tests/fake_queue.py) against the contract the SQL passes too
(tests/support/queue_contract.py; the SQL in tests/integration/test_queue_sql.py)."""
from __future__ import annotations

import pytest

from tests.fake_queue import FakeQueueIndex
from tests.support import queue_contract as contract

NOW = 1_800_000_000.0


class FakeWorld:
    def __init__(self) -> None:
        self.rows: list[dict] = []
        self.held: dict[str, tuple[str, float, bool]] = {}
        self.queue = FakeQueueIndex(lambda: self.rows, lambda: self.held.values(), clock=lambda: NOW)

    def reset(self) -> None:
        self.rows.clear()
        self.held.clear()

    def put(self, row: dict) -> None:
        self.rows.append(dict(row))

    def update(self, account_id: str, **columns) -> None:
        next(r for r in self.rows if r["account_id"] == account_id).update(columns)

    def delete(self, account_id: str) -> None:
        self.rows[:] = [r for r in self.rows if r["account_id"] != account_id]

    def lease(self, account_id: str, expires_in_s: float, released: bool = False) -> None:
        self.held[account_id] = (account_id, NOW + expires_in_s, released)


@pytest.mark.parametrize("check", [contract.order_facets_counts_and_reservations,
                                   contract.nothing_pending_is_an_empty_queue,
                                   contract.search_by_every_key_over_every_status,
                                   contract.counts_follow_every_change,
                                   contract.ages_count_only_submitted_applications])
def test_the_fake_queue_keeps_the_contract(check):
    check(FakeWorld())
