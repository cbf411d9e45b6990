"""Primary IPs: what Hetzner's primary IP needs beyond migration 0003's primary_ips table.

- ``location`` (the location's code, e.g. ``fsn1``; ``datacenter_id`` is compute's id of it);
- ``metered_until``: metering's cursor (every started hour before it is recorded);
- ``adopted``: the row is one of a server's own addresses, made upstream with the server and
  adopted by network's worker (not reserved from the tenant's ``primary_ip`` quota);
- an index on (user_id, organization_id, name) for the tenant's names;
- ``ip_address`` is no longer unique (a deleted primary IP keeps its row and upstream hands its
  address out again), only indexed.

Revision ID: network_0007
Revises: network_0006
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "network_0007"
down_revision = "network_0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("primary_ips", sa.Column("location", sa.String(20), nullable=False, server_default=""))
    op.add_column("primary_ips", sa.Column("metered_until", mysql.DATETIME(fsp=6), nullable=True))
    op.add_column("primary_ips", sa.Column("adopted", sa.Boolean, nullable=False, server_default=sa.false()))
    op.create_index("idx_primary_ips_tenant_name", "primary_ips", ["user_id", "organization_id", "name"])
    op.drop_index("ip_address", table_name="primary_ips")
    op.create_index("idx_primary_ips_ip_address", "primary_ips", ["ip_address"])


def downgrade() -> None:
    op.drop_index("idx_primary_ips_ip_address", table_name="primary_ips")
    op.create_index("ip_address", "primary_ips", ["ip_address"], unique=True)
    op.drop_index("idx_primary_ips_tenant_name", table_name="primary_ips")
    for column in ("adopted", "metered_until", "location"):
        op.drop_column("primary_ips", column)
