"""applications, identifiers (the uniqueness rule), outbox

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "applications",
        sa.Column("id", UUID(as_uuid=False), primary_key=True),
        sa.Column("folio", sa.String(32), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("account_id", sa.String(64)),
        sa.Column("link_version", sa.String(64), nullable=False),
        sa.Column("es_extranjero", sa.Boolean, nullable=False),
        sa.Column("locale", sa.String(8), nullable=False, server_default=""),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("state_reason", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("state IN ('creando', 'activa', 'rechazada', 'cancelada')", name="ck_applications_state"),
        sa.UniqueConstraint("folio", name="uq_applications_folio"),
        sa.UniqueConstraint("account_id", name="uq_applications_account_id"),
    )
    op.create_index("ix_applications_creando", "applications", ["created_at"],
                    postgresql_where=sa.text("state = 'creando'"))
    op.create_index("ix_applications_username", "applications", ["username"])
    op.create_table(
        "identifiers",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("application_id", UUID(as_uuid=False),
                  sa.ForeignKey("applications.id", ondelete="CASCADE", name="fk_identifiers_application_id"),
                  nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("value", sa.String(128), nullable=False),
        sa.Column("vigente", sa.Boolean, nullable=False, server_default=sa.text("true")),
        sa.Column("released_at", sa.DateTime(timezone=True)),
    )
    op.create_index("uq_identifiers_vigente", "identifiers", ["kind", "value"], unique=True,
                    postgresql_where=sa.text("vigente"))
    op.create_index("ix_identifiers_application_id", "identifiers", ["application_id"])
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("application_id", UUID(as_uuid=False),
                  sa.ForeignKey("applications.id", ondelete="SET NULL", name="fk_outbox_application_id")),
        sa.Column("message", sa.LargeBinary, nullable=False),
        sa.Column("state", sa.String(16), nullable=False, server_default="pendiente"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("last_error", sa.String(200), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("state IN ('pendiente', 'enviado', 'fallido')", name="ck_outbox_state"),
    )
    op.create_index("ix_outbox_due", "outbox", ["next_attempt_at"], postgresql_where=sa.text("state = 'pendiente'"))


def downgrade() -> None:
    op.drop_table("outbox")
    op.drop_table("identifiers")
    op.drop_table("applications")
