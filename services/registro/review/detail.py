"""What a reviewer sees of one application: the record, the automatic checks, the lease, the
history and the decision record of its round (SPEC §7)."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

from typing import Any

from registro.adapters.identity import IdentityDirectory
from registro.adapters.storage import ObjectStore
from registro.domain.application import Application
from registro.domain.checks import Check, run_checks
from registro.kernel.audit import AuditEvent, AuditTrail
from registro.documents.service import today as mexico_city_today
from registro.review.decision_records import DecisionStore
from registro.review.leases import Lease, Leases
from registro.review.page_views import PageViews
from registro.registration.responsiva_check import responsiva_facts


@dataclass(frozen=True)
class Detail:
    app: Application
    checks: list[Check]
    lease: Lease | None
    history: list[AuditEvent]
    decision_record: dict[str, Any] | None
    documents_digest: str
    # Earlier applications with this CURP, RFC or passport that were rejected (registro's database):
    # a rejection frees the person to apply again, and the reviewer still sees it — how many, and the
    # latest ones with their folio, date and reason, each opening its own detail.
    earlier_rejections: int = 0
    earlier: tuple["EarlierRejection", ...] = ()


@dataclass(frozen=True)
class EarlierRejection:
    account_id: str
    folio: str
    decided_at: str  # ISO, as the decision recorded it
    reason: str


def round_id(app: Application) -> str:
    """Identifies one submission to review: the account, its `fecha_envio` and the round decided
    before it (chained, so a resubmission within the same second still makes a new round, and
    with it a new decision record)."""
    previous = app.decision.get("ronda", "")
    return hashlib.sha256(f"{app.id}|{app.submitted_at}|{previous}".encode()).hexdigest()[:24]


def documents_digest(app: Application) -> str:
    seen = "|".join(f"{k}:{v.sha256}" for k, v in sorted(app.documents.items()))
    return hashlib.sha256(seen.encode()).hexdigest()


def decision_record(records: DecisionStore | None, app: Application) -> dict[str, Any] | None:
    ronda = app.decision.get("ronda")
    row = records.get(app.id, ronda) if ronda and records is not None else None
    return None if row is None else {**row.record, "estado": row.state}


def load_detail(identity: IdentityDirectory, store: ObjectStore, leases: Leases, audit: AuditTrail,
                account_id: str, page_views: PageViews | None = None, mac_key: str = "",
                decisions: DecisionStore | None = None) -> Detail:
    app = Application(identity.get_account(account_id))
    # The applicant's "not expired" is measured in Mexico City (documents/service.today): the same day here.
    checks = run_checks(app, responsiva_facts(store, page_views, app, mac_key), mexico_city_today())
    return Detail(app=app, checks=checks, lease=leases.active(account_id), history=audit.history(account_id),
                  decision_record=decision_record(decisions, app), documents_digest=documents_digest(app))
