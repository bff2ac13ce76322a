"""outbox messages stored uncompressed: PostgreSQL no longer tries to compress each message

A confirmation email's row is ≈ 100 KB, most of it the responsiva, a PDF already compressed and then
base64-encoded. PostgreSQL's default storage for the column (EXTENDED) ran pglz over every such value
before moving it out of line: 2.4 ms of server CPU per message, against 1.0 ms stored EXTERNAL (out of
line, uncompressed), for a few kilobytes saved on a row that is blanked once delivered. New rows only;
nothing is rewritten.

Revision ID: 0006
Revises: 0005
"""
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE outbox ALTER COLUMN message SET STORAGE EXTERNAL")


def downgrade() -> None:
    op.execute("ALTER TABLE outbox ALTER COLUMN message SET STORAGE EXTENDED")
