"""Claims on applications: one reviewer at a time, for a limited time, enforced by PostgreSQL.

A lease is one row of `review_leases` per application (platform/db/schema.py). A claim is a single
`INSERT … ON CONFLICT (account_id) DO UPDATE … WHERE` the stored lease is released, expired or already
ours: two reviewers (or two replicas) racing for the same application cannot both win, because the
second statement waits on the row the first wrote and then finds it held. Every time — claimed,
expires, "is it still active?" — is the DATABASE's clock (`now()`), never a replica's: replicas whose
clocks disagree still agree on who holds what. The lease length is `settings.claim_lease_s`.

`LeaseStore` is the seam: `PgLeaseStore` here, an in-memory twin in tests/fakes.py, both checked by
tests/support/review_contract.py. `Leases` is what the review workflow uses on top of either.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol, runtime_checkable

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert

from registro.platform.db import Database
from registro.platform.db.schema import review_leases


@dataclass(frozen=True)
class Reviewer:
    id: str  # the reviewer's Keycloak user id (sub)
    username: str


@dataclass(frozen=True)
class Lease:
    account_id: str
    holder_id: str
    holder_username: str
    claimed_at: float  # epoch seconds (the database's clock), as the console and the index show them
    expires_at: float
    released: bool = False


class LeaseHeld(Exception):
    """Another reviewer holds the application."""

    def __init__(self, lease: Lease) -> None:
        super().__init__(f"reservada por {lease.holder_username}")
        self.lease = lease


class LeaseNotHeld(Exception):
    """The reviewer does not hold (or no longer holds) the application."""


@runtime_checkable
class LeaseStore(Protocol):
    def claim(self, account_id: str, holder_id: str, holder_username: str, lease_s: float) -> Lease | None:
        """Writes a lease of `lease_s` seconds for the holder, in one statement, unless someone else's
        lease is active (neither released nor expired): then None. Renews the holder's own lease."""
        ...

    def current(self, account_id: str) -> Lease | None:
        """The stored lease, active or not; None when the application was never claimed."""
        ...

    def active(self, account_id: str) -> Lease | None:
        """The lease, when it is neither released nor expired by the store's clock."""
        ...

    def held(self, account_id: str, holder_id: str) -> Lease | None:
        """The lease, when it is active and the holder's."""
        ...

    def release(self, account_id: str, holder_id: str) -> bool:
        """Marks the holder's active lease released (it expires now); False when there was nothing of
        theirs to release (a lease someone took over after theirs expired is never touched)."""
        ...

    def active_all(self) -> list[Lease]:
        """Every active lease (what the queue index mirrors)."""
        ...


def _lease(row) -> Lease:
    return Lease(row.account_id, row.holder_id, row.holder_username, row.claimed_at.timestamp(),
                 row.expires_at.timestamp(), row.released)


class PgLeaseStore:
    """review_leases. Times are the database's `now()` (not the replica's clock), so the outcome of a
    claim never depends on which replica asked."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def claim(self, account_id: str, holder_id: str, holder_username: str, lease_s: float) -> Lease | None:
        t = review_leases
        values = dict(account_id=account_id, holder_id=holder_id, holder_username=holder_username,
                      claimed_at=func.now(), expires_at=func.now() + timedelta(seconds=lease_s), released=False)
        stmt = insert(t).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[t.c.account_id],
            set_={name: stmt.excluded[name] for name in values if name != "account_id"},
            where=t.c.released | (t.c.expires_at < func.now()) | (t.c.holder_id == holder_id),
        ).returning(t)
        with self.db.transaction() as conn:
            row = conn.execute(stmt).one_or_none()
        return None if row is None else _lease(row)

    def current(self, account_id: str) -> Lease | None:
        return self._one(review_leases.c.account_id == account_id)

    def active(self, account_id: str) -> Lease | None:
        t = review_leases
        return self._one(t.c.account_id == account_id, t.c.released.is_(False), t.c.expires_at > func.now())

    def held(self, account_id: str, holder_id: str) -> Lease | None:
        t = review_leases
        return self._one(t.c.account_id == account_id, t.c.holder_id == holder_id, t.c.released.is_(False),
                         t.c.expires_at > func.now())

    def release(self, account_id: str, holder_id: str) -> bool:
        t = review_leases
        with self.db.transaction() as conn:
            row = conn.execute(update(t).where(t.c.account_id == account_id, t.c.holder_id == holder_id,
                                               t.c.released.is_(False), t.c.expires_at > func.now())
                               .values(released=True, expires_at=func.now()).returning(t.c.account_id)).first()
        return row is not None

    def active_all(self) -> list[Lease]:
        t = review_leases
        with self.db.transaction() as conn:
            rows = conn.execute(select(t).where(t.c.released.is_(False), t.c.expires_at > func.now())).all()
        return [_lease(r) for r in rows]

    def _one(self, *where) -> Lease | None:
        with self.db.transaction() as conn:
            row = conn.execute(select(review_leases).where(*where)).one_or_none()
        return None if row is None else _lease(row)


class Leases:
    """The review workflow's claims over a LeaseStore: LeaseHeld / LeaseNotHeld for the console."""

    def __init__(self, store: LeaseStore, lease_s: int) -> None:
        self.store = store
        self.lease_s = lease_s

    def current(self, account_id: str) -> Lease | None:
        """The stored lease, active or not; None when the application was never claimed."""
        return self.store.current(account_id)

    def active(self, account_id: str) -> Lease | None:
        return self.store.active(account_id)

    def claim(self, account_id: str, reviewer: Reviewer) -> Lease:
        """Claims (or renews one's own claim). Raises LeaseHeld when someone else holds it."""
        for _ in range(3):  # the holder may release between our refused claim and our read of it
            lease = self.store.claim(account_id, reviewer.id, reviewer.username, self.lease_s)
            if lease is not None:
                return lease
            holder = self.store.active(account_id)
            if holder is not None and holder.holder_id != reviewer.id:
                raise LeaseHeld(holder)
        raise LeaseHeld(self.store.current(account_id)
                        or Lease(account_id, "", "otro revisor", 0.0, 0.0))

    def require(self, account_id: str, reviewer: Reviewer) -> Lease:
        lease = self.store.held(account_id, reviewer.id)
        if lease is None:
            raise LeaseNotHeld(account_id)
        return lease

    def release(self, account_id: str, reviewer: Reviewer) -> bool:
        """Releases one's own active lease. False when there was nothing of ours to release."""
        return self.store.release(account_id, reviewer.id)
