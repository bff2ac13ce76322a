"""an application's undelivered emails indexed: deleting them with its account reads no delivered row

When an account goes (purge, deletion on request, deleted in Keycloak's console), its emails not yet
delivered are deleted with it (platform/outbox.discard_unsent), and the console lists an application's
failed emails. Both look for an application's unsent rows; delivered rows stay in the table (one per
email ever sent), so without an index each deletion scanned all of them. Partial: only the few rows not
yet delivered are in it.

Built in the migration's transaction, not CONCURRENTLY, for the reason 0008 gives.

Revision ID: 0012
Revises: 0011
"""
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX ix_outbox_unsent_by_application ON outbox (application_id) WHERE state <> 'enviado'")


def downgrade() -> None:
    op.execute("DROP INDEX ix_outbox_unsent_by_application")
