"""Private networks: what Hetzner's network has beyond the seed's networks table.

- networks.hetzner_id becomes nullable: a network exists (creating) before network's worker has
  made it upstream;
- networks gains ``expose_routes_to_vswitch``, ``protection_delete``, ``blocked``, ``locked``,
  ``status``, ``version`` (the aggregate version its events carry) and an index on
  (user_id, organization_id, name); subnets and routes stay the seed's JSON columns;
- server_networks gains an index on server_id (a server's networks, for the server view).

Revision ID: network_0004
Revises: network_0003
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "network_0004"
down_revision = "network_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column("networks", "hetzner_id", existing_type=sa.BigInteger, nullable=True)
    op.add_column(
        "networks", sa.Column("expose_routes_to_vswitch", sa.Boolean, nullable=False, server_default=sa.false())
    )
    op.add_column("networks", sa.Column("protection_delete", sa.Boolean, nullable=False, server_default=sa.false()))
    op.add_column("networks", sa.Column("blocked", sa.Boolean, nullable=False, server_default=sa.false()))
    op.add_column("networks", sa.Column("locked", sa.Boolean, nullable=False, server_default=sa.false()))
    op.add_column(
        "networks",
        sa.Column("status", sa.Enum("creating", "ready", "error"), nullable=False, server_default="creating"),
    )
    op.add_column("networks", sa.Column("version", sa.Integer, nullable=False, server_default="1"))
    op.create_index("idx_tenant_name", "networks", ["user_id", "organization_id", "name"])
    op.create_index("idx_server", "server_networks", ["server_id"])


def downgrade() -> None:
    op.drop_index("idx_server", table_name="server_networks")
    op.drop_index("idx_tenant_name", table_name="networks")
    for column in ("version", "status", "locked", "blocked", "protection_delete", "expose_routes_to_vswitch"):
        op.drop_column("networks", column)
    op.alter_column("networks", "hetzner_id", existing_type=sa.BigInteger, nullable=False)
