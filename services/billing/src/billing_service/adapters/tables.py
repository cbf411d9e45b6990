"""Billing's tables as SQLAlchemy Core sees them (migrations/versions/0003_billing.py creates them)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

metadata = sa.MetaData()

ID = mysql.BIGINT(unsigned=True)
TIME = mysql.DATETIME(fsp=6)
RESOURCE_TYPES = ("server", "volume", "floating_ip", "load_balancer", "backup", "bandwidth")
METRIC_TYPES = ("compute_hours", "storage_gb_hours", "bandwidth_gb", "requests")
INVOICE_STATUSES = ("draft", "pending", "paid", "overdue", "cancelled", "refunded")
ACCOUNT_TYPES = ("user", "organization")

pricing_plans = sa.Table(
    "pricing_plans",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("code", sa.String(50), nullable=False),
    sa.Column("resource_type", mysql.ENUM(*RESOURCE_TYPES), nullable=False),
    sa.Column("price_hourly", sa.DECIMAL(10, 6)),
    sa.Column("price_monthly", sa.DECIMAL(10, 2)),
    sa.Column("price_per_gb", sa.DECIMAL(10, 6)),
    sa.Column("included_traffic_tb", sa.Integer),
    sa.Column("overage_price_per_tb", sa.DECIMAL(10, 2)),
    sa.Column("currency", sa.String(3)),
    sa.Column("active", sa.Boolean),
    sa.Column("created_at", TIME),
    sa.Column("updated_at", TIME),
)

invoices = sa.Table(
    "invoices",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("user_id", ID, nullable=False),
    sa.Column("organization_id", ID),
    sa.Column("invoice_number", sa.String(50), nullable=False),
    sa.Column("status", mysql.ENUM(*INVOICE_STATUSES)),
    sa.Column("currency", sa.String(3)),
    sa.Column("subtotal", sa.DECIMAL(10, 2), nullable=False),
    sa.Column("tax_rate", sa.DECIMAL(5, 2)),
    sa.Column("tax_amount", sa.DECIMAL(10, 2)),
    sa.Column("total", sa.DECIMAL(10, 2), nullable=False),
    sa.Column("credits_applied", sa.DECIMAL(10, 2)),
    sa.Column("billing_period_start", sa.Date, nullable=False),
    sa.Column("billing_period_end", sa.Date, nullable=False),
    sa.Column("due_date", sa.Date),
    sa.Column("paid_at", TIME),
    sa.Column("payment_method", sa.String(50)),
    sa.Column("payment_reference", sa.String(255)),
    sa.Column("notes", sa.Text),
    sa.Column("created_at", TIME),
    sa.Column("updated_at", TIME),
    sa.Column("account_type", mysql.ENUM(*ACCOUNT_TYPES), nullable=False),
    sa.Column("account_id", ID, nullable=False),
    sa.Column("issued_at", TIME),
)

invoice_items = sa.Table(
    "invoice_items",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("invoice_id", ID, nullable=False),
    sa.Column("resource_type", sa.String(50), nullable=False),
    sa.Column("resource_id", mysql.BIGINT()),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("quantity", sa.DECIMAL(10, 4), nullable=False),
    sa.Column("unit_price", sa.DECIMAL(10, 6), nullable=False),
    sa.Column("total", sa.DECIMAL(10, 2), nullable=False),
    sa.Column("usage_period_start", TIME),
    sa.Column("usage_period_end", TIME),
    sa.Column("metadata", sa.JSON),
)

payment_methods = sa.Table(
    "payment_methods",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("user_id", ID, nullable=False),
    sa.Column("organization_id", ID),
    sa.Column("type", mysql.ENUM("credit_card", "paypal", "bank_transfer", "crypto"), nullable=False),
    sa.Column("is_default", sa.Boolean),
    sa.Column("last_four", sa.String(4)),
    sa.Column("card_brand", sa.String(20)),
    sa.Column("exp_month", mysql.TINYINT()),
    sa.Column("exp_year", sa.SmallInteger),
    sa.Column("billing_name", sa.String(255)),
    sa.Column("billing_address", sa.JSON),
    sa.Column("stripe_payment_method_id", sa.String(255)),
    sa.Column("paypal_email", sa.String(255)),
    sa.Column("metadata", sa.JSON),
    sa.Column("created_at", TIME),
    sa.Column("updated_at", TIME),
)

usage_records = sa.Table(
    "usage_records",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("user_id", ID, nullable=False),
    sa.Column("organization_id", ID),
    sa.Column("resource_type", sa.String(50), nullable=False),
    sa.Column("resource_id", mysql.BIGINT(), nullable=False),
    sa.Column("metric_type", mysql.ENUM(*METRIC_TYPES), nullable=False),
    sa.Column("quantity", sa.DECIMAL(20, 6), nullable=False),
    sa.Column("unit_price", sa.DECIMAL(10, 6)),
    sa.Column("total_cost", sa.DECIMAL(10, 6)),
    sa.Column("recorded_at", TIME, nullable=False),
    sa.Column("billed", sa.Boolean),
    sa.Column("invoice_id", ID),
    sa.Column("metadata", sa.JSON),
    sa.Column("created_at", TIME),
    sa.Column("event_id", sa.BINARY(16), nullable=False),
    sa.Column("period_end", TIME, nullable=False),
    sa.Column("product", sa.String(100), nullable=False),
    sa.Column("price_monthly", sa.DECIMAL(10, 2)),
    sa.Column("currency", sa.String(3), nullable=False),
)

credits = sa.Table(
    "credits",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("user_id", ID, nullable=False),
    sa.Column("organization_id", ID),
    sa.Column("amount", sa.DECIMAL(10, 2), nullable=False),
    sa.Column("balance", sa.DECIMAL(10, 2), nullable=False),
    sa.Column("currency", sa.String(3)),
    sa.Column("description", sa.String(255)),
    sa.Column("type", mysql.ENUM("promotional", "referral", "compensation", "manual")),
    sa.Column("expires_at", TIME),
    sa.Column("created_at", TIME),
)

credit_applications = sa.Table(
    "credit_applications",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("credit_id", ID, nullable=False),
    sa.Column("invoice_id", ID, nullable=False),
    sa.Column("amount", sa.DECIMAL(10, 2), nullable=False),
    sa.Column("applied_at", TIME, nullable=False),
)

billing_accounts = sa.Table(
    "billing_accounts",
    metadata,
    sa.Column("account_type", mysql.ENUM(*ACCOUNT_TYPES), primary_key=True),
    sa.Column("account_id", ID, primary_key=True, autoincrement=False),
    sa.Column("owner_user_id", ID),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("company_name", sa.String(255)),
    sa.Column("tax_id", sa.String(50)),
    sa.Column("country", sa.String(2)),
    sa.Column("billing_email", sa.String(255)),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("created_at", TIME, nullable=False),
    sa.Column("updated_at", TIME, nullable=False),
)

invoice_sequences = sa.Table(
    "invoice_sequences",
    metadata,
    sa.Column("period", sa.CHAR(7), primary_key=True),
    sa.Column("last_number", sa.Integer, nullable=False),
)
