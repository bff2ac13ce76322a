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
    # The counts per facet, kept by a trigger in the same transaction as the change of the row (so
    # exact, never rebuilt): counting 100,000 index entries per page view costs ~20 ms, reading these
    # rows well under one. A change adds ±1 to one of 16 slots picked at random, so concurrent
    # submissions and decisions of one facet rarely wait on the same row.
    op.execute("""CREATE TABLE queue_counts (
        tipo_usuario varchar(64) NOT NULL, es_extranjero boolean NOT NULL, slot smallint NOT NULL,
        n bigint NOT NULL DEFAULT 0, CONSTRAINT pk_queue_counts PRIMARY KEY (tipo_usuario, es_extranjero, slot))""")
    op.execute("""CREATE FUNCTION queue_counts_follow() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            was boolean := TG_OP <> 'INSERT' AND OLD.estatus = 'en_revision' AND OLD.state = 'activa';
            now_pending boolean := TG_OP <> 'DELETE' AND NEW.estatus = 'en_revision' AND NEW.state = 'activa';
        BEGIN
            IF was AND now_pending AND OLD.tipo_usuario = NEW.tipo_usuario
                    AND OLD.es_extranjero = NEW.es_extranjero THEN
                RETURN NULL;
            END IF;
            IF was THEN
                INSERT INTO queue_counts AS c VALUES (OLD.tipo_usuario, OLD.es_extranjero, floor(random() * 16), -1)
                ON CONFLICT (tipo_usuario, es_extranjero, slot) DO UPDATE SET n = c.n - 1;
            END IF;
            IF now_pending THEN
                INSERT INTO queue_counts AS c VALUES (NEW.tipo_usuario, NEW.es_extranjero, floor(random() * 16), 1)
                ON CONFLICT (tipo_usuario, es_extranjero, slot) DO UPDATE SET n = c.n + 1;
            END IF;
            RETURN NULL;
        END $$""")
    op.execute("""CREATE FUNCTION queue_counts_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN DELETE FROM queue_counts; RETURN NULL; END $$""")
    op.execute("CREATE TRIGGER queue_counts_follow AFTER INSERT OR UPDATE OR DELETE ON applications "
               "FOR EACH ROW EXECUTE FUNCTION queue_counts_follow()")
    op.execute("CREATE TRIGGER queue_counts_truncate AFTER TRUNCATE ON applications "
               "FOR EACH STATEMENT EXECUTE FUNCTION queue_counts_truncate()")
    op.execute("INSERT INTO queue_counts SELECT tipo_usuario, es_extranjero, 0, count(*) FROM applications "
               "WHERE estatus = 'en_revision' AND state = 'activa' GROUP BY 1, 2")


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS queue_counts_truncate ON applications")
    op.execute("DROP TRIGGER IF EXISTS queue_counts_follow ON applications")
    op.execute("DROP FUNCTION IF EXISTS queue_counts_truncate()")
    op.execute("DROP FUNCTION IF EXISTS queue_counts_follow()")
    op.execute("DROP TABLE IF EXISTS queue_counts")
    op.execute("DROP INDEX IF EXISTS ix_applications_queue_tipo")
    op.execute("DROP INDEX IF EXISTS ix_applications_queue")
    op.execute("DROP INDEX IF EXISTS ix_applications_search_text")
    op.execute("DROP EXTENSION IF EXISTS pg_trgm")
