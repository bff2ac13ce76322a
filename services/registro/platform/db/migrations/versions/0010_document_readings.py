"""document_readings: the machine's readings of identity documents move from JSON objects in S3 to rows

S3 keeps bytes only (issue 20 §3). Readings kept before this revision (`solicitudes/<id>/lecturas/…` JSON
objects) are not copied: a document without a row is read again when a reviewer opens its application
(documents/reading/views.py), and the old objects go with the application's prefix (purge, retention,
deletion on request).

Revision ID: 0010
Revises: 0009
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "document_readings",
        sa.Column("account_id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(32), primary_key=True),
        sa.Column("document_key", sa.String(255), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("reading", JSONB, nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )


def downgrade() -> None:
    op.drop_table("document_readings")
