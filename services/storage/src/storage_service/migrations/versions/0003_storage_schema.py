"""Storage's tables of the seed schema: volumes, snapshots and backups (every column, enum,
index and default; a foreign key to another service's table is a plain id), and the actions the
storage worker carries out.

Beyond the seed:
- volumes.hetzner_id is 0 until the worker has made the volume upstream (NOT NULL as the seed
  has it); ``location`` (compute's datacenter code, the one upstream knows), ``protection_delete``,
  ``locked`` (an action runs) and ``version`` (the aggregate's);
- ``tenant`` ("u<user id>" or "o<organization id>") and ``live_name`` (the name while the
  volume is not deleted): the unique key (tenant, live_name) makes a name unique per tenant
  among live volumes, decided by the database under concurrency (as compute's servers);
- ``actions``: Hetzner's actions on volumes (ids from 10^12, above compute's, so
  ``/v1/actions/{id}`` knows whose an id is); the worker claims the running ones;
- ``server_slots``: a row per server that had a volume, locked while an attach counts the
  server's volumes (at most 16).

Revision ID: storage_0003
Revises: storage_0002
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "storage_0003"
down_revision = "storage_0002"
branch_labels = None
depends_on = None

ID = mysql.BIGINT(unsigned=True)
TIME = mysql.DATETIME(fsp=6)
NOW = sa.text("CURRENT_TIMESTAMP(6)")
TABLE = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_unicode_ci"}
ACTION_IDS_START = 2 * 10**12  # cpshared.action_ids: storage's range (a migration keeps its own figures)


def upgrade() -> None:
    op.create_table(
        "volumes",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("organization_id", ID, nullable=True),
        sa.Column("server_id", ID, nullable=True),
        sa.Column("hetzner_id", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("size_gb", sa.Integer, nullable=False),
        sa.Column("datacenter_id", ID, nullable=False),
        sa.Column(
            "status",
            sa.Enum("creating", "available", "attached", "detaching", "deleting", "error"),
            server_default="creating",
        ),
        sa.Column("format", sa.String(20), nullable=True),
        sa.Column("labels", sa.JSON, nullable=True),
        sa.Column("created_at", TIME, server_default=NOW),
        sa.Column("updated_at", TIME, server_default=NOW, server_onupdate=NOW),
        sa.Column("deleted_at", TIME, nullable=True),
        sa.Column("location", sa.String(10), nullable=False),
        sa.Column("protection_delete", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("locked", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.Column(
            "tenant",
            sa.String(24),
            sa.Computed(
                "IF(organization_id IS NULL, CONCAT('u', user_id), CONCAT('o', organization_id))", persisted=True
            ),
        ),
        sa.Column("live_name", sa.String(255), sa.Computed("IF(deleted_at IS NULL, name, NULL)", persisted=True)),
        sa.UniqueConstraint("tenant", "live_name", name="uq_volumes_tenant_live_name"),
        sa.Index("idx_user_id", "user_id"),
        sa.Index("idx_server_id", "server_id"),
        sa.Index("idx_status", "status"),
        **TABLE,
    )
    op.create_table(
        "snapshots",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("organization_id", ID, nullable=True),
        sa.Column("hetzner_id", sa.BigInteger, nullable=False),
        sa.Column("resource_type", sa.Enum("server", "volume"), nullable=False),
        sa.Column("resource_id", ID, nullable=False),
        sa.Column("name", sa.String(255), nullable=True),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("size_gb", sa.Numeric(10, 2), nullable=True),
        sa.Column("status", sa.Enum("creating", "available", "deleting", "error"), server_default="creating"),
        sa.Column("labels", sa.JSON, nullable=True),
        sa.Column("created_at", TIME, server_default=NOW),
        sa.Column("deleted_at", TIME, nullable=True),
        sa.Index("idx_user", "user_id"),
        sa.Index("idx_resource", "resource_type", "resource_id"),
        sa.Index("idx_status", "status"),
        **TABLE,
    )
    op.create_table(
        "backups",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("server_id", ID, nullable=False),
        sa.Column("hetzner_id", sa.BigInteger, nullable=False),
        sa.Column("type", sa.Enum("automated", "manual"), server_default="manual"),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("size_gb", sa.Numeric(10, 2), nullable=True),
        sa.Column(
            "status", sa.Enum("creating", "available", "restoring", "deleting", "error"), server_default="creating"
        ),
        sa.Column("created_at", TIME, server_default=NOW),
        sa.Column("expires_at", TIME, nullable=True),
        sa.Index("idx_server_id", "server_id"),
        sa.Index("idx_status", "status"),
        sa.Index("idx_type", "type"),
        sa.Index("idx_expires", "expires_at"),
        **TABLE,
    )
    op.create_table(
        "actions",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("command", sa.String(100), nullable=False),
        sa.Column("status", sa.Enum("running", "success", "error"), nullable=False),
        sa.Column("progress", sa.Integer, nullable=False, server_default="0"),
        sa.Column("started", TIME, nullable=False),
        sa.Column("finished", TIME, nullable=True),
        sa.Column("error_code", sa.String(100), nullable=True),
        sa.Column("error_message", sa.Text, nullable=True),
        sa.Column("volume_id", ID, nullable=False),
        sa.Column("server_id", ID, nullable=True),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("organization_id", ID, nullable=True),
        sa.Column("upstream_action_id", sa.BigInteger, nullable=True),
        sa.Column("params", sa.JSON, nullable=True),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.Index("idx_actions_status", "status", "id"),
        sa.Index("idx_actions_volume", "volume_id", "status"),
        sa.Index("idx_actions_tenant", "user_id", "organization_id"),
        mysql_auto_increment=str(ACTION_IDS_START),
        **TABLE,
    )
    op.create_table(
        "server_slots",
        sa.Column("server_id", ID, primary_key=True, autoincrement=False),
        **TABLE,
    )


def downgrade() -> None:
    for table in ("server_slots", "actions", "backups", "snapshots", "volumes"):
        op.drop_table(table)
