"""Firewalls: what Hetzner's firewall has beyond the seed's firewalls table.

- firewalls.hetzner_id becomes nullable: a firewall exists before network's worker has made it
  upstream;
- firewalls gains ``selectors`` (the label selectors it is applied to, JSON; the servers it is
  applied to one by one stay the seed's server_firewalls rows), ``blocked``, ``locked``,
  ``version`` (the aggregate version its events carry), ``deleted_at`` and an index on
  (user_id, organization_id, name);
- firewall_rules keeps the seed's columns: ``priority`` is the rule's place in the list;
- server_firewalls gains an index on firewall_id (the servers of a firewall).

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
    op.create_index("idx_tenant_name", "firewalls", ["user_id", "organization_id", "name"])
    op.create_index("idx_firewall", "server_firewalls", ["firewall_id"])


def downgrade() -> None:
    op.drop_index("idx_firewall", table_name="server_firewalls")
    op.drop_index("idx_tenant_name", table_name="firewalls")
    for column in ("deleted_at", "version", "locked", "blocked", "selectors"):
        op.drop_column("firewalls", column)
    op.alter_column("firewalls", "hetzner_id", existing_type=sa.BigInteger, nullable=False)
