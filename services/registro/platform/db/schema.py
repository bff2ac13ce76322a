"""The tables of registro's database (SQLAlchemy Core). Migrations under migrations/ create them;
this module is what the code queries with. A test compares the two (tests/integration/test_database.py).

applications   one row per registration attempt, from the intent (`creando`) on: the application's
               record. `state` is its lifecycle here (creando → activa → rechazada | cancelada);
               `estatus` the workflow status of SPEC §9; `record` the applicant's data, documents and
               review state (the attribute names of domain/application.py). Keycloak keeps the
               account only (kernel/records.py says which attributes it keeps for tokens).
identifiers    the normalized values one person may hold once (CURP, every RFC, country+passport).
               A value is unique among rows still `vigente`: a rejected or cancelled application
               releases its identifiers in the same transaction that changes its state, and keeps
               its history (the reviewer sees the earlier rejection).
outbox         every email, written in the same transaction as the change that causes it; a worker
               in each replica sends it (FOR UPDATE SKIP LOCKED), with retries and backoff.
"""
from __future__ import annotations

from sqlalchemy import (BigInteger, Boolean, CheckConstraint, Column, DateTime, ForeignKey, Index, Integer, LargeBinary,
                        MetaData, SmallInteger, String, Table, Text, UniqueConstraint, func, text)
from sqlalchemy.dialects.postgresql import JSONB, UUID

metadata = MetaData(naming_convention={
    "ix": "ix_%(table_name)s_%(column_0_name)s", "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s", "fk": "fk_%(table_name)s_%(column_0_name)s",
    "pk": "pk_%(table_name)s",
})

# The application's lifecycle in this database (the fine-grained status is Keycloak's `estatus`).
CREANDO, ACTIVA, RECHAZADA, CANCELADA = "creando", "activa", "rechazada", "cancelada"
LIFECYCLE = (CREANDO, ACTIVA, RECHAZADA, CANCELADA)

applications = Table(
    "applications", metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column("folio", String(32), nullable=False, unique=True),  # never reused, whatever happens to the row
    Column("username", String(64), nullable=False),
    Column("account_id", String(64), unique=True),  # Keycloak's id, known once the account exists
    Column("link_version", String(64), nullable=False),  # the first confirmation link's version
    Column("es_extranjero", Boolean, nullable=False),
    Column("locale", String(8), nullable=False, server_default=""),
    Column("state", String(16), nullable=False),
    Column("state_reason", Text, nullable=False, server_default=""),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("estatus", String(32)),  # SPEC §9 status; NULL while creando
    Column("submitted_at", DateTime(timezone=True)),  # the last "Enviar a validación": queue order
    Column("tipo_usuario", String(64), nullable=False, server_default=""),
    Column("email", String(254), nullable=False, server_default=""),
    Column("first_name", String(255), nullable=False, server_default=""),
    Column("last_name", String(255), nullable=False, server_default=""),
    Column("enabled", Boolean, nullable=False, server_default=text("false")),  # as last set by registro
    Column("email_verified", Boolean, nullable=False, server_default=text("false")),
    Column("record", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("search_text", Text, nullable=False, server_default=""),  # domain.search_text.search_text_of
    # The privacy notice accepted in the registration form (version, SHA-256, language; migration 0007): the
    # intent's, so that the reconciler finishing an interrupted registration writes its acceptance too.
    Column("accepted_notice", JSONB),
    CheckConstraint(f"state IN ({', '.join(repr(s) for s in LIFECYCLE)})", name="state"),
)
# The reconciler's query: intents left behind, oldest first.
Index("ix_applications_creando", applications.c.created_at, postgresql_where=text("state = 'creando'"))
Index("ix_applications_username", applications.c.username)
Index("ix_applications_estatus", applications.c.estatus)
# The review queue, its facets and counts, and search (migration 0004; review/queue.py reads them).
_PENDING = text("estatus = 'en_revision' AND state = 'activa'")
Index("ix_applications_queue", applications.c.submitted_at, applications.c.id,
      postgresql_include=["tipo_usuario", "es_extranjero"], postgresql_where=_PENDING)
Index("ix_applications_queue_tipo", applications.c.tipo_usuario, applications.c.submitted_at, applications.c.id,
      postgresql_include=["es_extranjero"], postgresql_where=_PENDING)
# The pending per facet, kept by a trigger on applications (migration 0004): a few rows per facet (random
# slots, so concurrent changes of one facet rarely wait on one row), summed when read.
queue_counts = Table(
    "queue_counts", metadata,
    Column("tipo_usuario", String(64), primary_key=True),
    Column("es_extranjero", Boolean, primary_key=True),
    Column("slot", SmallInteger, primary_key=True),
    Column("n", BigInteger, nullable=False, server_default="0"),
)
# Search by word beginnings (domain/search_text.py): a GIN index over the words of search_text (0005).
Index("ix_applications_search_words",
      func.array_to_tsvector(func.string_to_array(applications.c.search_text, " ")), postgresql_using="gin")
Index("ix_applications_search_words_pending",
      func.array_to_tsvector(func.string_to_array(applications.c.search_text, " ")), postgresql_using="gin",
      postgresql_where=text("estatus = 'en_revision' AND state = 'activa'"))

identifiers = Table(
    "identifiers", metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("application_id", UUID(as_uuid=False), ForeignKey("applications.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("value", String(128), nullable=False),  # normalized (trimmed, upper case)
    Column("vigente", Boolean, nullable=False, server_default=text("true")),
    Column("released_at", DateTime(timezone=True)),
)
# The uniqueness rule itself: one holder per value among the identifiers still in force.
Index("uq_identifiers_vigente", identifiers.c.kind, identifiers.c.value, unique=True,
      postgresql_where=text("vigente"))
Index("ix_identifiers_application_id", identifiers.c.application_id)

# Delivery states of an outbox row.
PENDIENTE, ENVIADO, FALLIDO = "pendiente", "enviado", "fallido"

outbox = Table(
    "outbox", metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),  # the template: confirmacion, decision, enlace_estado, …
    Column("application_id", UUID(as_uuid=False), ForeignKey("applications.id", ondelete="SET NULL")),
    # the rendered email (JSON, attachments base64); stored uncompressed (migration 0006)
    Column("message", LargeBinary, nullable=False),
    Column("state", String(16), nullable=False, server_default=PENDIENTE),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("last_error", String(200), nullable=False, server_default=""),  # an exception type, no personal data
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("sent_at", DateTime(timezone=True)),
    CheckConstraint(f"state IN ('{PENDIENTE}', '{ENVIADO}', '{FALLIDO}')", name="state"),
)
# What the workers poll: due rows only, in order.
Index("ix_outbox_due", outbox.c.next_attempt_at, postgresql_where=text(f"state = '{PENDIENTE}'"))
# What the console lists and the metrics count: the rows that gave up (migration 0008).
Index("ix_outbox_failed", outbox.c.created_at, outbox.c.id, postgresql_where=text(f"state = '{FALLIDO}'"))
# An application's emails not yet delivered: deleted with its account, listed as its failed ones (migration 0012).
Index("ix_outbox_unsent_by_application", outbox.c.application_id, postgresql_where=text(f"state <> '{ENVIADO}'"))

# The phone as a camera (issue 23, documents/phone_links.py): a link (QR) and a short code that open an
# application's uploads on a phone for 15 minutes, once. Only hashes are kept: the token's SHA-256, the
# code's HMAC (a short code's plain hash could be reversed by trying them all), the phone's session's SHA-256.
phone_links = Table(
    "phone_links", metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("account_id", String(64), nullable=False),  # the application (its Keycloak account), as links name it
    Column("link_version", String(64), nullable=False),  # the personal link's version: a replaced link ends it
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("code_hash", String(64), nullable=False),
    Column("session_hash", String(64), unique=True),  # set when a phone opens it (single use)
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("used_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),  # a newer link, "Desconectar", or the application submitted
    Column("uploaded_at", DateTime(timezone=True)),  # the phone's last upload: what the desktop page polls
)
# A code opens one link: unique among the links not yet opened nor revoked.
Index("uq_phone_links_code_open", phone_links.c.code_hash, unique=True,
      postgresql_where=text("used_at IS NULL AND revoked_at IS NULL"))
Index("ix_phone_links_account_id", phone_links.c.account_id)
Index("ix_phone_links_expires_at", phone_links.c.expires_at)


# A reviewer's claim on an application (review/leases.py): one row per application, times from the
# database's clock so replicas' clocks do not matter.
review_leases = Table(
    "review_leases", metadata,
    Column("account_id", String(64), primary_key=True),
    Column("holder_id", String(64), nullable=False),
    Column("holder_username", String(255), nullable=False),
    Column("claimed_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("released", Boolean, nullable=False, server_default=text("false")),
)
Index("ix_review_leases_expires_at", review_leases.c.expires_at)

# One decision per review round (review/decisions.py): the unique (account, round) lets exactly one of
# two identical POSTs through; `record` keeps its nonce, held outbox rows and audit state.
decisions = Table(
    "decisions", metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("account_id", String(64), nullable=False),
    Column("ronda", String(64), nullable=False),
    Column("decision", String(32), nullable=False),
    Column("state", String(16), nullable=False),  # en_curso | completando | aplicada (review/decision_records.py)
    Column("record", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("account_id", "ronda", name="uq_decisions_account_id"),
)
# The rows that may still owe their completion (migration 0009): the background pass reads them every
# RECONCILE_EVERY_S in each replica, without scanning one row per decided round.
DECISIONS_OWED = "state <> 'aplicada' OR (record ->> 'auditoria') = 'pendiente'"
Index("ix_decisions_owed", decisions.c.updated_at, postgresql_where=text(DECISIONS_OWED))

# The append-only audit trail (kernel/audit.py): a trigger refuses UPDATE.
audit_events = Table(
    "audit_events", metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("event_id", String(32), nullable=False, unique=True),
    Column("account_id", String(64), nullable=False),
    Column("action", String(32), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("event", JSONB, nullable=False),
)
Index("ix_audit_events_account_id", audit_events.c.account_id, audit_events.c.at)
Index("ix_audit_events_at", audit_events.c.at, audit_events.c.action)

# The state of a document's latest direct upload (documents/direct_uploads.py).
upload_markers = Table(
    "upload_markers", metadata,
    Column("account_id", String(64), primary_key=True),
    Column("kind", String(32), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("issued", String(40), nullable=False),  # the receipt's issue time: of two uploads, the later wins
    Column("marker", JSONB, nullable=False),
    Column("since", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# What the machine read of an application's document (documents/readings.py): one row per document kind,
# naming the document read; personal data, deleted with the documents.
document_readings = Table(
    "document_readings", metadata,
    Column("account_id", String(64), primary_key=True),
    Column("kind", String(32), primary_key=True),
    Column("document_key", String(255), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("reading", JSONB, nullable=False),
    Column("read_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# The viewer's page-image manifests (review/page_views.py, migration 0011): one per stored document, the
# images themselves in S3. `version`: PAGE_VIEWS_VERSION when made; another version is rendered again.
page_view_manifests = Table(
    "page_view_manifests", metadata,
    Column("source_key", String(255), primary_key=True),
    Column("account_id", String(64), nullable=False),
    Column("version", String(8), nullable=False),
    Column("manifest", JSONB, nullable=False),
    Column("made_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
Index("ix_page_view_manifests_account", page_view_manifests.c.account_id)  # forget(account_id)

# Captcha solutions already used (adapters/captcha.py): the primary key makes a second use fail.
captcha_uses = Table(
    "captcha_uses", metadata,
    Column("signature", String(128), primary_key=True),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)
Index("ix_captcha_uses_expires_at", captcha_uses.c.expires_at)
