"""Billing: pricing plans of primary IPs (network meters them like floating IPs).

- ``pricing_plans.resource_type`` takes ``primary_ip`` too;
- plans ``primary_ip_ipv4`` (Hetzner's primary IPv4, gross like every plan) and
  ``primary_ip_ipv6`` (free at Hetzner: a zero price, so network records no hours of it).

Revision ID: billing_0011
Revises: billing_0010
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

revision = "billing_0011"
down_revision = "billing_0010"
branch_labels = None
depends_on = None

OLD_TYPES = ("server", "volume", "floating_ip", "load_balancer", "backup", "bandwidth", "snapshot")
NEW_TYPES = (*OLD_TYPES, "primary_ip")
PLANS = [
    # code, name, hourly, monthly
    ("primary_ip_ipv4", "Primary IPv4", "0.000952", "0.60"),
    ("primary_ip_ipv6", "Primary IPv6", "0.000000", "0.00"),
]


def _enum(types: tuple[str, ...]) -> str:
    return "ENUM(" + ", ".join(f"'{t}'" for t in types) + ")"


def upgrade() -> None:
    op.execute(f"ALTER TABLE pricing_plans MODIFY resource_type {_enum(NEW_TYPES)} NOT NULL")
    plans = sa.table(
        "pricing_plans",
        sa.column("code", sa.String),
        sa.column("name", sa.String),
        sa.column("resource_type", sa.String),
        sa.column("price_hourly", sa.DECIMAL),
        sa.column("price_monthly", sa.DECIMAL),
        sa.column("currency", sa.String),
    )
    op.bulk_insert(
        plans,
        [
            {
                "code": code,
                "name": name,
                "resource_type": "primary_ip",
                "price_hourly": hourly,
                "price_monthly": monthly,
                "currency": "EUR",
            }
            for code, name, hourly, monthly in PLANS
        ],
    )


def downgrade() -> None:
    op.execute("DELETE FROM pricing_plans WHERE resource_type = 'primary_ip'")
    op.execute(f"ALTER TABLE pricing_plans MODIFY resource_type {_enum(OLD_TYPES)} NOT NULL")
