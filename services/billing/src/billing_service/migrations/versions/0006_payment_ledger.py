"""Billing: payments and refunds as ledger entries.

- ``invoice_payments``: one row per payment received for an invoice and per refund made of it
  (``kind``), with its amount, method and the provider's reference (a reference is recorded
  once per invoice and kind: the unique key makes a repeated call a conflict, never a second
  payment), and for a refund its credit note number and the credit it became. Existing paid
  and refunded invoices get the rows of their one payment and refund.
- ``invoices.amount_paid``: what the invoice's payments add up to (partial payments leave it
  ``pending``/``overdue`` until it reaches the total).

Revision ID: billing_0006
Revises: billing_0005
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "billing_0006"
down_revision = "billing_0005"
branch_labels = None
depends_on = None

TABLE = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_unicode_ci"}
ID = mysql.BIGINT(unsigned=True)
TIME = mysql.DATETIME(fsp=6)


def upgrade() -> None:
    op.add_column(
        "invoices", sa.Column("amount_paid", sa.DECIMAL(10, 2), nullable=False, server_default=sa.text("0.00"))
    )
    op.create_table(
        "invoice_payments",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("invoice_id", ID, nullable=False),
        sa.Column("kind", mysql.ENUM("payment", "refund"), nullable=False),
        sa.Column("amount", sa.DECIMAL(10, 2), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("method", sa.String(30)),
        sa.Column("reference", sa.String(255)),
        sa.Column("credit_note_number", sa.String(50)),
        sa.Column("credit_id", ID),
        sa.Column("occurred_at", TIME, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.UniqueConstraint("invoice_id", "kind", "reference", name="uq_invoice_payment_reference"),
        sa.Index("idx_invoice_payments_invoice", "invoice_id"),
        **TABLE,
    )
    op.execute("UPDATE invoices SET amount_paid = total WHERE status IN ('paid', 'refunded')")
    op.execute(
        "INSERT INTO invoice_payments (invoice_id, kind, amount, currency, method, reference, occurred_at, created_at) "
        "SELECT id, 'payment', total, COALESCE(currency, 'EUR'), payment_method, payment_reference, "
        "COALESCE(paid_at, updated_at, issued_at), COALESCE(paid_at, updated_at, issued_at) "
        "FROM invoices WHERE status IN ('paid', 'refunded')"
    )
    op.execute(
        "INSERT INTO invoice_payments "
        "(invoice_id, kind, amount, currency, credit_note_number, occurred_at, created_at) "
        "SELECT id, 'refund', COALESCE(refunded_amount, total), COALESCE(currency, 'EUR'), credit_note_number, "
        "COALESCE(updated_at, issued_at), COALESCE(updated_at, issued_at) FROM invoices WHERE status = 'refunded'"
    )


def downgrade() -> None:
    op.drop_table("invoice_payments")
    op.drop_column("invoices", "amount_paid")
