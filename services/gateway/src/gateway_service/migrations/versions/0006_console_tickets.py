"""Console tickets: the single-use token of a request_console answer's URL, kept as SHA-256
beside upstream's console URL (which never leaves the gateway) for one minute.

See gateway_service.console.tickets.

Revision ID: gateway_0006
Revises: gateway_0005
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "gateway_0006"
down_revision = "gateway_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "console_tickets",
        sa.Column("ticket_sha256", mysql.BINARY(32), nullable=False),
        sa.Column("upstream_url", mysql.VARCHAR(2048), nullable=False),
        sa.Column("server_id", mysql.BIGINT(unsigned=True), nullable=False),
        sa.Column("expires_at", mysql.DATETIME(fsp=6), nullable=False),
        sa.PrimaryKeyConstraint("ticket_sha256", name="pk_console_tickets"),
        sa.Index("ix_console_tickets_expires_at", "expires_at"),
        mysql_engine="InnoDB",
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )


def downgrade() -> None:
    op.drop_table("console_tickets")
