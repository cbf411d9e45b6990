"""Metering and suspension: what they need recorded.

- ``server_type_periods``: which server type a server had from when to when (a row opened at
  creation and at every finished type change, closed by the next). Metering prices each hour
  by the type in effect at its end, also when it catches up on hours long past.
- ``servers.metered_until``: metering's cursor, the end (exclusive, an hour boundary) of the
  last clock hour recorded as ``usage.recorded``; NULL: nothing metered yet. Advanced in the
  transaction that writes the hours' events to the outbox.
- ``servers.suspended_at`` and ``servers.suspension_reason`` (``suspended``, ``banned``,
  ``erased``): the owner's account was suspended, banned or erased; the server is powered off
  (or deleted, when erased) and refuses every customer action until the account is activated.

Revision ID: compute_0007
Revises: compute_0006
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "compute_0007"
down_revision = "compute_0006"
branch_labels = None
depends_on = None

ID = mysql.BIGINT(unsigned=True)
TIME = mysql.DATETIME(fsp=6)


def upgrade() -> None:
    op.create_table(
        "server_type_periods",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("server_id", ID, nullable=False),
        sa.Column("server_type_id", ID, nullable=False),
        sa.Column("started_at", TIME, nullable=False),
        sa.Column("ended_at", TIME),
        sa.Index("idx_server_type_periods_server", "server_id", "started_at"),
        mysql_engine="InnoDB",
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
    )
    op.add_column("servers", sa.Column("metered_until", TIME))
    op.add_column("servers", sa.Column("suspended_at", TIME))
    op.add_column("servers", sa.Column("suspension_reason", sa.String(20)))


def downgrade() -> None:
    op.drop_column("servers", "suspension_reason")
    op.drop_column("servers", "suspended_at")
    op.drop_column("servers", "metered_until")
    op.drop_table("server_type_periods")
