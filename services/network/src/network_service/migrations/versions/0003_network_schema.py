"""Network schema: the seed's floating_ips, networks, server_networks, firewalls, firewall_rules,
server_firewalls and load_balancers, plus primary_ips and actions shaped like Hetzner's actions.

Every column, enum, default and index of the seed, with these deliberate differences:
- TIMESTAMP columns are DATETIME(6): UTC written by the service's clock, microseconds, no 2038
  limit; the seed's CURRENT_TIMESTAMP defaults stay as a fallback for rows written by hand.
- Foreign keys to other services' tables (identity's users and organizations, compute's servers
  and datacenters) are plain id columns, kept consistent through events and gRPC; those inside
  network (networks, firewalls) stay.
- floating_ips.hetzner_id and ip_address are nullable: a floating IP exists (creating) before
  network's worker has made it upstream, which chooses its address; ip_address stays UNIQUE.
- floating_ips gains what Hetzner's floating IP has beyond the seed: ``name``, ``description``,
  ``home_location`` (the location code of ``datacenter_id``), ``network_zone``, ``dns_ptrs``
  (every reverse DNS entry; ``ptr_record`` keeps the one of ``ip_address`` itself),
  ``protection_delete``, ``blocked``, ``locked``, ``status``, ``version`` (the aggregate
  version its events carry) and ``metered_until`` (metering's cursor: the hours before it are
  recorded), and an index on (user_id, organization_id, name).
- primary_ips (Hetzner's, not in the seed) has the shape of floating_ips plus ``assignee_type``,
  ``auto_delete`` and the datacenter it lives in.
- actions: Hetzner's actions of network's resources; ids start at 10^12, apart from compute's,
  so that one action id names one action of the platform.

Revision ID: network_0003
Revises: network_0002
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "network_0003"
down_revision = "network_0002"
branch_labels = None
depends_on = None

ID = mysql.BIGINT(unsigned=True)
TIME = mysql.DATETIME(fsp=6)
NOW = sa.text("CURRENT_TIMESTAMP(6)")
NOW_ON_UPDATE = sa.text("CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6)")
TABLE = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_unicode_ci"}
FIRST_ACTION_ID = 10**12


def _id() -> sa.Column[int]:
    return sa.Column("id", ID, primary_key=True, autoincrement=True)


def _created() -> sa.Column[object]:
    return sa.Column("created_at", TIME, nullable=True, server_default=NOW)


def _updated() -> sa.Column[object]:
    return sa.Column("updated_at", TIME, nullable=True, server_default=NOW_ON_UPDATE)


def upgrade() -> None:
    op.create_table(
        "floating_ips",
        _id(),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("organization_id", ID),
        sa.Column("hetzner_id", sa.BigInteger),
        sa.Column("ip_address", sa.String(45), unique=True),
        sa.Column("ptr_record", sa.String(255)),
        sa.Column("datacenter_id", ID, nullable=False),
        sa.Column("server_id", ID),
        sa.Column("type", sa.Enum("ipv4", "ipv6"), server_default="ipv4"),
        sa.Column("labels", sa.JSON),
        _created(),
        _updated(),
        sa.Column("deleted_at", TIME, nullable=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("home_location", sa.String(20), nullable=False),
        sa.Column("network_zone", sa.String(50), nullable=False),
        sa.Column("dns_ptrs", sa.JSON),
        sa.Column("protection_delete", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("blocked", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("locked", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("status", sa.Enum("creating", "ready", "error"), nullable=False, server_default="creating"),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.Column("metered_until", TIME, nullable=True),
        sa.Index("idx_user", "user_id"),
        sa.Index("idx_ip", "ip_address"),
        sa.Index("idx_server", "server_id"),
        sa.Index("idx_tenant_name", "user_id", "organization_id", "name"),
        **TABLE,
    )
    op.create_table(
        "networks",
        _id(),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("organization_id", ID),
        sa.Column("hetzner_id", sa.BigInteger, nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("ip_range", sa.String(50), nullable=False),
        sa.Column("subnets", sa.JSON),
        sa.Column("routes", sa.JSON),
        sa.Column("labels", sa.JSON),
        _created(),
        _updated(),
        sa.Column("deleted_at", TIME, nullable=True),
        sa.Index("idx_user", "user_id"),
        sa.Index("idx_hetzner_id", "hetzner_id"),
        **TABLE,
    )
    op.create_table(
        "server_networks",
        _id(),
        sa.Column("server_id", ID, nullable=False),
        sa.Column("network_id", ID, sa.ForeignKey("networks.id", ondelete="CASCADE"), nullable=False),
        sa.Column("private_ip", sa.String(45)),
        sa.Column("alias_ips", sa.JSON),
        sa.Column("mac_address", sa.String(17)),
        sa.Column("attached_at", TIME, nullable=True, server_default=NOW),
        sa.UniqueConstraint("server_id", "network_id", name="unique_server_network"),
        sa.Index("idx_network", "network_id"),
        **TABLE,
    )
    op.create_table(
        "firewalls",
        _id(),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("organization_id", ID),
        sa.Column("hetzner_id", sa.BigInteger, nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("labels", sa.JSON),
        _created(),
        _updated(),
        sa.Index("idx_user", "user_id"),
        sa.Index("idx_hetzner_id", "hetzner_id"),
        **TABLE,
    )
    op.create_table(
        "firewall_rules",
        _id(),
        sa.Column("firewall_id", ID, sa.ForeignKey("firewalls.id", ondelete="CASCADE"), nullable=False),
        sa.Column("direction", sa.Enum("in", "out"), nullable=False),
        sa.Column("protocol", sa.Enum("tcp", "udp", "icmp", "esp", "gre"), nullable=False),
        sa.Column("source_ips", sa.JSON),
        sa.Column("destination_ips", sa.JSON),
        sa.Column("port", sa.String(20)),
        sa.Column("description", sa.Text),
        sa.Column("priority", sa.Integer, server_default="0"),
        _created(),
        sa.Index("idx_firewall", "firewall_id"),
        sa.Index("idx_direction", "direction"),
        **TABLE,
    )
    op.create_table(
        "server_firewalls",
        sa.Column("server_id", ID, primary_key=True),
        sa.Column("firewall_id", ID, sa.ForeignKey("firewalls.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("attached_at", TIME, nullable=True, server_default=NOW),
        **TABLE,
    )
    op.create_table(
        "load_balancers",
        _id(),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("organization_id", ID),
        sa.Column("hetzner_id", sa.BigInteger, nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("type", sa.String(50), nullable=False),
        sa.Column("datacenter_id", ID, nullable=False),
        sa.Column("public_ip", sa.String(45)),
        sa.Column("algorithm", sa.Enum("round_robin", "least_connections"), server_default="round_robin"),
        sa.Column("status", sa.Enum("running", "provisioning", "error"), server_default="provisioning"),
        sa.Column("labels", sa.JSON),
        _created(),
        _updated(),
        sa.Column("deleted_at", TIME, nullable=True),
        sa.Index("idx_user", "user_id"),
        sa.Index("idx_hetzner_id", "hetzner_id"),
        sa.Index("idx_status", "status"),
        **TABLE,
    )
    op.create_table(
        "primary_ips",
        _id(),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("organization_id", ID),
        sa.Column("hetzner_id", sa.BigInteger),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("ip_address", sa.String(45), unique=True),
        sa.Column("type", sa.Enum("ipv4", "ipv6"), server_default="ipv4"),
        sa.Column("datacenter_id", ID, nullable=False),
        sa.Column("assignee_type", sa.String(20), nullable=False, server_default="server"),
        sa.Column("assignee_id", ID),
        sa.Column("auto_delete", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("dns_ptrs", sa.JSON),
        sa.Column("protection_delete", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("blocked", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("locked", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("labels", sa.JSON),
        sa.Column("status", sa.Enum("creating", "ready", "error"), nullable=False, server_default="creating"),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        _created(),
        _updated(),
        sa.Column("deleted_at", TIME, nullable=True),
        sa.Index("idx_user", "user_id"),
        sa.Index("idx_assignee", "assignee_id"),
        **TABLE,
    )
    op.create_table(
        "actions",
        _id(),
        sa.Column("command", sa.String(100), nullable=False),
        sa.Column("status", sa.Enum("running", "success", "error"), nullable=False),
        sa.Column("progress", sa.Integer, nullable=False, server_default="0"),
        sa.Column("started", TIME, nullable=False),
        sa.Column("finished", TIME),
        sa.Column("error_code", sa.String(100)),
        sa.Column("error_message", sa.Text),
        sa.Column("resource_type", sa.String(50), nullable=False),
        sa.Column("resource_id", ID, nullable=False),
        sa.Column("resources", sa.JSON, nullable=False),
        sa.Column("params", sa.JSON),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("organization_id", ID),
        sa.Column("upstream_action_id", sa.BigInteger),
        sa.Index("idx_resource", "resource_type", "resource_id"),
        sa.Index("idx_status", "status"),
        sa.Index("idx_tenant", "user_id", "organization_id"),
        mysql_auto_increment=str(FIRST_ACTION_ID),
        **TABLE,
    )


def downgrade() -> None:
    for table in (
        "actions",
        "primary_ips",
        "load_balancers",
        "server_firewalls",
        "firewall_rules",
        "firewalls",
        "server_networks",
        "networks",
        "floating_ips",
    ):
        op.drop_table(table)
