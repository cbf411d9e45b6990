"""Billing: the seed's six tables, the accounts projection, invoice numbering and credit use.

- The seed's ``pricing_plans``, ``invoices``, ``invoice_items``, ``payment_methods``,
  ``usage_records`` and ``credits`` with every column, enum and default of the seed. Money is
  DECIMAL with the seed's precision; times are DATETIME(6) UTC like every table of the platform.
  The seed's foreign keys to identity's ``users``/``organizations`` cannot exist across service
  databases, so those ids are plain columns.
- ``usage_records`` adds what makes a row traceable to its event and priceable on its own:
  the ``event_id`` (unique: an event counts once), the period, the product and the monthly
  cap snapshotted from the event (a later price change never rewrites history), the currency.
- ``invoices`` adds ``account_type``/``account_id`` (the billed account: a user, or an
  organization) with one invoice per account and billing period, and ``issued_at``.
- ``billing_accounts``: what billing knows of accounts, built from identity's events
  (country, tax id, company, billing email, currency, owner of an organization).
- ``invoice_sequences``: the last invoice number of each month, locked by the run that
  takes the next one, so numbers have no gaps (a rolled back run gives its number back).
- ``credit_applications``: which credit paid how much of which invoice.

Revision ID: billing_0003
Revises: billing_0002
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "billing_0003"
down_revision = "billing_0002"
branch_labels = None
depends_on = None

ID = mysql.BIGINT(unsigned=True)
TIME = mysql.DATETIME(fsp=6)
NOW = sa.text("CURRENT_TIMESTAMP(6)")
TABLE = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_unicode_ci"}
RESOURCE_TYPES = ("server", "volume", "floating_ip", "load_balancer", "backup", "bandwidth")


def upgrade() -> None:
    op.create_table(
        "pricing_plans",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("code", sa.String(50), nullable=False, unique=True),
        sa.Column("resource_type", mysql.ENUM(*RESOURCE_TYPES), nullable=False),
        sa.Column("price_hourly", sa.DECIMAL(10, 6)),
        sa.Column("price_monthly", sa.DECIMAL(10, 2)),
        sa.Column("price_per_gb", sa.DECIMAL(10, 6)),
        sa.Column("included_traffic_tb", sa.Integer, server_default="0"),
        sa.Column("overage_price_per_tb", sa.DECIMAL(10, 2)),
        sa.Column("currency", sa.String(3), server_default="USD"),
        sa.Column("active", sa.Boolean, server_default=sa.true()),
        sa.Column("created_at", TIME, server_default=NOW),
        sa.Column("updated_at", TIME, server_default=NOW, server_onupdate=NOW),
        sa.Index("idx_code", "code"),
        sa.Index("idx_resource_type", "resource_type"),
        sa.Index("idx_active", "active"),
        **TABLE,
    )
    op.create_table(
        "invoices",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("organization_id", ID),
        sa.Column("invoice_number", sa.String(50), nullable=False, unique=True),
        sa.Column(
            "status",
            mysql.ENUM("draft", "pending", "paid", "overdue", "cancelled", "refunded"),
            server_default="draft",
        ),
        sa.Column("currency", sa.String(3), server_default="USD"),
        sa.Column("subtotal", sa.DECIMAL(10, 2), nullable=False),
        sa.Column("tax_rate", sa.DECIMAL(5, 2), server_default="0"),
        sa.Column("tax_amount", sa.DECIMAL(10, 2), server_default="0"),
        sa.Column("total", sa.DECIMAL(10, 2), nullable=False),
        sa.Column("credits_applied", sa.DECIMAL(10, 2), server_default="0"),
        sa.Column("billing_period_start", sa.Date, nullable=False),
        sa.Column("billing_period_end", sa.Date, nullable=False),
        sa.Column("due_date", sa.Date),
        sa.Column("paid_at", TIME),
        sa.Column("payment_method", sa.String(50)),
        sa.Column("payment_reference", sa.String(255)),
        sa.Column("notes", sa.Text),
        sa.Column("created_at", TIME, server_default=NOW),
        sa.Column("updated_at", TIME, server_default=NOW, server_onupdate=NOW),
        sa.Column("account_type", mysql.ENUM("user", "organization"), nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("issued_at", TIME),
        sa.UniqueConstraint("account_type", "account_id", "billing_period_start", name="uq_invoice_account_period"),
        sa.Index("idx_user", "user_id"),
        sa.Index("idx_invoice_number", "invoice_number"),
        sa.Index("idx_status", "status"),
        sa.Index("idx_due_date", "due_date"),
        sa.Index("idx_organization", "organization_id"),
        **TABLE,
    )
    op.create_table(
        "invoice_items",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("invoice_id", ID, sa.ForeignKey("invoices.id", ondelete="CASCADE"), nullable=False),
        sa.Column("resource_type", sa.String(50), nullable=False),
        sa.Column("resource_id", mysql.BIGINT()),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("quantity", sa.DECIMAL(10, 4), nullable=False),
        sa.Column("unit_price", sa.DECIMAL(10, 6), nullable=False),
        sa.Column("total", sa.DECIMAL(10, 2), nullable=False),
        sa.Column("usage_period_start", TIME),
        sa.Column("usage_period_end", TIME),
        sa.Column("metadata", sa.JSON),
        sa.Index("idx_invoice", "invoice_id"),
        sa.Index("idx_resource", "resource_type", "resource_id"),
        **TABLE,
    )
    op.create_table(
        "payment_methods",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("organization_id", ID),
        sa.Column("type", mysql.ENUM("credit_card", "paypal", "bank_transfer", "crypto"), nullable=False),
        sa.Column("is_default", sa.Boolean, server_default=sa.false()),
        sa.Column("last_four", sa.String(4)),
        sa.Column("card_brand", sa.String(20)),
        sa.Column("exp_month", mysql.TINYINT()),
        sa.Column("exp_year", sa.SmallInteger),
        sa.Column("billing_name", sa.String(255)),
        sa.Column("billing_address", sa.JSON),
        sa.Column("stripe_payment_method_id", sa.String(255)),
        sa.Column("paypal_email", sa.String(255)),
        sa.Column("metadata", sa.JSON),
        sa.Column("created_at", TIME, server_default=NOW),
        sa.Column("updated_at", TIME, server_default=NOW, server_onupdate=NOW),
        sa.Index("idx_user", "user_id"),
        sa.Index("idx_default", "is_default"),
        **TABLE,
    )
    op.create_table(
        "usage_records",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("organization_id", ID),
        sa.Column("resource_type", sa.String(50), nullable=False),
        sa.Column("resource_id", mysql.BIGINT(), nullable=False),
        sa.Column(
            "metric_type", mysql.ENUM("compute_hours", "storage_gb_hours", "bandwidth_gb", "requests"), nullable=False
        ),
        sa.Column("quantity", sa.DECIMAL(20, 6), nullable=False),
        sa.Column("unit_price", sa.DECIMAL(10, 6)),
        sa.Column("total_cost", sa.DECIMAL(10, 6)),
        sa.Column("recorded_at", TIME, nullable=False),
        sa.Column("billed", sa.Boolean, server_default=sa.false()),
        sa.Column("invoice_id", ID, sa.ForeignKey("invoices.id", ondelete="SET NULL")),
        sa.Column("metadata", sa.JSON),
        sa.Column("created_at", TIME, server_default=NOW),
        sa.Column("event_id", sa.BINARY(16), nullable=False, unique=True),
        sa.Column("period_end", TIME, nullable=False),
        sa.Column("product", sa.String(100), nullable=False, server_default=""),
        sa.Column("price_monthly", sa.DECIMAL(10, 2)),
        sa.Column("currency", sa.String(3), nullable=False, server_default="EUR"),
        sa.Index("idx_user_resource_time", "user_id", "resource_type", "recorded_at"),
        sa.Index("idx_billed", "billed"),
        sa.Index("idx_recorded_at", "recorded_at"),
        sa.Index("idx_unbilled_account", "billed", "organization_id", "user_id", "recorded_at"),
        **TABLE,
    )
    op.create_table(
        "credits",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("organization_id", ID),
        sa.Column("amount", sa.DECIMAL(10, 2), nullable=False),
        sa.Column("balance", sa.DECIMAL(10, 2), nullable=False),
        sa.Column("currency", sa.String(3), server_default="USD"),
        sa.Column("description", sa.String(255)),
        sa.Column("type", mysql.ENUM("promotional", "referral", "compensation", "manual"), server_default="manual"),
        sa.Column("expires_at", TIME),
        sa.Column("created_at", TIME, server_default=NOW),
        sa.CheckConstraint("balance >= 0 AND balance <= amount", name="ck_credit_balance"),
        sa.Index("idx_user", "user_id"),
        sa.Index("idx_expires", "expires_at"),
        sa.Index("idx_balance", "balance"),
        **TABLE,
    )
    op.create_table(
        "credit_applications",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("credit_id", ID, sa.ForeignKey("credits.id", ondelete="CASCADE"), nullable=False),
        sa.Column("invoice_id", ID, sa.ForeignKey("invoices.id", ondelete="CASCADE"), nullable=False),
        sa.Column("amount", sa.DECIMAL(10, 2), nullable=False),
        sa.Column("applied_at", TIME, nullable=False),
        sa.UniqueConstraint("credit_id", "invoice_id", name="uq_credit_invoice"),
        **TABLE,
    )
    op.create_table(
        "billing_accounts",
        sa.Column("account_type", mysql.ENUM("user", "organization"), primary_key=True),
        sa.Column("account_id", ID, primary_key=True, autoincrement=False),
        sa.Column("owner_user_id", ID),
        sa.Column("status", sa.String(20), nullable=False, server_default="active"),
        sa.Column("company_name", sa.String(255)),
        sa.Column("tax_id", sa.String(50)),
        sa.Column("country", sa.String(2)),
        sa.Column("billing_email", sa.String(255)),
        sa.Column("currency", sa.String(3), nullable=False, server_default="EUR"),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        **TABLE,
    )
    op.create_table(
        "invoice_sequences",
        sa.Column("period", sa.CHAR(7), primary_key=True),
        sa.Column("last_number", sa.Integer, nullable=False),
        **TABLE,
    )


def downgrade() -> None:
    for table in (
        "invoice_sequences",
        "billing_accounts",
        "credit_applications",
        "credits",
        "usage_records",
        "payment_methods",
        "invoice_items",
        "invoices",
        "pricing_plans",
    ):
        op.drop_table(table)
