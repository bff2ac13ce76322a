"""phone_links: the phone as a camera (issue 23)

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "phone_links",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("link_version", sa.String(64), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("session_hash", sa.String(64)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True)),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.Column("uploaded_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("token_hash", name="uq_phone_links_token_hash"),
        sa.UniqueConstraint("session_hash", name="uq_phone_links_session_hash"),
    )
    op.create_index("uq_phone_links_code_open", "phone_links", ["code_hash"], unique=True,
                    postgresql_where=sa.text("used_at IS NULL AND revoked_at IS NULL"))
    op.create_index("ix_phone_links_account_id", "phone_links", ["account_id"])
    op.create_index("ix_phone_links_expires_at", "phone_links", ["expires_at"])


def downgrade() -> None:
    op.drop_table("phone_links")
