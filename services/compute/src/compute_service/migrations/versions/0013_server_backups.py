"""Compute's projection of storage's backups (``backup.created``, ``backup.expired``,
``backup.deleted`` on storage.events): which backups a server has and their images upstream,
so a server is rebuilt from one of its backups (Hetzner's restore) by the backup's id.

Revision ID: compute_0013
Revises: compute_0012
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "compute_0013"
down_revision = "compute_0012"
branch_labels = None
depends_on = None

ID = mysql.BIGINT(unsigned=True)


def upgrade() -> None:
    op.create_table(
        "server_backups",
        sa.Column("backup_id", ID, primary_key=True, autoincrement=False),
        sa.Column("server_id", ID, nullable=False),
        sa.Column("hetzner_id", sa.BigInteger, nullable=False),
        sa.Index("idx_server_backups_server", "server_id"),
        mysql_engine="InnoDB",
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
    )


def downgrade() -> None:
    op.drop_table("server_backups")
