"""the review queue, search and supervision as indexed queries over applications (the Redis index goes)

Revision ID: 0004
Revises: 0003
"""
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # pg_trgm is a trusted extension (PostgreSQL ≥ 13): the database's owner creates it, no superuser.
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    # Search: any fragment of folio, CURP, RFC, passport, email or name, over every status.
    op.execute("CREATE INDEX ix_applications_search_text ON applications USING gin (search_text gin_trgm_ops)")
    # The queue's order, pending ones only (a tenth of the table). The facets ride along (INCLUDE) so a
    # page's ids, a filtered page and the counts per facet are index-only scans, however deep the page.
    # `state = 'activa'`: an application whose account was deleted keeps its last estatus, not its place.
    op.execute("CREATE INDEX ix_applications_queue ON applications (submitted_at, id) "
               "INCLUDE (tipo_usuario, es_extranjero) WHERE estatus = 'en_revision' AND state = 'activa'")
    # One user type's pages in order (a fifth of the queue each).
    op.execute("CREATE INDEX ix_applications_queue_tipo ON applications (tipo_usuario, submitted_at, id) "
               "INCLUDE (es_extranjero) WHERE estatus = 'en_revision' AND state = 'activa'")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_applications_queue_tipo")
    op.execute("DROP INDEX IF EXISTS ix_applications_queue")
    op.execute("DROP INDEX IF EXISTS ix_applications_search_text")
    op.execute("DROP EXTENSION IF EXISTS pg_trgm")
