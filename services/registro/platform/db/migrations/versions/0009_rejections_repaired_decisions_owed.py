"""rejected applications left `activa` are closed; the decisions owing their completion indexed

Until this revision a rejection saved `estatus = rechazado` in one transaction and closed the application
(state `rechazada`, identifiers released) in a second one: a failure between the two left the person
holding their CURP, RFC and passport with no way to apply again, and nothing that would ever close it.
The two are now one change (kernel/records.py); this closes the rows already left that way, as that
change would have: state `rechazada` and its identifiers released, in one statement.

ix_decisions_owed: the background pass (review/decisions.Decisions.complete_owed) reads, in every replica
every RECONCILE_EVERY_S, the decision rows that may still owe their completion — a few, of one row per
decided round. Built in the migration's transaction, not CONCURRENTLY (0008 says why).

Revision ID: 0009
Revises: 0008
"""
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

REPAIR = """
WITH closed AS (
    UPDATE applications SET state = 'rechazada', state_reason = 'rechazada en revisión', updated_at = now()
    WHERE state = 'activa' AND estatus = 'rechazado'
    RETURNING id
)
UPDATE identifiers SET vigente = false, released_at = now()
WHERE vigente AND application_id IN (SELECT id FROM closed)
"""


def upgrade() -> None:
    op.execute(REPAIR)
    op.execute("CREATE INDEX ix_decisions_owed ON decisions (updated_at) "
               "WHERE state <> 'aplicada' OR (record ->> 'auditoria') = 'pendiente'")


def downgrade() -> None:
    # The repair is not undone: a rejected application holding its identifiers was the defect.
    op.execute("DROP INDEX ix_decisions_owed")
