"""Placement groups and the load balancer types of the catalog.

- ``placement_groups``: a tenant's placement groups (Hetzner's, type ``spread``): name unique
  per tenant (``tenant`` as ssh_keys: "u<user id>" or "o<organization id>"), labels, the
  upstream group's id once it exists there (made when the first server needs it, found by the
  label ``cp_placement_group_id``), a version raised by every change.
- ``servers.placement_group_id``: the group a server is in (live servers only count).
- ``load_balancer_types``: synced from upstream like server types (by upstream name), with the
  platform's own gross EUR prices (a new type starts at upstream's) and where upstream offers it.

Revision ID: compute_0010
Revises: compute_0009
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "compute_0010"
down_revision = "compute_0009"
branch_labels = None
depends_on = None

ID = mysql.BIGINT(unsigned=True)
TIME = mysql.DATETIME(fsp=6)
TABLE = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_unicode_ci"}


def upgrade() -> None:
    op.create_table(
        "placement_groups",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("organization_id", ID),
        sa.Column("hetzner_id", sa.BigInteger),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("type", sa.String(20), nullable=False),
        sa.Column("labels", sa.JSON),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.Column(
            "tenant",
            sa.String(24),
            sa.Computed(
                "IF(organization_id IS NULL, CONCAT('u', user_id), CONCAT('o', organization_id))", persisted=True
            ),
        ),
        sa.UniqueConstraint("tenant", "name", name="uq_placement_groups_tenant_name"),
        sa.Index("idx_placement_groups_user", "user_id"),
        sa.Index("idx_placement_groups_org", "organization_id"),
        **TABLE,
    )
    op.add_column("servers", sa.Column("placement_group_id", ID, nullable=True))
    op.create_index("idx_servers_placement_group", "servers", ["placement_group_id"])
    op.create_table(
        "load_balancer_types",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("code", sa.String(50), nullable=False, unique=True),
        sa.Column("description", sa.String(255), nullable=False),
        sa.Column("max_connections", sa.Integer, nullable=False),
        sa.Column("max_services", sa.Integer, nullable=False),
        sa.Column("max_targets", sa.Integer, nullable=False),
        sa.Column("max_assigned_certificates", sa.Integer, nullable=False),
        sa.Column("price_hourly", sa.Numeric(10, 6), nullable=False),
        sa.Column("price_monthly", sa.Numeric(10, 2), nullable=False),
        sa.Column("available", sa.Boolean, nullable=False),
        sa.Column("deprecated_at", TIME),
        sa.Column("upstream_datacenters", sa.JSON),
        sa.Column("hetzner_id", sa.BigInteger),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.Column("synced_at", TIME),
        **TABLE,
    )


def downgrade() -> None:
    op.drop_table("load_balancer_types")
    op.drop_index("idx_servers_placement_group", "servers")
    op.drop_column("servers", "placement_group_id")
    op.drop_table("placement_groups")
