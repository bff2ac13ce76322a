"""failed outbox rows indexed: the console's list and the metrics' count read them without a scan

Delivered rows stay in the table (their message blanked), so it grows by one row per email. The console's
"Correos fallidos" list and `registro_outbox_failed` read the few rows that gave up; without an index on
them each read scanned the whole table.

Built CONCURRENTLY, outside the migration's transaction: a plain CREATE INDEX would hold off every
registration's outbox row while it scans a table of millions. A build that failed half-way leaves an
invalid index, dropped first so a second start builds it again.

Revision ID: 0008
Revises: 0007
"""
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.get_context().autocommit_block():
        op.execute("DROP INDEX CONCURRENTLY IF EXISTS ix_outbox_failed")
        op.execute("CREATE INDEX CONCURRENTLY ix_outbox_failed ON outbox (created_at, id) WHERE state = 'fallido'")


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.execute("DROP INDEX CONCURRENTLY IF EXISTS ix_outbox_failed")
