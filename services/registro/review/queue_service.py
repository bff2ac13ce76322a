"""The review queue as reviewers see it: a page of the index, search, claims and "Siguiente solicitud".

Everything here reads the queue's indexed queries (review/queue.py): a page costs the same
with 200 or 200,000 pending. The leases (review/leases.py) are the authority on who holds an
application; the queue reads the same rows for its counts and filters, and "Siguiente solicitud"
claims with the same statement a click on "Reservar" uses, so two reviewers asking at the same
instant get two different applications.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from keycloak_ext import AccountNotFound

from registro.adapters.identity import IdentityDirectory
from registro.adapters.storage import ObjectStore
from registro.domain import status as st
from registro.domain.application import Application
from registro.kernel import audit as audit_actions
from registro.kernel.audit import AuditTrail
from registro.review.leases import Lease, LeaseHeld, Leases, Reviewer
from registro.review.queue import QueueEntry, QueueFilters, QueueIndex

PAGE_SIZE = 25
NEXT_ATTEMPTS = 200  # candidates tried by one "Siguiente solicitud" before answering "none free"


class NotInReview(Exception):
    message = "La solicitud ya no está en revisión."


@dataclass
class QueuePage:
    rows: list[tuple[QueueEntry, Lease | None]]
    total_pending: int
    matching: int
    page: int
    pages: int
    by_tipo: dict[str, int]
    by_extranjero: dict[str, int]
    claimed: int


class ReviewQueue:
    def __init__(self, index: QueueIndex, identity: IdentityDirectory, store: ObjectStore, leases: Leases,
                 audit: AuditTrail) -> None:
        self.index = index
        self.identity = identity
        self.store = store
        self.leases = leases
        self.audit = audit

    def page(self, filters: QueueFilters) -> QueuePage:
        counts, found = self.index.overview(filters, PAGE_SIZE)
        return QueuePage(rows=self._rows(found.entries, found.reserved), total_pending=counts.total, matching=found.matching, page=found.page,
                         pages=found.pages, by_tipo=counts.by_tipo, by_extranjero=counts.by_extranjero,
                         claimed=counts.reserved)

    def search(self, text: str) -> list[tuple[QueueEntry, Lease | None]]:
        return self._rows(self.index.search(text), self.index.reserved())

    def _rows(self, entries, reserved) -> list[tuple[QueueEntry, Lease | None]]:
        """Each entry with its lease, read only for those the queue found reserved."""
        return [(e, self.leases.active(e.account_id) if e.account_id in reserved else None) for e in entries]

    # --- claims -------------------------------------------------------------------------------
    def claim(self, account_id: str, reviewer: Reviewer) -> Lease:
        app = Application(self.identity.get_account(account_id))
        if app.status != st.EN_REVISION:
            raise NotInReview()
        lease = self.leases.claim(account_id, reviewer)  # raises LeaseHeld
        self.audit.record(audit_actions.CLAIM, account_id, actor_id=reviewer.id, actor_username=reviewer.username,
                          status_before=app.status, status_after=app.status,
                          details={"vence": datetime.fromtimestamp(lease.expires_at, timezone.utc).isoformat()})
        return lease

    def release(self, account_id: str, reviewer: Reviewer) -> bool:
        released = self.leases.release(account_id, reviewer)
        if released:
            app = Application(self.identity.get_account(account_id))
            self.audit.record(audit_actions.RELEASE, account_id, actor_id=reviewer.id,
                              actor_username=reviewer.username, status_before=app.status, status_after=app.status)
        return released

    def next(self, filters: QueueFilters, reviewer: Reviewer) -> Lease | None:
        """Claims the oldest application matching the filters that nobody holds; None when there is none.
        The queue proposes candidates oldest first; the lease decides (one winner per application)."""
        for attempt, account_id in enumerate(self.index.unreserved(filters)):
            if attempt >= NEXT_ATTEMPTS:
                break
            try:
                return self.claim(account_id, reviewer)
            except (LeaseHeld, NotInReview, AccountNotFound):  # claimed meanwhile, or left review
                continue
        return None
