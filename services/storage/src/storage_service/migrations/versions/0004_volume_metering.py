"""Metering volumes: ``volumes.metered_until`` (the cursor: the hours before it are recorded as
``usage.recorded``) and ``volume_size_periods`` (from when a volume had which size: an hour is
priced by the size in effect at its end).

Revision ID: storage_0004
Revises: storage_0003
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "storage_0004"
down_revision = "storage_0003"
branch_labels = None
depends_on = None

ID = mysql.BIGINT(unsigned=True)
TIME = mysql.DATETIME(fsp=6)


def upgrade() -> None:
    op.add_column("volumes", sa.Column("metered_until", TIME, nullable=True))
    op.create_index("idx_volumes_metering", "volumes", ["deleted_at", "metered_until"])
    op.create_table(
        "volume_size_periods",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("volume_id", ID, nullable=False),
        sa.Column("size_gb", sa.Integer, nullable=False),
        sa.Column("started_at", TIME, nullable=False),
        sa.Index("idx_volume_size_periods_volume", "volume_id", "started_at"),
        mysql_engine="InnoDB",
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
    )


def downgrade() -> None:
    op.drop_table("volume_size_periods")
    op.drop_index("idx_volumes_metering", "volumes")
    op.drop_column("volumes", "metered_until")
