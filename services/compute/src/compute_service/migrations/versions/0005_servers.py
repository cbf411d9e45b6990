"""Servers and their actions, as the provisioning worker needs them.

- servers.hetzner_id becomes nullable: a server exists (status provisioning) before upstream
  has made it; the worker records upstream's id when it has.
- servers gains ``tenant`` ("u<user id>" or "o<organization id>", as ssh_keys) and
  ``live_name`` (the name while the server is not deleted, NULL after): the unique key
  (tenant, live_name) makes a name unique per tenant among non-deleted servers, and the
  database decides under concurrency. A soft-deleted server frees its name.
- servers gains ``protection_delete`` and ``protection_rebuild`` (Hetzner's protection flags).
- actions gains ``server_id`` (the server an action is about; the worker polls by it and
  ListActions filters by it) and ``upstream_action_id`` (the upstream action it waits for).

Revision ID: compute_0005
Revises: compute_0003
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "compute_0005"
down_revision = "compute_0003"
branch_labels = None
depends_on = None

ID = mysql.BIGINT(unsigned=True)


def upgrade() -> None:
    op.alter_column("servers", "hetzner_id", existing_type=sa.BigInteger, nullable=True)
    op.add_column(
        "servers",
        sa.Column(
            "tenant",
            sa.String(24),
            sa.Computed(
                "IF(organization_id IS NULL, CONCAT('u', user_id), CONCAT('o', organization_id))", persisted=True
            ),
        ),
    )
    op.add_column(
        "servers",
        sa.Column("live_name", sa.String(255), sa.Computed("IF(deleted_at IS NULL, name, NULL)", persisted=True)),
    )
    op.add_column("servers", sa.Column("protection_delete", sa.Boolean, nullable=False, server_default=sa.false()))
    op.add_column("servers", sa.Column("protection_rebuild", sa.Boolean, nullable=False, server_default=sa.false()))
    op.create_unique_constraint("uq_servers_tenant_live_name", "servers", ["tenant", "live_name"])
    op.add_column("actions", sa.Column("server_id", ID, nullable=True))
    op.add_column("actions", sa.Column("upstream_action_id", sa.BigInteger, nullable=True))
    op.create_index("idx_actions_server", "actions", ["server_id", "status"])


def downgrade() -> None:
    op.drop_index("idx_actions_server", "actions")
    op.drop_column("actions", "upstream_action_id")
    op.drop_column("actions", "server_id")
    op.drop_constraint("uq_servers_tenant_live_name", "servers", type_="unique")
    for column in ("protection_rebuild", "protection_delete", "live_name", "tenant"):
        op.drop_column("servers", column)
    op.alter_column("servers", "hetzner_id", existing_type=sa.BigInteger, nullable=False)
