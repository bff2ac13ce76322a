"""The review console's workflow (SPEC §7), one object for the views: it wires the parts, each in
its own module —
  review_queue.py     the queue page, search, claims and "Siguiente solicitud" (over queue_index.py)
  review_detail.py    one application as the reviewer sees it; round and documents digests
  decisions.py        approve / correct / reject / resend, in their failure-safe order
  decision_emails.py  the emails a decision sends
"""
from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from ..adapters.identity import IdentityDirectory
from ..adapters.mail import Mailer
from ..adapters.storage import ObjectStore
from ..config import Settings
from ..domain.application import Application
from .audit import AuditTrail
from .decision_emails import login_url  # noqa: F401 - re-exported
from .decisions import Decisions, Outcome, ReviewRefused
from .leases import Lease, Leases, Reviewer
from .queue_index import MemoryBackend, QueueFilters, QueueIndex
from .page_views import PageViews
from .responsiva_qr import mac_key
from .review_detail import Detail, documents_digest, load_detail, round_id  # noqa: F401 - re-exported
from .review_queue import NotInReview, QueuePage, ReviewQueue

from ..kernel.applications import identifiers_of

if TYPE_CHECKING:
    from ..kernel.applications import ApplicationStore


class ReviewService:
    def __init__(self, identity: IdentityDirectory, store: ObjectStore, mailer: Mailer, settings: Settings,
                 index: QueueIndex | None = None, page_views: PageViews | None = None,
                 applications: "ApplicationStore | None" = None) -> None:
        self.identity = identity
        self.page_views = page_views  # reads the code on the signed responsiva (workflow/responsiva_check.py)
        self.store = store
        self.settings = settings
        self.index = index if index is not None else QueueIndex(MemoryBackend())
        self.leases = Leases(store, settings.claim_lease_s)
        self.audit = AuditTrail(store)
        self.queue_view = ReviewQueue(self.index, identity, store, self.leases, self.audit)
        self.applications = applications
        self.decisions = Decisions(identity, store, mailer, settings, self.leases, self.audit, self.index,
                                   applications)

    # reading
    def queue(self, filters: QueueFilters) -> QueuePage:
        return self.queue_view.page(filters)

    def search(self, text: str):
        return self.queue_view.search(text)

    def failed_emails(self) -> list[str]:
        return self.queue_view.failed_emails()

    def application(self, account_id: str) -> Application:
        return Application(self.identity.get_account(account_id))

    def detail(self, account_id: str) -> Detail:
        detail = load_detail(self.identity, self.store, self.leases, self.audit, account_id, self.page_views,
                             mac_key(self.settings))
        if self.applications is None or detail.app.status == "rechazado":
            return detail
        return replace(detail, earlier_rejections=self.applications.rejections_of(
            identifiers_of(detail.app.account.attributes)))

    # claims
    def claim(self, account_id: str, reviewer: Reviewer) -> Lease:
        try:
            return self.queue_view.claim(account_id, reviewer)
        except NotInReview as exc:
            raise ReviewRefused(exc.message) from None

    def release(self, account_id: str, reviewer: Reviewer) -> bool:
        return self.queue_view.release(account_id, reviewer)

    def next(self, filters: QueueFilters, reviewer: Reviewer) -> Lease | None:
        return self.queue_view.next(filters, reviewer)

    # decisions
    def approve(self, account_id: str, reviewer: Reviewer, **seen) -> Outcome:
        return self.decisions.approve(account_id, reviewer, **seen)

    def request_correction(self, account_id: str, reviewer: Reviewer, **kwargs) -> Outcome:
        return self.decisions.request_correction(account_id, reviewer, **kwargs)

    def reject(self, account_id: str, reviewer: Reviewer, **kwargs) -> Outcome:
        return self.decisions.reject(account_id, reviewer, **kwargs)

    def resend(self, account_id: str, reviewer: Reviewer) -> Outcome:
        return self.decisions.resend(account_id, reviewer)
