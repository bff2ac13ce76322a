"""Everything one app instance is made of, built in one place at start-up and typed.

`create_app` calls `build(settings, given)`: unit tests hand in fakes for the parts they care
about (`Adapters(identity=…, storage=…, mailer=…, pdf=…)`), and every part left out is built
here from configuration. Views and workflows ask `adapters()` for a part; nothing else builds one.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from flask import current_app, has_request_context, request

from registro.adapters.identity import IdentityDirectory
from registro.adapters.mail import Mailer
from registro.adapters.pdf import PdfRenderer
from registro.adapters.storage import ObjectStore
from registro.config import Settings
from registro.kernel.document_traces import DocumentTraces

if TYPE_CHECKING:  # imported for the annotations only: these modules import the container back
    from registro.adapters.captcha import Captcha, UsedSolutions
    from registro.kernel.applications import ApplicationStore
    from registro.kernel.audit import AuditLog
    from registro.documents.direct_uploads import UploadMarkers
    from registro.platform.db import Database
    from registro.platform.jobs import Periodic
    from registro.platform.outbox import Outbox, OutboxStore
    from registro.documents.readings import DocumentReadings, ReadingStore
    from registro.documents.phone_links import PhoneLinkStore
    from registro.review.decision_records import DecisionStore
    from registro.review.leases import LeaseStore
    from registro.recovery.service import RecoveryRequests
    from registro.adapters.sessions import ConsoleSessions
    from registro.review.queue import QueueIndex
    from registro.review.page_views import ManifestStore, PageViews
    from registro.applicant.privacy import PrivacyNotices
    from registro.domain.postal import PostalCatalog

APP_KEY = "registro.adapters"
SETTINGS_KEY = "registro.settings"


@dataclass
class Adapters:
    identity: IdentityDirectory
    storage: ObjectStore
    mailer: Mailer
    pdf: PdfRenderer | None = None
    captcha: "Captcha | None" = None
    recovery: "RecoveryRequests | None" = None  # the recovery front door's queue (outbox rows)
    queue_index: "QueueIndex | None" = None
    console_sessions: "ConsoleSessions | None" = None
    page_views: "PageViews | None" = None  # the reviewer's document viewer (page images in S3)
    privacy: "PrivacyNotices | None" = None  # the privacy notices, read once
    postal: "PostalCatalog | None" = None  # postal codes (SEPOMEX), opened once read-only
    database: "Database | None" = None  # registro's PostgreSQL (platform/db), from DATABASE_URL
    applications: "ApplicationStore | None" = None  # applications and their identifiers (kernel/applications.py)
    outbox_store: "OutboxStore | None" = None  # the outbox table (platform/outbox.py)
    outbox: "Outbox | None" = None  # the one email path: queue + delivery worker (platform/outbox.py)
    reconciler: "Periodic | None" = None  # finishes or undoes interrupted registrations (registration/reconcile.py)
    # "Lectura automática" of uploaded IDs and CURPs (documents/readings.py); unit tests that hand in their
    # adapters leave it off unless they hand one in (OCR is a second of CPU per photo).
    readings: "DocumentReadings | None" = None
    phone_links: "PhoneLinkStore | None" = None  # the phone as a camera (documents/phone_links.py), in PostgreSQL
    review_leases: "LeaseStore | None" = None  # reviewers' claims (review/leases.py), in PostgreSQL
    decisions: "DecisionStore | None" = None  # one decision row per review round (review/decision_records.py)
    audit: "AuditLog | None" = None  # the append-only audit trail (kernel/audit.py), in PostgreSQL
    used_captchas: "UsedSolutions | None" = None  # captcha solutions used once (platform/captcha_uses.py)
    upload_markers: "UploadMarkers | None" = None  # direct uploads' states (documents/direct_uploads.py)
    reading_store: "ReadingStore | None" = None  # what the machine read of documents (documents/readings.py)
    page_view_store: "ManifestStore | None" = None  # the viewer's page-image manifests (review/page_views.py)

    def document_traces(self) -> DocumentTraces:
        """The rows that describe an application's documents, deleted with them (kernel/document_traces.py)."""
        return DocumentTraces(tuple(s for s in (self.upload_markers, self.reading_store, self.page_view_store)
                                    if s is not None))


def adapters() -> Adapters:
    return current_app.extensions[APP_KEY]


def settings() -> Settings:
    return current_app.extensions[SETTINGS_KEY]


def real_adapters(s: Settings) -> Adapters:
    from keycloak_ext import KeycloakGateway

    from registro.adapters.mail import SmtpMailer
    from registro.adapters.storage import S3Store
    from registro.observability.counters import keycloak_answered

    def answered(method: str, status: int) -> None:
        # A context made for background work (an email's links) has no endpoint either: "fondo".
        keycloak_answered(method, status, request.endpoint if has_request_context() else None)

    a = _with_database(s, Adapters(identity=KeycloakGateway.for_service(s.keycloak, on_answer=answered),
                                   storage=S3Store(s.s3),
                                   mailer=SmtpMailer(s.smtp)))
    if a.database is None:
        return a
    from registro.kernel.records import RecordedIdentity

    # Applications are read from and written to registro's database; Keycloak keeps the accounts.
    return replace(a, identity=RecordedIdentity(a.identity, a.database))


def build(s: Settings, given: Adapters | None = None) -> Adapters:
    """Completes `given` (or the real adapters) with every part built from settings."""
    from registro.adapters.captcha import Captcha
    from registro.adapters.pdf import PROCESS_RENDERER
    from registro.observability.counters import count
    from registro.platform.outbox import Outbox
    from registro.documents.phone_links import PgPhoneLinkStore
    from registro.review.decision_records import PgDecisionStore
    from registro.review.leases import PgLeaseStore
    from registro.documents.readings import DocumentReadings
    from registro.review.decision_emails import KINDS as DECISION_KINDS, DecisionDelivery
    from registro.recovery.service import RECOVERY, RecoveryRequests, ResetTarget
    from registro.adapters.sessions import sessions_for
    from registro.review.queue import PgQueueIndex
    from registro.adapters.page_render import SubprocessPageRenderer
    from registro.review.page_views import PageViews
    from registro.applicant.privacy import PrivacyNotices
    from registro.domain.postal import PostalCatalog

    a = given or real_adapters(s)
    a = _with_database(s, a)
    outbox = a.outbox or (Outbox(a.outbox_store, a.mailer, background=s.outbox_background, count=count)
                          if a.outbox_store is not None else None)
    recovery = a.recovery
    if outbox is not None:
        # The outbox's deliverers other than SMTP: what each kind of row does when it is due.
        recovery = recovery or RecoveryRequests(outbox, a.identity, ResetTarget(client_id=s.portal_client_id,
                                                                                redirect_uri=s.portal_login_url))
        outbox.route(RECOVERY, recovery.deliver)
        decisions = DecisionDelivery(a.identity, s)
        for kind in DECISION_KINDS:
            outbox.route(kind, decisions)
    return replace(
        a,
        pdf=a.pdf or PROCESS_RENDERER,
        captcha=a.captcha or (Captcha(s.captcha_hmac_key or s.secret_key, s.captcha_ttl_s, a.used_captchas)
                              if a.used_captchas is not None else None),
        recovery=recovery,
        queue_index=a.queue_index or (PgQueueIndex(a.database) if a.database is not None else None),
        console_sessions=a.console_sessions or sessions_for(s.redis_url),
        page_views=a.page_views or (PageViews(a.storage, SubprocessPageRenderer(), a.page_view_store)
                                    if a.page_view_store is not None else None),
        privacy=a.privacy or PrivacyNotices(s.privacy_notice_dir or None),
        postal=a.postal or PostalCatalog.open(s.postal_catalog_path or None),
        outbox=outbox,
        readings=a.readings or (DocumentReadings(a.storage, a.reading_store)
                                if given is None and a.reading_store is not None else None),
        phone_links=a.phone_links or (PgPhoneLinkStore(a.database) if a.database is not None else None),
        review_leases=a.review_leases or (PgLeaseStore(a.database) if a.database is not None else None),
        decisions=a.decisions or (PgDecisionStore(a.database) if a.database is not None else None),
    )


def _with_database(s: Settings, a: Adapters) -> Adapters:
    """The database-backed parts, built from DATABASE_URL unless handed in (unit tests hand in the
    in-memory twins of tests/fakes.py). Without either, the parts stay None and a request that needs
    them fails loudly: there is no stand-in store."""
    if a.applications is not None and a.outbox_store is not None:
        return a
    if not s.database_url:
        return a
    from registro.kernel.applications import PgApplicationStore
    from registro.platform.captcha_uses import PgUsedSolutions
    from registro.platform.db import Database
    from registro.platform.outbox import PgOutboxStore
    from registro.kernel.audit import PgAuditLog
    from registro.documents.direct_uploads import PgUploadMarkers
    from registro.documents.readings import PgReadingStore
    from registro.review.page_views import PgManifestStore

    db = a.database or Database.shared(s.database_url)
    return replace(a, database=db, applications=a.applications or PgApplicationStore(db),
                   outbox_store=a.outbox_store or PgOutboxStore(db), audit=a.audit or PgAuditLog(db),
                   used_captchas=a.used_captchas or PgUsedSolutions(db),
                   upload_markers=a.upload_markers or PgUploadMarkers(db),
                   reading_store=a.reading_store or PgReadingStore(db),
                   page_view_store=a.page_view_store or PgManifestStore(db))
