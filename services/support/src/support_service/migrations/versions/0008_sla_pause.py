"""The service-level clock stops while a ticket is ``pending`` (waiting on the customer):
``pending_since`` (when the current wait began) and ``sla_paused_seconds`` (the waits before);
a ticket's due times move by both. A ticket pending when this runs is taken to wait since its
last change (``updated_at``).

Revision ID: support_0008
Revises: support_0007
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "support_0008"
down_revision = "support_0007"
branch_labels = None
depends_on = None

TIME = mysql.DATETIME(fsp=6)


def upgrade() -> None:
    op.add_column("tickets", sa.Column("pending_since", TIME))
    op.add_column("tickets", sa.Column("sla_paused_seconds", sa.BigInteger, nullable=False, server_default="0"))
    op.execute("UPDATE tickets SET pending_since = COALESCE(updated_at, created_at) WHERE status = 'pending'")


def downgrade() -> None:
    op.drop_column("tickets", "sla_paused_seconds")
    op.drop_column("tickets", "pending_since")
