"""Monitoring's notices through their rules' channels: a delivery may go to a target other than
the user's own address (``notification_deliveries.target``: an alert rule's email address or
webhook URL), and each account has a webhook signing secret (``webhook_secrets``: a user's own
or an organization's; HMAC-SHA256 of a webhook's body under it is its signature header).

Revision ID: support_0007
Revises: support_0006
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "support_0007"
down_revision = "support_0006"
branch_labels = None
depends_on = None

ID = mysql.BIGINT(unsigned=True)
TIME = mysql.DATETIME(fsp=6)
TABLE = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_unicode_ci"}


def upgrade() -> None:
    op.add_column("notification_deliveries", sa.Column("target", sa.String(2048)))
    op.create_table(
        "webhook_secrets",
        sa.Column("account_type", sa.String(20), primary_key=True),
        sa.Column("account_id", ID, primary_key=True, autoincrement=False),
        sa.Column("secret", sa.String(100), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("rotated_at", TIME, nullable=False),
        **TABLE,
    )


def downgrade() -> None:
    op.drop_table("webhook_secrets")
    op.drop_column("notification_deliveries", "target")
