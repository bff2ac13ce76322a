"""The tables of registro's database (SQLAlchemy Core). Migrations under migrations/ create them;
this module is what the code queries with. A test compares the two (tests/integration/test_database.py).

applications   one row per registration attempt, from the intent (`creando`) on. The account's
               workflow status (SPEC §9) is still kept in Keycloak; the row keeps the application's
               lifecycle: creando → activa → rechazada | cancelada.
identifiers    the normalized values one person may hold once (CURP, every RFC, country+passport).
               A value is unique among rows still `vigente`: a rejected or cancelled application
               releases its identifiers in the same transaction that changes its state, and keeps
               its history (the reviewer sees the earlier rejection).
outbox         every email, written in the same transaction as the change that causes it; a worker
               in each replica sends it (FOR UPDATE SKIP LOCKED), with retries and backoff.
"""
from __future__ import annotations

from sqlalchemy import (BigInteger, Boolean, CheckConstraint, Column, DateTime, ForeignKey, Index, Integer, LargeBinary,
                        MetaData, String, Table, Text, func, text)
from sqlalchemy.dialects.postgresql import UUID

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
    CheckConstraint(f"state IN ({', '.join(repr(s) for s in LIFECYCLE)})", name="state"),
)
# The reconciler's query: intents left behind, oldest first.
Index("ix_applications_creando", applications.c.created_at, postgresql_where=text("state = 'creando'"))
Index("ix_applications_username", applications.c.username)

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
    Column("message", LargeBinary, nullable=False),  # the rendered email (JSON, attachments base64)
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

# The phone as a camera (issue 23, workflow/phone_links.py): a link (QR) and a short code that open an
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
