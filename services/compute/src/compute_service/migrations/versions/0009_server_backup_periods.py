"""Backups metered: when a server had backups enabled.

- ``server_backup_periods``: from when to when a server had backups enabled (a row opened at
  creation with ``backups: true`` and when ``enable_backup`` finishes, closed when
  ``disable_backup`` finishes). Metering records one ``usage.recorded`` of resource type
  ``backup`` for every started hour of the server's life that such a period touches.
- Servers that have backups enabled already get a period from the migration's time on (when
  they were enabled is not known; the hours before are not charged).

Revision ID: compute_0009
Revises: compute_0008
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "compute_0009"
down_revision = "compute_0008"
branch_labels = None
depends_on = None

ID = mysql.BIGINT(unsigned=True)
TIME = mysql.DATETIME(fsp=6)


def upgrade() -> None:
    op.create_table(
        "server_backup_periods",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("server_id", ID, nullable=False),
        sa.Column("started_at", TIME, nullable=False),
        sa.Column("ended_at", TIME),
        sa.Index("idx_server_backup_periods_server", "server_id", "started_at"),
        mysql_engine="InnoDB",
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
    )
    op.execute(
        "INSERT INTO server_backup_periods (server_id, started_at) "
        "SELECT id, UTC_TIMESTAMP(6) FROM servers WHERE backup_enabled = 1 AND deleted_at IS NULL"
    )


def downgrade() -> None:
    op.drop_table("server_backup_periods")
