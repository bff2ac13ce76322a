"""page_view_manifests: the viewer's page-image manifests move from JSON objects in S3 to rows

S3 keeps bytes only (issue 20 §3): the page images stay there, what was made of a document (pages, image
type, the codes read on it: a responsiva's QR names its applicant) is a row. Manifests kept before this
revision (`solicitudes/<id>/vistas/…/manifest.json`) are not copied: a document without a row is rendered
again when a reviewer opens it, which deletes its old object; the rest go with the application's prefix.

Revision ID: 0011
Revises: 0010
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "page_view_manifests",
        sa.Column("source_key", sa.String(255), primary_key=True),
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("version", sa.String(8), nullable=False),
        sa.Column("manifest", JSONB, nullable=False),
        sa.Column("made_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index("ix_page_view_manifests_account", "page_view_manifests", ["account_id"])


def downgrade() -> None:
    op.drop_table("page_view_manifests")
