"""the application's record in PostgreSQL: status, documents and review state leave Keycloak and S3

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("applications", sa.Column("estatus", sa.String(32)))
    op.add_column("applications", sa.Column("submitted_at", sa.DateTime(timezone=True)))
    op.add_column("applications", sa.Column("tipo_usuario", sa.String(64), nullable=False, server_default=""))
    op.add_column("applications", sa.Column("email", sa.String(254), nullable=False, server_default=""))
    op.add_column("applications", sa.Column("first_name", sa.String(255), nullable=False, server_default=""))
    op.add_column("applications", sa.Column("last_name", sa.String(255), nullable=False, server_default=""))
    op.add_column("applications", sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.false()))
    op.add_column("applications", sa.Column("email_verified", sa.Boolean, nullable=False, server_default=sa.false()))
    op.add_column("applications", sa.Column("record", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")))
    op.add_column("applications", sa.Column("search_text", sa.Text, nullable=False, server_default=""))
    op.create_index("ix_applications_estatus", "applications", ["estatus"])

    op.create_table(
        "review_leases",
        sa.Column("account_id", sa.String(64), primary_key=True),
        sa.Column("holder_id", sa.String(64), nullable=False),
        sa.Column("holder_username", sa.String(255), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("released", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_index("ix_review_leases_expires_at", "review_leases", ["expires_at"])

    op.create_table(
        "decisions",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("ronda", sa.String(64), nullable=False),
        sa.Column("decision", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("record", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.UniqueConstraint("account_id", "ronda", name="uq_decisions_account_id"),
    )

    op.create_table(
        "audit_events",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(32), nullable=False),
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("event", JSONB, nullable=False),
        sa.UniqueConstraint("event_id", name="uq_audit_events_event_id"),
    )
    op.create_index("ix_audit_events_account_id", "audit_events", ["account_id", "at"])
    op.create_index("ix_audit_events_at", "audit_events", ["at", "action"])
    # Append-only: an event is never changed (a retention purge may delete, never rewrite).
    op.execute("""
        CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'audit_events is append-only'; END $$""")
    op.execute("""CREATE TRIGGER audit_events_append_only BEFORE UPDATE ON audit_events
                  FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()""")

    op.create_table(
        "upload_markers",
        sa.Column("account_id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(32), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("issued", sa.String(40), nullable=False),
        sa.Column("marker", JSONB, nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )

    op.create_table(
        "captcha_uses",
        sa.Column("signature", sa.String(128), primary_key=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_captcha_uses_expires_at", "captcha_uses", ["expires_at"])


def downgrade() -> None:
    op.drop_table("captcha_uses")
    op.drop_table("upload_markers")
    op.drop_table("audit_events")
    op.execute("DROP FUNCTION audit_events_append_only()")
    op.drop_table("decisions")
    op.drop_table("review_leases")
    op.drop_index("ix_applications_estatus", "applications")
    for column in ("search_text", "record", "email_verified", "enabled", "last_name", "first_name", "email",
                   "tipo_usuario", "submitted_at", "estatus"):
        op.drop_column("applications", column)
