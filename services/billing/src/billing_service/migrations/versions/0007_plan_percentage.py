"""Billing: a pricing plan may state a percentage of another product's price.

- ``pricing_plans.percentage`` (DECIMAL(5,2), 0 to 100): the ``backup`` plan's is the share of
  the server's prices a server's backups cost (20, Hetzner's figure). It is the one home of that
  rule: compute reads it from billing (``ListPricingPlans``) when it meters a backup hour, and
  the gateway shows it in ``/v1/pricing``.

Revision ID: billing_0007
Revises: billing_0006
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "billing_0007"
down_revision = "billing_0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("pricing_plans", sa.Column("percentage", sa.DECIMAL(5, 2), nullable=True))
    op.execute("UPDATE pricing_plans SET percentage = 20.00, name = 'Backups' WHERE code = 'backup'")


def downgrade() -> None:
    op.drop_column("pricing_plans", "percentage")
