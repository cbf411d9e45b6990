"""Billing: servers' snapshots are billed per GB and month.

- ``pricing_plans.resource_type`` takes ``snapshot`` too;
- the ``snapshot`` plan: 0.0119 EUR (gross) per GB and month, Hetzner's figure for images.
  Storage meters each available snapshot by the hour from it (as volumes from ``volume``).

Revision ID: billing_0009
Revises: billing_0008
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "billing_0009"
down_revision = "billing_0008"
branch_labels = None
depends_on = None

BEFORE = ("server", "volume", "floating_ip", "load_balancer", "backup", "bandwidth")
AFTER = (*BEFORE, "snapshot")


def upgrade() -> None:
    op.alter_column(
        "pricing_plans", "resource_type", existing_type=mysql.ENUM(*BEFORE), type_=mysql.ENUM(*AFTER), nullable=False
    )
    plans = sa.table(
        "pricing_plans",
        sa.column("code"),
        sa.column("name"),
        sa.column("resource_type"),
        sa.column("price_per_gb"),
        sa.column("currency"),
    )
    op.bulk_insert(
        plans,
        [
            {
                "code": "snapshot",
                "name": "Snapshots (per GB)",
                "resource_type": "snapshot",
                "price_per_gb": "0.011900",
                "currency": "EUR",
            }
        ],
    )


def downgrade() -> None:
    op.execute("DELETE FROM pricing_plans WHERE resource_type = 'snapshot'")
    op.alter_column(
        "pricing_plans", "resource_type", existing_type=mysql.ENUM(*AFTER), type_=mysql.ENUM(*BEFORE), nullable=False
    )
