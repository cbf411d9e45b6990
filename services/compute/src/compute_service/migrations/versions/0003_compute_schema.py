"""Compute schema: the seed's datacenters (with its five rows), server_types, images, servers,
ssh_keys and server_ssh_keys, plus actions shaped like Hetzner's actions.

Every column, enum, default and index of the seed, with these deliberate differences:
- TIMESTAMP columns are DATETIME(6): UTC written by the service's clock, microseconds, no
  2038 limit; the seed's CURRENT_TIMESTAMP defaults stay as a fallback for rows written by hand.
- Foreign keys to identity's users and organizations are plain id columns (another service's
  tables); those inside compute stay.
- server_types gains ``hetzner_id``, ``architecture``, ``upstream_datacenters`` (where
  upstream offers it; ``supported_datacenters`` is where the platform does, set by admins),
  ``synced_at`` and ``version`` (the aggregate version its events carry).
- images gains ``updated_at`` and an index on (type, name, architecture): system images are
  upserted by upstream name and architecture.
- ssh_keys gains ``labels``, ``version`` and ``tenant`` (a generated column, "u<user id>" or
  "o<organization id>"), which makes a key's name and fingerprint unique within its tenant.
- servers gains ``version``.

Revision ID: compute_0003
Revises: compute_0002
Create Date: 2026-11-26
"""

from decimal import Decimal

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "compute_0003"
down_revision = "compute_0002"
branch_labels = None
depends_on = None

ID = mysql.BIGINT(unsigned=True)
TIME = mysql.DATETIME(fsp=6)
NOW = sa.text("CURRENT_TIMESTAMP(6)")
NOW_ON_UPDATE = sa.text("CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6)")
TABLE = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_unicode_ci"}

# The seed's datacenters; network zones as upstream (Hetzner) names them.
DATACENTERS = (
    ("fsn1", "Falkenstein DC Park 1", "Falkenstein", "DE", "Europe", "50.47612", "12.37071", "eu-central"),
    ("nbg1", "Nuremberg DC Park 1", "Nuremberg", "DE", "Europe", "49.452102", "11.076665", "eu-central"),
    ("hel1", "Helsinki DC Park 1", "Helsinki", "FI", "Europe", "60.169855", "24.938379", "eu-central"),
    ("ash", "Ashburn, VA", "Ashburn", "US", "North America", "39.043757", "-77.487442", "us-east"),
    ("hil", "Hillsboro, OR", "Hillsboro", "US", "North America", "45.542095", "-122.949825", "us-west"),
)


def _id() -> sa.Column[int]:
    return sa.Column("id", ID, primary_key=True, autoincrement=True)


def _stamps() -> list[sa.Column[object]]:
    return [
        sa.Column("created_at", TIME, nullable=True, server_default=NOW),
        sa.Column("updated_at", TIME, nullable=True, server_default=NOW_ON_UPDATE),
    ]


def upgrade() -> None:
    datacenters = op.create_table(
        "datacenters",
        _id(),
        sa.Column("code", sa.String(10), nullable=False, unique=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("city", sa.String(100)),
        sa.Column("country", sa.String(2)),
        sa.Column("continent", sa.String(20)),
        sa.Column("latitude", sa.Numeric(10, 8)),
        sa.Column("longitude", sa.Numeric(11, 8)),
        sa.Column("status", sa.Enum("active", "maintenance", "deprecated"), server_default="active"),
        sa.Column("capabilities", sa.JSON),
        sa.Column("network_zones", sa.JSON),
        *_stamps(),
        sa.Index("idx_code", "code"),
        sa.Index("idx_status", "status"),
        **TABLE,
    )
    op.bulk_insert(
        datacenters,
        [
            {
                "code": code,
                "name": name,
                "city": city,
                "country": country,
                "continent": continent,
                "latitude": Decimal(lat),
                "longitude": Decimal(lon),
                "status": "active",
                "capabilities": ["servers", "ssh_keys"],
                "network_zones": [zone],
            }
            for code, name, city, country, continent, lat, lon, zone in DATACENTERS
        ],
    )
    op.create_table(
        "server_types",
        _id(),
        sa.Column("code", sa.String(50), nullable=False, unique=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("category", sa.Enum("standard", "dedicated", "gpu", "storage", "memory"), server_default="standard"),
        sa.Column("cpu_type", sa.String(100)),
        sa.Column("cpu_cores", sa.Integer, nullable=False),
        sa.Column("memory_gb", sa.Numeric(10, 2), nullable=False),
        sa.Column("disk_gb", sa.Integer, nullable=False),
        sa.Column("disk_type", sa.Enum("ssd", "nvme", "hdd"), server_default="ssd"),
        sa.Column("network_speed_gbps", sa.Numeric(5, 2), server_default="1"),
        sa.Column("gpu_model", sa.String(100)),
        sa.Column("gpu_count", sa.Integer, server_default="0"),
        sa.Column("price_hourly", sa.Numeric(10, 6), nullable=False),
        sa.Column("price_monthly", sa.Numeric(10, 2), nullable=False),
        sa.Column("available", sa.Boolean, server_default=sa.true()),
        sa.Column("supported_datacenters", sa.JSON),
        *_stamps(),
        sa.Column("hetzner_id", sa.BigInteger),
        sa.Column("architecture", sa.Enum("x86", "arm"), nullable=False, server_default="x86"),
        sa.Column("upstream_datacenters", sa.JSON),
        sa.Column("synced_at", TIME),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.Index("idx_code", "code"),
        sa.Index("idx_category", "category"),
        sa.Index("idx_available", "available"),
        **TABLE,
    )
    op.create_table(
        "images",
        _id(),
        sa.Column("hetzner_id", sa.BigInteger),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("type", sa.Enum("system", "snapshot", "backup", "custom"), server_default="system"),
        sa.Column("os_flavor", sa.String(50)),
        sa.Column("os_version", sa.String(50)),
        sa.Column("architecture", sa.Enum("x86", "arm"), server_default="x86"),
        sa.Column("size_gb", sa.Numeric(10, 2)),
        sa.Column("min_disk_size", sa.Integer, server_default="10"),
        sa.Column("status", sa.Enum("available", "creating", "deprecated"), server_default="available"),
        sa.Column("public", sa.Boolean, server_default=sa.false()),
        sa.Column("user_id", ID),
        sa.Column("rapid_deploy", sa.Boolean, server_default=sa.false()),
        sa.Column("created_at", TIME, nullable=True, server_default=NOW),
        sa.Column("deprecated_at", TIME, nullable=True),
        sa.Column("updated_at", TIME, nullable=True, server_default=NOW_ON_UPDATE),
        sa.Index("idx_type", "type"),
        sa.Index("idx_status", "status"),
        sa.Index("idx_user", "user_id"),
        sa.Index("idx_type_name_arch", "type", "name", "architecture"),
        **TABLE,
    )
    op.create_table(
        "servers",
        _id(),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("organization_id", ID),
        sa.Column("hetzner_id", sa.BigInteger, nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("hostname", sa.String(255)),
        sa.Column(
            "status",
            sa.Enum(
                "provisioning",
                "running",
                "stopped",
                "paused",
                "rebuilding",
                "migrating",
                "deleting",
                "deleted",
                "error",
            ),
            nullable=False,
        ),
        sa.Column("server_type_id", ID, sa.ForeignKey("server_types.id"), nullable=False),
        sa.Column("datacenter_id", ID, sa.ForeignKey("datacenters.id"), nullable=False),
        sa.Column("image_id", ID, sa.ForeignKey("images.id")),
        sa.Column("ipv4_address", sa.String(45)),
        sa.Column("ipv6_address", sa.String(255)),
        sa.Column("ipv6_network", sa.String(255)),
        sa.Column("root_password_hash", sa.String(255)),
        sa.Column("user_data", sa.Text),
        sa.Column("labels", sa.JSON),
        sa.Column("rescue_enabled", sa.Boolean, server_default=sa.false()),
        sa.Column("locked", sa.Boolean, server_default=sa.false()),
        sa.Column("backup_enabled", sa.Boolean, server_default=sa.false()),
        sa.Column("iso_mounted", sa.String(255)),
        sa.Column("cpu_usage", sa.Numeric(5, 2)),
        sa.Column("memory_usage", sa.Numeric(5, 2)),
        sa.Column("disk_usage", sa.Numeric(5, 2)),
        sa.Column("bandwidth_used_gb", sa.Numeric(15, 2), server_default="0"),
        *_stamps(),
        sa.Column("deleted_at", TIME, nullable=True),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.Index("idx_user_id", "user_id"),
        sa.Index("idx_org_id", "organization_id"),
        sa.Index("idx_hetzner_id", "hetzner_id"),
        sa.Index("idx_status", "status"),
        sa.Index("idx_datacenter", "datacenter_id"),
        sa.Index("idx_ipv4", "ipv4_address"),
        sa.Index("idx_created", "created_at"),
        **TABLE,
    )
    op.create_table(
        "ssh_keys",
        _id(),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("organization_id", ID),
        sa.Column("hetzner_id", sa.BigInteger),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("public_key", sa.Text, nullable=False),
        sa.Column("fingerprint", sa.String(255)),
        sa.Column("type", sa.String(20), server_default="ssh-rsa"),
        *_stamps(),
        sa.Column("labels", sa.JSON),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.Column(
            "tenant",
            sa.String(24),
            sa.Computed(
                "IF(organization_id IS NULL, CONCAT('u', user_id), CONCAT('o', organization_id))", persisted=True
            ),
        ),
        sa.Index("idx_user_id", "user_id"),
        sa.Index("idx_fingerprint", "fingerprint"),
        sa.UniqueConstraint("tenant", "name", name="uq_ssh_keys_tenant_name"),
        sa.UniqueConstraint("tenant", "fingerprint", name="uq_ssh_keys_tenant_fingerprint"),
        **TABLE,
    )
    op.create_table(
        "server_ssh_keys",
        sa.Column("server_id", ID, sa.ForeignKey("servers.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("ssh_key_id", ID, sa.ForeignKey("ssh_keys.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("added_at", TIME, nullable=True, server_default=NOW),
        **TABLE,
    )
    op.create_table(
        "actions",
        _id(),
        sa.Column("command", sa.String(100), nullable=False),
        sa.Column("status", sa.Enum("running", "success", "error"), nullable=False, server_default="running"),
        sa.Column("progress", sa.Integer, nullable=False, server_default="0"),
        sa.Column("started", TIME, nullable=False, server_default=NOW),
        sa.Column("finished", TIME, nullable=True),
        sa.Column("error_code", sa.String(100)),
        sa.Column("error_message", sa.Text),
        sa.Column("resources", sa.JSON, nullable=False),
        sa.Column("user_id", ID),
        sa.Column("organization_id", ID),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.Index("idx_actions_status", "status"),
        sa.Index("idx_actions_owner", "user_id", "organization_id"),
        **TABLE,
    )


def downgrade() -> None:
    for table in ("actions", "server_ssh_keys", "ssh_keys", "servers", "images", "server_types", "datacenters"):
        op.drop_table(table)
