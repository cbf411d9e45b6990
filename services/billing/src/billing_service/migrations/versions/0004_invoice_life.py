"""Billing: invoice life, credit notes, one default payment method per account, pricing plans.

- ``invoices.version``: the aggregate version of the invoice's events (issued = 1, each
  status change + 1); ``credit_note_number`` (unique) and ``refunded_amount`` of a refund.
- ``credit_note_sequences``: the last credit note number of each month (like
  ``invoice_sequences``: locked by the refund that takes the next one, so no gaps).
- ``payment_methods.default_account``: a stored generated column that names the account
  (``o<organization id>`` or ``u<user id>``) only on its default method, NULL otherwise, with a
  unique key: the database itself keeps one default per account.
- ``pricing_plans`` seeded with the products other than servers (compute's catalog prices
  servers): volumes per GB, IPv4/IPv6 floating IPs, load balancers, backups, traffic (EUR, gross).

Revision ID: billing_0004
Revises: billing_0003
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "billing_0004"
down_revision = "billing_0003"
branch_labels = None
depends_on = None

TABLE = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_unicode_ci"}

PLANS = [
    # code, name, resource_type, hourly, monthly, per_gb, included TB, overage per TB
    ("volume", "Volume (per GB)", "volume", None, None, "0.044000", 0, None),
    ("floating_ip_ipv4", "Floating IPv4", "floating_ip", "0.005000", "3.57", None, 0, None),
    ("floating_ip_ipv6", "Floating IPv6", "floating_ip", "0.005000", "3.57", None, 0, None),
    ("lb11", "Load balancer LB11", "load_balancer", "0.008600", "5.39", None, 0, None),
    ("lb21", "Load balancer LB21", "load_balancer", "0.025800", "16.19", None, 0, None),
    ("lb31", "Load balancer LB31", "load_balancer", "0.051700", "32.39", None, 0, None),
    ("backup", "Backups (20 % of the server price)", "backup", None, None, None, 0, None),
    ("traffic", "Outgoing traffic", "bandwidth", None, None, None, 20, "1.00"),
]


def upgrade() -> None:
    op.add_column("invoices", sa.Column("version", sa.Integer, nullable=False, server_default="1"))
    op.add_column("invoices", sa.Column("credit_note_number", sa.String(50)))
    op.add_column("invoices", sa.Column("refunded_amount", sa.DECIMAL(10, 2)))
    op.create_unique_constraint("uq_credit_note_number", "invoices", ["credit_note_number"])
    op.create_table(
        "credit_note_sequences",
        sa.Column("period", sa.CHAR(7), primary_key=True),
        sa.Column("last_number", sa.Integer, nullable=False),
        **TABLE,
    )
    op.execute(
        "ALTER TABLE payment_methods ADD COLUMN default_account VARCHAR(24) AS "
        "(IF(is_default, IF(organization_id IS NULL, CONCAT('u', user_id), CONCAT('o', organization_id)), NULL)) "
        "PERSISTENT"
    )
    op.create_unique_constraint("uq_default_payment_method", "payment_methods", ["default_account"])
    plans = sa.table(
        "pricing_plans",
        sa.column("code"),
        sa.column("name"),
        sa.column("resource_type"),
        sa.column("price_hourly"),
        sa.column("price_monthly"),
        sa.column("price_per_gb"),
        sa.column("included_traffic_tb"),
        sa.column("overage_price_per_tb"),
        sa.column("currency"),
    )
    op.bulk_insert(
        plans,
        [
            {
                "code": code,
                "name": name,
                "resource_type": kind,
                "price_hourly": hourly,
                "price_monthly": monthly,
                "price_per_gb": per_gb,
                "included_traffic_tb": tb,
                "overage_price_per_tb": overage,
                "currency": "EUR",
            }
            for code, name, kind, hourly, monthly, per_gb, tb, overage in PLANS
        ],
    )


def downgrade() -> None:
    plans = sa.table("pricing_plans", sa.column("code"))
    op.execute(plans.delete().where(plans.c.code.in_([p[0] for p in PLANS])))
    op.drop_constraint("uq_default_payment_method", "payment_methods", type_="unique")
    op.drop_column("payment_methods", "default_account")
    op.drop_table("credit_note_sequences")
    op.drop_constraint("uq_credit_note_number", "invoices", type_="unique")
    op.drop_column("invoices", "refunded_amount")
    op.drop_column("invoices", "credit_note_number")
    op.drop_column("invoices", "version")
