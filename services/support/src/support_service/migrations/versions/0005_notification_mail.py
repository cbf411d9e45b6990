"""Notifications by mail and the preferences that choose the channels.

``notification_deliveries``: one row per notification and channel (unique), written in the
transaction of the reaction that made the notification, so a redelivered event never adds a
second one; the mail sender sends the pending ones after that commit and records the outcome
(sent, or failed after the last attempt), retrying with backoff in between.

``notification_preferences``: a user's choice per notification kind and channel (in_app,
email); a missing row is the kind's default.

Revision ID: support_0005
Revises: support_0004
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "support_0005"
down_revision = "support_0004"
branch_labels = None
depends_on = None

ID = mysql.BIGINT(unsigned=True)
TIME = mysql.DATETIME(fsp=6)
TABLE = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_unicode_ci"}


def upgrade() -> None:
    op.create_table(
        "notification_deliveries",
        sa.Column("id", sa.CHAR(36), primary_key=True),
        sa.Column("notification_id", sa.CHAR(36), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("type", sa.String(255), nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", TIME, nullable=False),
        sa.Column("last_error", sa.String(1000)),
        sa.Column("message_id", sa.String(255)),
        sa.Column("sent_at", TIME),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.UniqueConstraint("notification_id", "channel", name="uq_notification_deliveries_channel"),
        sa.Index("idx_notification_deliveries_due", "status", "next_attempt_at"),
        **TABLE,
    )
    op.create_table(
        "notification_preferences",
        sa.Column("user_id", ID, primary_key=True, autoincrement=False),
        sa.Column("kind", sa.String(100), primary_key=True),
        sa.Column("channel", sa.String(20), primary_key=True),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        **TABLE,
    )


def downgrade() -> None:
    op.drop_table("notification_preferences")
    op.drop_table("notification_deliveries")
