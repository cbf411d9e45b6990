"""Billing: the schedule's state — identity's billing settings, scheduled runs, suspension requests.

- ``billing_settings``: identity's system settings billing follows (``billing_cycle_day``),
  from ``setting.changed`` events (the billing projection writes it).
- ``scheduled_runs``: one row per period the keeper's scheduled invoice run finished
  (the run itself is idempotent; the row only saves re-scanning the usage every round).
- ``suspension_requests``: one row per overdue invoice for which
  ``billing.suspension_requested`` was recorded (so it is requested once).

Revision ID: billing_0005
Revises: billing_0004
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "billing_0005"
down_revision = "billing_0004"
branch_labels = None
depends_on = None

TABLE = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_unicode_ci"}
ID = mysql.BIGINT(unsigned=True)
TIME = mysql.DATETIME(fsp=6)


def upgrade() -> None:
    op.create_table(
        "billing_settings",
        sa.Column("setting_key", sa.String(100), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        **TABLE,
    )
    op.create_table(
        "scheduled_runs",
        sa.Column("period", sa.CHAR(7), primary_key=True),
        sa.Column("cycle_day", sa.Integer, nullable=False),
        sa.Column("issued", sa.Integer, nullable=False),
        sa.Column("finished_at", TIME, nullable=False),
        **TABLE,
    )
    op.create_table(
        "suspension_requests",
        sa.Column("invoice_id", ID, primary_key=True, autoincrement=False),
        sa.Column("account_type", mysql.ENUM("user", "organization"), nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("requested_at", TIME, nullable=False),
        **TABLE,
    )


def downgrade() -> None:
    op.drop_table("suspension_requests")
    op.drop_table("scheduled_runs")
    op.drop_table("billing_settings")
