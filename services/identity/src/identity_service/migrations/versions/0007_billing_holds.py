"""Dunning: the accounts identity suspended because billing asked.

- ``billing_holds``: one row per user or organization suspended on ``billing.suspension_requested``
  while that suspension stands: the status it had before (what billing's lift gives back), the
  overdue invoice, the reason and when. An account staff suspended or banned has no row, so
  billing never reactivates it; any status change staff make removes the row.

Revision ID: identity_0007
Revises: identity_0006
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "identity_0007"
down_revision = "identity_0006"
branch_labels = None
depends_on = None

ID = mysql.BIGINT(unsigned=True)
TIME = mysql.DATETIME(fsp=6)
TABLE_ARGS = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_unicode_ci"}


def upgrade() -> None:
    op.create_table(
        "billing_holds",
        sa.Column("account_type", mysql.ENUM("user", "organization"), primary_key=True),
        sa.Column("account_id", ID, primary_key=True, autoincrement=False),
        sa.Column("previous_status", sa.String(20), nullable=False),
        sa.Column("invoice_id", ID, nullable=False),
        sa.Column("reason", sa.String(1000), nullable=False),
        sa.Column("suspended_at", TIME, nullable=False),
        **TABLE_ARGS,
    )


def downgrade() -> None:
    op.drop_table("billing_holds")
