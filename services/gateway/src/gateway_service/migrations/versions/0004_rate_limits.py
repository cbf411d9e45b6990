"""Rate limit counters: requests per API key per one-hour window, shared by all replicas.

See gateway_service.rate_limit.store.

Revision ID: gateway_0004
Revises: gateway_0003
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "gateway_0004"
down_revision = "gateway_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
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


def downgrade() -> None:
    op.drop_table("rate_limit_counters")
