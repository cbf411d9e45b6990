"""Billing: a suspension request is withdrawn once the account is clear (dunning's second half).

- ``suspension_requests.lifted_at``: when billing found the account of the request with no
  overdue invoice left and published ``billing.suspension_lifted`` for it (NULL while the
  request stands). One lift withdraws every standing request of the account, once.
- an index on the account: a payment locks the account's standing requests (so two payments
  clearing the same account's last two overdue invoices lift it once, not never or twice).

Revision ID: billing_0008
Revises: billing_0007
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "billing_0008"
down_revision = "billing_0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("suspension_requests", sa.Column("lifted_at", mysql.DATETIME(fsp=6), nullable=True))
    op.create_index("idx_suspension_requests_account", "suspension_requests", ["account_type", "account_id"])


def downgrade() -> None:
    op.drop_index("idx_suspension_requests_account", table_name="suspension_requests")
    op.drop_column("suspension_requests", "lifted_at")
