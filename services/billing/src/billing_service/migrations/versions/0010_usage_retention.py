"""Billing: retention of billed usage records, and traffic.

- ``usage_records_removed``: one row per usage record the retention deleted (billed on an
  invoice whose period ended more than CP_USAGE_RETENTION_DAYS ago): its event id, the invoice
  that billed it and its period's end. The projection skips a ``usage.recorded`` whose event is
  listed, so a replay (``cloudctl replay billing``) or reconciliation does not bring a removed
  record back as unbilled usage, and reconciliation knows which invoices had their usage
  removed (it compares those invoices' own figures only). About 40 bytes per removed record.
  The retention finds the records of old invoices along the index of the foreign key on
  ``usage_records.invoice_id``.

The ``traffic`` pricing plan (20 TB included per server and month, 1.00 per TB beyond) exists
since billing_0004; outgoing traffic is ``usage_records.metric_type = 'bandwidth_gb'``.

Revision ID: billing_0010
Revises: billing_0009
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "billing_0010"
down_revision = "billing_0009"
branch_labels = None
depends_on = None

ID = mysql.BIGINT(unsigned=True)


def upgrade() -> None:
    op.create_table(
        "usage_records_removed",
        sa.Column("event_id", sa.BINARY(16), primary_key=True),
        sa.Column("invoice_id", ID, nullable=False),
        sa.Column("period_end", mysql.DATETIME(fsp=6), nullable=False),
        sa.Column("removed_at", mysql.DATETIME(fsp=6), nullable=False),
        sa.Index("idx_usage_removed_invoice", "invoice_id"),
        mysql_engine="InnoDB",
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
    )


def downgrade() -> None:
    op.drop_table("usage_records_removed")
