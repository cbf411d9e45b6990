"""Load balancers and certificates: what Hetzner's load balancer has beyond the seed's
load_balancers table, its services, targets and health, and uploaded certificates.

- load_balancers keeps every seed column (``type`` is the catalog's code lb11/lb21/lb31,
  ``datacenter_id`` compute's location id, ``public_ip`` its IPv4 address once upstream made it,
  ``status`` provisioning/running/error); ``hetzner_id`` becomes nullable (it exists before
  network's worker made it upstream); it gains ``location`` and ``network_zone`` (codes),
  ``ipv6``, ``public_enabled``, ``dns_ptrs`` (JSON, ip → hostname), ``networks`` (JSON: the
  private networks it is attached to with its address in each), ``protection_delete``,
  ``blocked``, ``locked``, ``synced`` (false while upstream may not hold every server its label
  selectors match), ``version`` and ``metered_until`` (metering's cursor), and an index on
  (user_id, organization_id, name);
- load_balancer_services: one row per listen port (protocol, ports, proxy protocol, health check
  and HTTP settings as JSON, the certificates of an https service);
- load_balancer_targets: server, label_selector or ip targets in list order;
- load_balancer_health: the health upstream last reported, per (server or ip, listen port);
- certificates: uploaded PEM certificates (the chain and its key), what was read from them
  (names, validity, SHA-256 fingerprint), labels.

Revision ID: network_0006
Revises: network_0005
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "network_0006"
down_revision = "network_0005"
branch_labels = None
depends_on = None

ID = mysql.BIGINT(unsigned=True)
TIME = mysql.DATETIME(fsp=6)
TABLE = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_unicode_ci"}


def upgrade() -> None:
    op.alter_column("load_balancers", "hetzner_id", existing_type=sa.BigInteger, nullable=True)
    op.add_column("load_balancers", sa.Column("location", sa.String(20), nullable=False, server_default=""))
    op.add_column("load_balancers", sa.Column("network_zone", sa.String(50), nullable=False, server_default=""))
    op.add_column("load_balancers", sa.Column("ipv6", sa.String(45)))
    op.add_column("load_balancers", sa.Column("public_enabled", sa.Boolean, nullable=False, server_default=sa.true()))
    op.add_column("load_balancers", sa.Column("dns_ptrs", sa.JSON))
    op.add_column("load_balancers", sa.Column("networks", sa.JSON))
    op.add_column(
        "load_balancers", sa.Column("protection_delete", sa.Boolean, nullable=False, server_default=sa.false())
    )
    op.add_column("load_balancers", sa.Column("blocked", sa.Boolean, nullable=False, server_default=sa.false()))
    op.add_column("load_balancers", sa.Column("locked", sa.Boolean, nullable=False, server_default=sa.false()))
    op.add_column("load_balancers", sa.Column("synced", sa.Boolean, nullable=False, server_default=sa.true()))
    op.add_column("load_balancers", sa.Column("version", sa.Integer, nullable=False, server_default="1"))
    op.add_column("load_balancers", sa.Column("metered_until", TIME, nullable=True))
    op.create_index("idx_tenant_name", "load_balancers", ["user_id", "organization_id", "name"])
    op.create_table(
        "load_balancer_services",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("load_balancer_id", ID, sa.ForeignKey("load_balancers.id", ondelete="CASCADE"), nullable=False),
        sa.Column("listen_port", sa.Integer, nullable=False),
        sa.Column("protocol", sa.Enum("tcp", "http", "https"), nullable=False),
        sa.Column("destination_port", sa.Integer, nullable=False),
        sa.Column("proxyprotocol", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("health_check", sa.JSON, nullable=False),
        sa.Column("http", sa.JSON),
        sa.UniqueConstraint("load_balancer_id", "listen_port", name="unique_listen_port"),
        **TABLE,
    )
    op.create_table(
        "load_balancer_targets",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("load_balancer_id", ID, sa.ForeignKey("load_balancers.id", ondelete="CASCADE"), nullable=False),
        sa.Column("type", sa.Enum("server", "label_selector", "ip"), nullable=False),
        sa.Column("server_id", ID),
        sa.Column("label_selector", sa.String(1000)),
        sa.Column("ip", sa.String(45)),
        sa.Column("use_private_ip", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("position", sa.Integer, nullable=False, server_default="0"),
        sa.Index("idx_load_balancer", "load_balancer_id"),
        sa.Index("idx_server", "server_id"),
        **TABLE,
    )
    op.create_table(
        "load_balancer_health",
        sa.Column(
            "load_balancer_id",
            ID,
            sa.ForeignKey("load_balancers.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("target", sa.String(64), primary_key=True, comment="server:<platform id> or ip:<address>"),
        sa.Column("listen_port", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("status", sa.Enum("healthy", "unhealthy", "unknown"), nullable=False),
        sa.Column("checked_at", TIME, nullable=False),
        **TABLE,
    )
    op.create_table(
        "certificates",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("organization_id", ID),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("type", sa.Enum("uploaded", "managed"), nullable=False, server_default="uploaded"),
        sa.Column("certificate", sa.Text, nullable=False),
        sa.Column("private_key", sa.Text, nullable=False),
        sa.Column("domain_names", sa.JSON, nullable=False),
        sa.Column("fingerprint", sa.String(95), nullable=False),
        sa.Column("not_valid_before", TIME, nullable=False),
        sa.Column("not_valid_after", TIME, nullable=False),
        sa.Column("labels", sa.JSON),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=True),
        sa.Column("deleted_at", TIME, nullable=True),
        sa.Index("idx_user", "user_id"),
        sa.Index("idx_tenant_name", "user_id", "organization_id", "name"),
        **TABLE,
    )


def downgrade() -> None:
    for table in ("certificates", "load_balancer_health", "load_balancer_targets", "load_balancer_services"):
        op.drop_table(table)
    op.drop_index("idx_tenant_name", table_name="load_balancers")
    for column in (
        "metered_until",
        "version",
        "synced",
        "locked",
        "blocked",
        "protection_delete",
        "networks",
        "dns_ptrs",
        "public_enabled",
        "ipv6",
        "network_zone",
        "location",
    ):
        op.drop_column("load_balancers", column)
    op.alter_column("load_balancers", "hetzner_id", existing_type=sa.BigInteger, nullable=False)
