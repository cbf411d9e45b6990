"""The support tables as SQLAlchemy Core sees them (the migrations create them)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

metadata = sa.MetaData()

ID = mysql.BIGINT(unsigned=True)
TIME = mysql.DATETIME(fsp=6)

tickets = sa.Table(
    "tickets",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("user_id", ID, nullable=False),
    sa.Column("organization_id", ID),
    sa.Column("ticket_number", sa.String(20), nullable=False),
    sa.Column("subject", sa.String(255), nullable=False),
    sa.Column("category", sa.String(20)),
    sa.Column("priority", sa.String(20)),
    sa.Column("status", sa.String(20)),
    sa.Column("assigned_to", ID),
    sa.Column("related_resource_type", sa.String(50)),
    sa.Column("related_resource_id", sa.BigInteger),
    sa.Column("created_at", TIME),
    sa.Column("updated_at", TIME),
    sa.Column("resolved_at", TIME),
    sa.Column("closed_at", TIME),
    sa.Column("satisfaction_rating", sa.SmallInteger),
    sa.Column("first_response_at", TIME),
    sa.Column("first_response_breached_at", TIME),
    sa.Column("resolution_breached_at", TIME),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("pending_since", TIME),
    sa.Column("sla_paused_seconds", sa.BigInteger, nullable=False),
)

ticket_messages = sa.Table(
    "ticket_messages",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("ticket_id", ID, nullable=False),
    sa.Column("user_id", ID, nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("attachments", sa.JSON),
    sa.Column("is_internal_note", sa.Boolean),
    sa.Column("from_staff", sa.Boolean, nullable=False),
    sa.Column("created_at", TIME),
)

ticket_attachments = sa.Table(
    "ticket_attachments",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("ticket_id", ID, nullable=False),
    sa.Column("message_id", ID, nullable=False),
    sa.Column("uploaded_by", ID, nullable=False),
    sa.Column("file_name", sa.String(255), nullable=False),
    sa.Column("content_type", sa.String(100), nullable=False),
    sa.Column("size_bytes", sa.BigInteger, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("storage_key", sa.String(255), nullable=False),
    sa.Column("created_at", TIME, nullable=False),
)

ticket_number_sequences = sa.Table(
    "ticket_number_sequences",
    metadata,
    sa.Column("year", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("last_number", sa.Integer, nullable=False),
)

maintenance_windows = sa.Table(
    "maintenance_windows",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("title", sa.String(255), nullable=False),
    sa.Column("description", sa.Text),
    sa.Column("type", sa.String(20)),
    sa.Column("affected_services", sa.JSON),
    sa.Column("affected_datacenters", sa.JSON),
    sa.Column("status", sa.String(20)),
    sa.Column("start_time", TIME, nullable=False),
    sa.Column("end_time", TIME, nullable=False),
    sa.Column("created_by", ID),
    sa.Column("created_at", TIME),
    sa.Column("updated_at", TIME),
    sa.Column("version", sa.Integer, nullable=False),
)

notifications = sa.Table(
    "notifications",
    metadata,
    sa.Column("id", sa.CHAR(36), primary_key=True),
    sa.Column("type", sa.String(255), nullable=False),
    sa.Column("notifiable_type", sa.String(255), nullable=False),
    sa.Column("notifiable_id", ID, nullable=False),
    sa.Column("data", sa.Text, nullable=False),
    sa.Column("read_at", TIME),
    sa.Column("created_at", TIME),
    sa.Column("updated_at", TIME),
)

customer_resources = sa.Table(
    "customer_resources",
    metadata,
    sa.Column("resource_type", sa.String(50), primary_key=True),
    sa.Column("resource_id", ID, primary_key=True, autoincrement=False),
    sa.Column("user_id", ID, nullable=False),
    sa.Column("organization_id", ID),
    sa.Column("datacenter", sa.String(50), nullable=False),
    sa.Column("recorded_at", TIME, nullable=False),
)

notification_deliveries = sa.Table(
    "notification_deliveries",
    metadata,
    sa.Column("id", sa.CHAR(36), primary_key=True),
    sa.Column("notification_id", sa.CHAR(36), nullable=False),
    sa.Column("channel", sa.String(20), nullable=False),
    sa.Column("user_id", ID, nullable=False),
    sa.Column("type", sa.String(255), nullable=False),
    sa.Column("data", sa.Text, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", TIME, nullable=False),
    sa.Column("last_error", sa.String(1000)),
    sa.Column("message_id", sa.String(255)),
    sa.Column("sent_at", TIME),
    sa.Column("created_at", TIME, nullable=False),
    sa.Column("updated_at", TIME, nullable=False),
    sa.Column("target", sa.String(2048)),
)

webhook_secrets = sa.Table(
    "webhook_secrets",
    metadata,
    sa.Column("account_type", sa.String(20), primary_key=True),
    sa.Column("account_id", ID, primary_key=True, autoincrement=False),
    sa.Column("secret", sa.String(100), nullable=False),
    sa.Column("created_at", TIME, nullable=False),
    sa.Column("rotated_at", TIME, nullable=False),
)

notification_preferences = sa.Table(
    "notification_preferences",
    metadata,
    sa.Column("user_id", ID, primary_key=True, autoincrement=False),
    sa.Column("kind", sa.String(100), primary_key=True),
    sa.Column("channel", sa.String(20), primary_key=True),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("updated_at", TIME, nullable=False),
)

organization_members = sa.Table(
    "organization_members",
    metadata,
    sa.Column("organization_id", ID, primary_key=True, autoincrement=False),
    sa.Column("user_id", ID, primary_key=True, autoincrement=False),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("recorded_at", TIME, nullable=False),
)

known_sign_in_addresses = sa.Table(
    "known_sign_in_addresses",
    metadata,
    sa.Column("user_id", ID, primary_key=True, autoincrement=False),
    sa.Column("ip_sha256", sa.CHAR(64), primary_key=True),
    sa.Column("first_seen_at", TIME, nullable=False),
)
