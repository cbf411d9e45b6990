"""Support's tables: the seed's tickets, ticket_messages, maintenance_windows and notifications,
and what tickets need besides.

- ``tickets``: every seed column, enum, index and default; the seed's foreign keys to identity's
  users and organizations (``user_id``, ``organization_id``, ``assigned_to``) are plain ids.
  Added: ``first_response_at`` (the first staff reply, for the service levels), the breaches
  recorded once each (``first_response_breached_at``, ``resolution_breached_at``) and the
  aggregate's ``version``.
- ``ticket_messages``: every seed column (``attachments`` holds the ids of the message's
  attachments); the foreign key to ``tickets`` stays (the same service's table). Added:
  ``from_staff`` (written by staff, in the staff view).
- ``ticket_attachments``: one file of a message: its name, sniffed content type, size, SHA-256
  and where the object store keeps it.
- ``ticket_number_sequences``: the last ticket number given in each year, raised in the
  transaction that opens a ticket, so numbers have no gaps (a rolled-back opening gives its
  number back).
- ``maintenance_windows``: the seed's, every column, enum, index and default (``created_by`` a
  plain id), and the aggregate's ``version``.
- ``notifications``: the seed's, every column, index and default.

Times are DATETIME(6) in UTC, as in the other services (no session time zone, microseconds, no
2038 limit); the seed's CURRENT_TIMESTAMP defaults stay.

Revision ID: support_0003
Revises: support_0002
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "support_0003"
down_revision = "support_0002"
branch_labels = None
depends_on = None

ID = mysql.BIGINT(unsigned=True)
TIME = mysql.DATETIME(fsp=6)
NOW = sa.text("CURRENT_TIMESTAMP(6)")
NOW_ON_UPDATE = sa.text("CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6)")
TABLE = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_unicode_ci"}


def upgrade() -> None:
    op.create_table(
        "tickets",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("organization_id", ID),
        sa.Column("ticket_number", sa.String(20), nullable=False, unique=True),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column(
            "category",
            mysql.ENUM("technical", "billing", "abuse", "sales", "other"),
            server_default="technical",
        ),
        sa.Column("priority", mysql.ENUM("low", "normal", "high", "urgent"), server_default="normal"),
        sa.Column("status", mysql.ENUM("open", "pending", "resolved", "closed"), server_default="open"),
        sa.Column("assigned_to", ID),
        sa.Column("related_resource_type", sa.String(50)),
        sa.Column("related_resource_id", sa.BigInteger),
        sa.Column("created_at", TIME, server_default=NOW),
        sa.Column("updated_at", TIME, server_default=NOW_ON_UPDATE),
        sa.Column("resolved_at", TIME, nullable=True),
        sa.Column("closed_at", TIME, nullable=True),
        sa.Column("satisfaction_rating", mysql.TINYINT),
        sa.Column("first_response_at", TIME, nullable=True),
        sa.Column("first_response_breached_at", TIME, nullable=True),
        sa.Column("resolution_breached_at", TIME, nullable=True),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.Index("idx_user", "user_id"),
        sa.Index("idx_ticket_number", "ticket_number"),
        sa.Index("idx_status", "status"),
        sa.Index("idx_priority", "priority"),
        sa.Index("idx_assigned", "assigned_to"),
        sa.Index("idx_tickets_organization", "organization_id"),
        sa.Index("idx_tickets_resolved", "status", "resolved_at"),
        **TABLE,
    )
    op.create_table(
        "ticket_messages",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("ticket_id", ID, sa.ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("attachments", sa.JSON),
        sa.Column("is_internal_note", sa.Boolean, server_default=sa.false()),
        sa.Column("from_staff", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", TIME, server_default=NOW),
        sa.Index("idx_ticket", "ticket_id"),
        sa.Index("idx_created", "created_at"),
        **TABLE,
    )
    op.create_table(
        "ticket_attachments",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("ticket_id", ID, sa.ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False),
        sa.Column("message_id", ID, sa.ForeignKey("ticket_messages.id", ondelete="CASCADE"), nullable=False),
        sa.Column("uploaded_by", ID, nullable=False),
        sa.Column("file_name", sa.String(255), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("storage_key", sa.String(255), nullable=False, unique=True),
        sa.Column("created_at", TIME, nullable=False, server_default=NOW),
        sa.Index("idx_ticket_attachments_message", "message_id"),
        **TABLE,
    )
    op.create_table(
        "ticket_number_sequences",
        sa.Column("year", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("last_number", sa.Integer, nullable=False),
        **TABLE,
    )
    op.create_table(
        "maintenance_windows",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("title", sa.String(255), nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("type", mysql.ENUM("planned", "emergency"), server_default="planned"),
        sa.Column("affected_services", sa.JSON),
        sa.Column("affected_datacenters", sa.JSON),
        sa.Column(
            "status",
            mysql.ENUM("scheduled", "in_progress", "completed", "cancelled"),
            server_default="scheduled",
        ),
        sa.Column("start_time", TIME, nullable=False),
        sa.Column("end_time", TIME, nullable=False),
        sa.Column("created_by", ID),
        sa.Column("created_at", TIME, server_default=NOW),
        sa.Column("updated_at", TIME, server_default=NOW_ON_UPDATE),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.Index("idx_status", "status"),
        sa.Index("idx_start_time", "start_time"),
        **TABLE,
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.CHAR(36), primary_key=True),
        sa.Column("type", sa.String(255), nullable=False),
        sa.Column("notifiable_type", sa.String(255), nullable=False),
        sa.Column("notifiable_id", ID, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("read_at", TIME, nullable=True),
        sa.Column("created_at", TIME, server_default=NOW),
        sa.Column("updated_at", TIME, server_default=NOW_ON_UPDATE),
        sa.Index("idx_notifiable", "notifiable_type", "notifiable_id"),
        sa.Index("idx_read", "read_at"),
        **TABLE,
    )


def downgrade() -> None:
    op.drop_table("notifications")
    op.drop_table("maintenance_windows")
    op.drop_table("ticket_number_sequences")
    op.drop_table("ticket_attachments")
    op.drop_table("ticket_messages")
    op.drop_table("tickets")
