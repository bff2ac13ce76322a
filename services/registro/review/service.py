"""The review console's workflow (SPEC §7), one object for the views: it wires the parts, each in
its own module —
  review_queue.py     the queue page, search, claims and "Siguiente solicitud" (SQL: queue_index.py)
  review_detail.py    one application as the reviewer sees it; round and documents digests
  decisions.py        approve / correct / reject, in their failure-safe order
  decision_emails.py  the emails a decision queues in the outbox, and their deliverer
The emails that keep failing (any kind: the outbox's `fallido` rows) are listed here for the console,
which may queue one again.
"""
from __future__ import annotations

import logging
from dataclasses import replace

from registro.adapters.identity import IdentityDirectory
from registro.adapters.storage import ObjectStore
from registro.config import Settings
from registro.domain import status as st
from registro.domain.application import Application
from registro.kernel.applications import ApplicationStore, identifiers_of
from registro.platform.outbox import FailedEmail, Outbox
from registro.kernel import audit as audit_actions
from registro.kernel.audit import AuditLog, AuditTrail
from registro.review.decision_emails import login_url  # noqa: F401 - re-exported
from registro.review.decisions import Decisions, Outcome, ReviewRefused
from registro.review.decision_records import DecisionStore
from registro.review.leases import Lease, Leases, LeaseStore, Reviewer
from registro.review.queue import QueueFilters, QueueIndex
from registro.review.page_views import PageViews
from registro.registration.responsiva_qr import mac_key
from registro.review.detail import (Detail, EarlierRejection, documents_digest, load_detail,  # noqa: F401 - re-exported
                                    round_id)
from registro.review.queue_service import NotInReview, QueuePage, ReviewQueue

log = logging.getLogger(__name__)

EARLIER_SHOWN = 10  # earlier rejections listed on a detail page (the count says how many in all)


class ReviewService:
    def __init__(self, identity: IdentityDirectory, store: ObjectStore, outbox: Outbox | None, settings: Settings,
                 index: QueueIndex | None = None, page_views: PageViews | None = None,
                 applications: ApplicationStore | None = None, *, leases: LeaseStore,
                 decisions: DecisionStore, audit: AuditLog) -> None:
        self.identity = identity
        self.page_views = page_views  # reads the code on the signed responsiva (registration/responsiva_check.py)
        self.store = store
        self.settings = settings
        self.index = index  # None: a console without a queue (tests of one application's page)
        self.leases = Leases(leases, settings.claim_lease_s)  # review_leases (PostgreSQL)
        self.audit = AuditTrail(audit)  # audit_events (PostgreSQL)
        self.queue_view = ReviewQueue(self.index, identity, store, self.leases, self.audit)
        self.applications = applications
        self.outbox = outbox  # the one delivery path (platform/outbox.py); None: a read-only console
        self.decision_records = decisions  # one row per round (PostgreSQL)
        self.decisions = Decisions(identity, decisions, outbox, settings, self.leases, self.audit)

    # reading
    def queue(self, filters: QueueFilters) -> QueuePage:
        return self.queue_view.page(filters)

    def search(self, text: str):
        return self.queue_view.search(text)

    def failed_emails(self, account_id: str | None = None) -> list[FailedEmail]:
        """The emails that kept failing (`fallido`), the newest 100 first; all of one application's when
        asked (filtered in SQL, not among the newest 100)."""
        if self.outbox is None:
            return []
        return self.outbox.failed(account_id=account_id)

    def retry_email(self, email_id: int, reviewer: Reviewer) -> bool:
        """Queues a failed email again ("Reenviar correo"), however old; False when it is no longer
        failed (another reviewer was first, or it was sent). The application's history records who asked."""
        failed = self.outbox.retry(email_id) if self.outbox is not None else None
        if failed is None:
            return False
        if failed.account_id:
            try:
                status = self.application(failed.account_id).status
                self.audit.record(audit_actions.RESEND, failed.account_id, actor_id=reviewer.id,
                                  actor_username=reviewer.username, status_before=status, status_after=status,
                                  details={"correo": failed.kind, "intentos": failed.attempts})
            except Exception:  # the email is queued all the same
                log.exception("evento de reenvío no escrito (solicitud %s)", failed.account_id)
        return True

    def application(self, account_id: str) -> Application:
        return Application(self.identity.get_account(account_id))

    def detail(self, account_id: str) -> Detail:
        detail = load_detail(self.identity, self.store, self.leases, self.audit, account_id, self.page_views,
                             mac_key(self.settings), self.decision_records)
        if self.applications is None or detail.app.status == st.RECHAZADO:
            return detail
        ids = identifiers_of(detail.app.account.attributes)
        count = self.applications.rejections_of(ids)
        if not count:
            return detail
        return replace(detail, earlier_rejections=count,
                       earlier=tuple(self._earlier(a) for a in self.applications.rejected_accounts(ids, EARLIER_SHOWN)))

    def _earlier(self, account_id: str) -> EarlierRejection:
        """One earlier rejection as its record keeps it (registro's database: its Keycloak account may be
        gone, deleted when the person registered again)."""
        earlier = self.application(account_id)
        return EarlierRejection(account_id, earlier.folio, str(earlier.decision.get("fecha", "") or ""),
                                str(earlier.decision.get("motivo", "") or ""))

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

