"""the intent keeps the privacy notice accepted: a registration finished by the reconciler records it too

A registration interrupted after Keycloak made the account is finished by the reconciler
(registration/reconcile.py), which knew nothing of the notice the applicant accepted in the form: such an
application had no acceptance in its audit trail. The intent now keeps it (version, SHA-256, language).
Rows before this migration have none (NULL), as before.

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("applications", sa.Column("accepted_notice", JSONB, nullable=True))


def downgrade() -> None:
    op.drop_column("applications", "accepted_notice")
