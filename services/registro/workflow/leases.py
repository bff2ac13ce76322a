"""Claims on applications: one reviewer at a time, for a limited time, enforced by S3 itself.

A lease is one small JSON object per application (`storage_keys.lease_key`). A fresh claim is
a conditional create (If-None-Match: *); taking over an expired or released lease, renewing
one's own and releasing are compare-and-swap writes (If-Match: <etag read>). So two reviewers
(or two replicas) racing for the same application cannot both win: S3 accepts exactly one
conditional write per version of the object. Times come from the service's clock (replicas are
expected to keep NTP time); the lease length is `settings.claim_lease_s`.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass

from ..adapters.storage import ObjectMissing, ObjectStore
from ..domain.storage_keys import lease_key  # default key of a lease

_JSON = "application/json"


@dataclass(frozen=True)
class Reviewer:
    id: str  # the reviewer's Keycloak user id (sub)
    username: str


@dataclass(frozen=True)
class Lease:
    account_id: str
    holder_id: str
    holder_username: str
    claimed_at: float
    expires_at: float
    released: bool = False

    def active(self, now: float) -> bool:
        return not self.released and now < self.expires_at

    def held_by(self, reviewer: Reviewer, now: float) -> bool:
        return self.active(now) and self.holder_id == reviewer.id

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: bytes) -> "Lease":
        raw = json.loads(data)
        return cls(account_id=raw["account_id"], holder_id=raw["holder_id"], holder_username=raw["holder_username"],
                   claimed_at=float(raw["claimed_at"]), expires_at=float(raw["expires_at"]),
                   released=bool(raw.get("released", False)))


class LeaseHeld(Exception):
    """Another reviewer holds the application."""

    def __init__(self, lease: Lease) -> None:
        super().__init__(f"reservada por {lease.holder_username}")
        self.lease = lease


class LeaseNotHeld(Exception):
    """The reviewer does not hold (or no longer holds) the application."""


class Leases:
    def __init__(self, store: ObjectStore, lease_s: int, clock=time.time, key_of=lease_key) -> None:
        self.store = store
        self.lease_s = lease_s
        self.clock = clock
        self.key_of = key_of  # which object holds the lease (review claims, or edit locks)

    def current(self, account_id: str) -> Lease | None:
        """The stored lease, active or not; None when the application was never claimed."""
        try:
            return Lease.from_json(self.store.get(self.key_of(account_id)))
        except ObjectMissing:
            return None

    def active(self, account_id: str) -> Lease | None:
        lease = self.current(account_id)
        return lease if lease and lease.active(self.clock()) else None

    def claim(self, account_id: str, reviewer: Reviewer) -> Lease:
        """Claims (or renews one's own claim). Raises LeaseHeld when someone else holds it."""
        key = self.key_of(account_id)
        for _ in range(3):  # the object may vanish or change between our read and our write
            now = self.clock()
            lease = Lease(account_id, reviewer.id, reviewer.username, now, now + self.lease_s)
            if self.store.put_if_absent(key, lease.to_json(), content_type=_JSON):
                return lease
            try:
                data, etag = self.store.get_with_etag(key)
            except ObjectMissing:
                continue
            existing = Lease.from_json(data)
            if existing.active(now) and existing.holder_id != reviewer.id:
                raise LeaseHeld(existing)
            if self.store.replace_if_match(key, lease.to_json(), etag, content_type=_JSON):
                return lease
            # Someone wrote between our read and our write: see who.
            winner = self.current(account_id)
            if winner and winner.active(self.clock()) and winner.holder_id != reviewer.id:
                raise LeaseHeld(winner)
        raise LeaseHeld(self.current(account_id) or lease)

    def require(self, account_id: str, reviewer: Reviewer) -> Lease:
        lease = self.current(account_id)
        if lease is None or not lease.held_by(reviewer, self.clock()):
            raise LeaseNotHeld(account_id)
        return lease

    def release(self, account_id: str, reviewer: Reviewer) -> bool:
        """Marks one's own active lease released (compare-and-swap, so a lease someone took over
        after ours expired is never touched). False when there was nothing of ours to release."""
        key = self.key_of(account_id)
        try:
            data, etag = self.store.get_with_etag(key)
        except ObjectMissing:
            return False
        lease = Lease.from_json(data)
        if not lease.held_by(reviewer, self.clock()):
            return False
        released = Lease(lease.account_id, lease.holder_id, lease.holder_username, lease.claimed_at,
                         self.clock(), released=True)
        return self.store.replace_if_match(key, released.to_json(), etag, content_type=_JSON)
