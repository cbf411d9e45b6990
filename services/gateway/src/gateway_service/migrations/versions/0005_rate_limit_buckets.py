"""Rate limits as continuously refilling token buckets (Hetzner's semantics), replacing the
fixed hourly windows of 0004: one row per API key (per user for sessions) holding the time
its bucket is full again, shared by all replicas.

See gateway_service.rate_limit.store.

Revision ID: gateway_0005
Revises: gateway_0004
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "gateway_0005"
down_revision = "gateway_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The windows' counts say nothing about a bucket: every key starts full.
    op.drop_table("rate_limit_counters")
    op.create_table(
        "rate_limit_buckets",
        sa.Column("bucket_id", mysql.BIGINT(unsigned=True), nullable=False, autoincrement=False),
        sa.Column("full_at", mysql.DATETIME(fsp=6), nullable=False),
        sa.PrimaryKeyConstraint("bucket_id", name="pk_rate_limit_buckets"),
        sa.Index("ix_rate_limit_buckets_full_at", "full_at"),
        mysql_engine="InnoDB",
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )


def downgrade() -> None:
    op.drop_table("rate_limit_buckets")
    op.create_table(
        "rate_limit_counters",
        sa.Column("api_key_id", mysql.BIGINT(unsigned=True), nullable=False, autoincrement=False),
        sa.Column("window_start", mysql.DATETIME(), nullable=False),
        sa.Column("request_count", mysql.INTEGER(unsigned=True), nullable=False),
        sa.PrimaryKeyConstraint("api_key_id", "window_start", name="pk_rate_limit_counters"),
        sa.Index("ix_rate_limit_counters_window_start", "window_start"),
        mysql_engine="InnoDB",
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )
