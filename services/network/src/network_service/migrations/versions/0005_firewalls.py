"""Firewalls: what Hetzner's firewall has beyond the seed's firewalls table.

- firewalls.hetzner_id becomes nullable: a firewall exists before network's worker has made it
  upstream;
- firewalls gains ``selectors`` (the label selectors it is applied to, JSON; the servers it is
  applied to one by one stay the seed's server_firewalls rows), ``blocked``, ``locked``,
  ``version`` (the aggregate version its events carry), ``deleted_at``, ``synced`` (false while
  upstream may not cover every server its selectors match: the worker brings it in line) and an
  index on (user_id, organization_id, name);
- firewall_rules keeps the seed's columns: ``priority`` is the rule's place in the list;
- server_firewalls gains an index on firewall_id (the servers of a firewall);
- server_labels (not in the seed): compute's servers' tenants and labels as network's consumer
  learns them from compute.events, for the firewalls applied by label selector.

Revision ID: network_0005
Revises: network_0004
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "network_0005"
down_revision = "network_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column("firewalls", "hetzner_id", existing_type=sa.BigInteger, nullable=True)
    op.add_column("firewalls", sa.Column("selectors", sa.JSON))
    op.add_column("firewalls", sa.Column("blocked", sa.Boolean, nullable=False, server_default=sa.false()))
    op.add_column("firewalls", sa.Column("locked", sa.Boolean, nullable=False, server_default=sa.false()))
    op.add_column("firewalls", sa.Column("version", sa.Integer, nullable=False, server_default="1"))
    op.add_column("firewalls", sa.Column("deleted_at", mysql.DATETIME(fsp=6), nullable=True))
    op.add_column("firewalls", sa.Column("synced", sa.Boolean, nullable=False, server_default=sa.true()))
    op.create_index("idx_tenant_name", "firewalls", ["user_id", "organization_id", "name"])
    op.create_index("idx_firewall", "server_firewalls", ["firewall_id"])
    op.create_table(
        "server_labels",
        sa.Column("server_id", mysql.BIGINT(unsigned=True), primary_key=True, autoincrement=False),
        sa.Column("user_id", mysql.BIGINT(unsigned=True), nullable=False),
        sa.Column("organization_id", mysql.BIGINT(unsigned=True)),
        sa.Column("labels", sa.JSON),
        sa.Column("updated_at", mysql.DATETIME(fsp=6), nullable=False),
        sa.Index("idx_tenant", "user_id", "organization_id"),
        mysql_engine="InnoDB",
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
    )


def downgrade() -> None:
    op.drop_table("server_labels")
    op.drop_index("idx_firewall", table_name="server_firewalls")
    op.drop_index("idx_tenant_name", table_name="firewalls")
    for column in ("synced", "deleted_at", "version", "locked", "blocked", "selectors"):
        op.drop_column("firewalls", column)
    op.alter_column("firewalls", "hetzner_id", existing_type=sa.BigInteger, nullable=False)
