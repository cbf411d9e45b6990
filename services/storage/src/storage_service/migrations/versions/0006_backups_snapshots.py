"""Backups and snapshots. ``backup_servers``, storage's projection of compute's servers as backups need them
(the tenant from ``server.created``, the id upstream from ``server.status_changed``, the backup
option from ``server.created``/``server.backup_changed``, ``deleted`` from ``server.deleted``);
the worker mirrors the backup images upstream has of each enabled server into ``backups``,
whose unique key on ``hetzner_id`` (beyond the seed) records an upstream image once; its ids
start at 10**12 (``cpshared.image_ids``), above compute's images, so a rebuild's image id says
whether it names a backup.
``snapshots.metered_until``: the metering cursor of a server's snapshot (billed per GB and
month, by the hour, as volumes are).

Revision ID: storage_0006
Revises: storage_0005
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "storage_0006"
down_revision = "storage_0005"
branch_labels = None
depends_on = None

ID = mysql.BIGINT(unsigned=True)
FIRST_BACKUP_ID = 10**12  # cpshared.image_ids: backups' ids (a migration keeps its own figures)


def upgrade() -> None:
    op.create_table(
        "backup_servers",
        sa.Column("server_id", ID, primary_key=True, autoincrement=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("organization_id", ID, nullable=True),
        sa.Column("upstream_id", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("backups_enabled", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("deleted", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Index("idx_backup_servers_enabled", "backups_enabled", "deleted"),
        mysql_engine="InnoDB",
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
    )
    op.create_index("uq_backups_hetzner_id", "backups", ["hetzner_id"], unique=True)
    op.execute(f"ALTER TABLE backups AUTO_INCREMENT = {FIRST_BACKUP_ID}")
    op.add_column("snapshots", sa.Column("metered_until", mysql.DATETIME(fsp=6), nullable=True))
    op.create_index("idx_snapshots_metering", "snapshots", ["deleted_at", "metered_until"])


def downgrade() -> None:
    op.drop_index("idx_snapshots_metering", "snapshots")
    op.drop_column("snapshots", "metered_until")
    op.drop_index("uq_backups_hetzner_id", "backups")
    op.drop_table("backup_servers")
