"""failed outbox rows indexed: the console's list and the metrics' count read them without a scan

Delivered rows stay in the table (their message blanked), so it grows by one row per email. The console's
"Correos fallidos" list and `registro_outbox_failed` read the few rows that gave up; without an index on
them each read scanned the whole table.

Built in the migration's transaction, not CONCURRENTLY: a concurrent build waits for every transaction
open on the server, and a second replica starting at the same moment waits for the migration lock inside
one (migrations/env.py), so the two deadlocked (the production profile's two replicas did). The build holds
writes to the outbox while it scans the table: registrations wait for it, they do not fail (measured:
0.05–0.06 s for 1,000,000 rows in memory; longer when the table must be read from disk).

Revision ID: 0008
Revises: 0007
"""
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX ix_outbox_failed ON outbox (created_at, id) WHERE state = 'fallido'")


def downgrade() -> None:
    op.execute("DROP INDEX ix_outbox_failed")
