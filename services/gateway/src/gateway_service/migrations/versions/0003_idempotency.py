"""Idempotency keys: one row per (caller, Idempotency-Key) of a POST, kept 24 hours.

A row is ``in_flight`` while its first request runs and ``completed`` with the stored answer
afterwards. See gateway_service.idempotency.

Revision ID: gateway_0003
Revises: gateway_0002
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "gateway_0003"
down_revision = "gateway_0002"
branch_labels = None
depends_on = None

TIME = mysql.DATETIME(fsp=6)


def upgrade() -> None:
    op.create_table(
        "idempotency_keys",
        sa.Column("id", mysql.BIGINT(unsigned=True), primary_key=True, autoincrement=True),
        sa.Column("scope", sa.String(64), nullable=False),
        sa.Column("idempotency_key", sa.String(255), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("state", sa.Enum("in_flight", "completed"), nullable=False),
        sa.Column("response_status", sa.SmallInteger, nullable=True),
        sa.Column("response_headers", sa.JSON, nullable=True),
        sa.Column("response_body", mysql.LONGBLOB, nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("expires_at", TIME, nullable=False),
        sa.UniqueConstraint("scope", "idempotency_key", name="uq_idempotency_keys_scope_key"),
        sa.Index("ix_idempotency_keys_expires_at", "expires_at"),
        mysql_engine="InnoDB",
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )


def downgrade() -> None:
    op.drop_table("idempotency_keys")
