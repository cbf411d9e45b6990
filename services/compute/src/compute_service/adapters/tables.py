"""The compute tables as SQLAlchemy Core sees them (the migrations create them)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

metadata = sa.MetaData()

ID = mysql.BIGINT(unsigned=True)
TIME = mysql.DATETIME(fsp=6)

datacenters = sa.Table(
    "datacenters",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("code", sa.String(10), nullable=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("city", sa.String(100)),
    sa.Column("country", sa.String(2)),
    sa.Column("continent", sa.String(20)),
    sa.Column("latitude", sa.Numeric(10, 8)),
    sa.Column("longitude", sa.Numeric(11, 8)),
    sa.Column("status", sa.String(20)),
    sa.Column("capabilities", sa.JSON),
    sa.Column("network_zones", sa.JSON),
    sa.Column("created_at", TIME),
    sa.Column("updated_at", TIME),
)

server_types = sa.Table(
    "server_types",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("code", sa.String(50), nullable=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("category", sa.String(20)),
    sa.Column("cpu_type", sa.String(100)),
    sa.Column("cpu_cores", sa.Integer, nullable=False),
    sa.Column("memory_gb", sa.Numeric(10, 2), nullable=False),
    sa.Column("disk_gb", sa.Integer, nullable=False),
    sa.Column("disk_type", sa.String(10)),
    sa.Column("network_speed_gbps", sa.Numeric(5, 2)),
    sa.Column("gpu_model", sa.String(100)),
    sa.Column("gpu_count", sa.Integer),
    sa.Column("price_hourly", sa.Numeric(10, 6), nullable=False),
    sa.Column("price_monthly", sa.Numeric(10, 2), nullable=False),
    sa.Column("available", sa.Boolean),
    sa.Column("supported_datacenters", sa.JSON),
    sa.Column("created_at", TIME),
    sa.Column("updated_at", TIME),
    sa.Column("hetzner_id", sa.BigInteger),
    sa.Column("architecture", sa.String(10), nullable=False),
    sa.Column("upstream_datacenters", sa.JSON),
    sa.Column("synced_at", TIME),
    sa.Column("version", sa.Integer, nullable=False),
)

images = sa.Table(
    "images",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("hetzner_id", sa.BigInteger),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("description", sa.Text),
    sa.Column("type", sa.String(20)),
    sa.Column("os_flavor", sa.String(50)),
    sa.Column("os_version", sa.String(50)),
    sa.Column("architecture", sa.String(10)),
    sa.Column("size_gb", sa.Numeric(10, 2)),
    sa.Column("min_disk_size", sa.Integer),
    sa.Column("status", sa.String(20)),
    sa.Column("public", sa.Boolean),
    sa.Column("user_id", ID),
    sa.Column("rapid_deploy", sa.Boolean),
    sa.Column("created_at", TIME),
    sa.Column("deprecated_at", TIME),
    sa.Column("updated_at", TIME),
    sa.Column("organization_id", ID),
    sa.Column("labels", sa.JSON),
    sa.Column("server_id", ID),
    sa.Column("disk_size", sa.Integer),
    sa.Column("protection_delete", sa.Boolean, nullable=False),  # migration 0010
)

ssh_keys = sa.Table(
    "ssh_keys",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("user_id", ID, nullable=False),
    sa.Column("organization_id", ID),
    sa.Column("hetzner_id", sa.BigInteger),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("public_key", sa.Text, nullable=False),
    sa.Column("fingerprint", sa.String(255)),
    sa.Column("type", sa.String(20)),
    sa.Column("created_at", TIME),
    sa.Column("updated_at", TIME),
    sa.Column("labels", sa.JSON),
    sa.Column("version", sa.Integer, nullable=False),
)

servers = sa.Table(
    "servers",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("user_id", ID, nullable=False),
    sa.Column("organization_id", ID),
    sa.Column("hetzner_id", sa.BigInteger),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("hostname", sa.String(255)),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("server_type_id", ID, nullable=False),
    sa.Column("datacenter_id", ID, nullable=False),
    sa.Column("image_id", ID),
    sa.Column("ipv4_address", sa.String(45)),
    sa.Column("ipv6_address", sa.String(255)),
    sa.Column("ipv6_network", sa.String(255)),
    sa.Column("user_data", sa.Text),
    sa.Column("labels", sa.JSON),
    sa.Column("rescue_enabled", sa.Boolean),
    sa.Column("locked", sa.Boolean),
    sa.Column("backup_enabled", sa.Boolean),
    sa.Column("created_at", TIME),
    sa.Column("updated_at", TIME),
    sa.Column("deleted_at", TIME),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("protection_delete", sa.Boolean, nullable=False),
    sa.Column("protection_rebuild", sa.Boolean, nullable=False),
    # Metering and suspension (migration 0007).
    sa.Column("metered_until", TIME),
    sa.Column("suspended_at", TIME),
    sa.Column("suspension_reason", sa.String(20)),
    sa.Column("iso_mounted", sa.String(255)),
    sa.Column("root_password_hash", sa.String(255)),
    sa.Column("disk_gb", sa.Integer),
    # What the server's settings actions set (migration 0008).
    sa.Column("iso", sa.JSON),
    sa.Column("dns_ptrs", sa.JSON),
    sa.Column("backup_window", sa.String(16)),
    # The placement group it is in (migration 0010).
    sa.Column("placement_group_id", ID),
)

placement_groups = sa.Table(
    "placement_groups",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("user_id", ID, nullable=False),
    sa.Column("organization_id", ID),
    sa.Column("hetzner_id", sa.BigInteger),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("type", sa.String(20), nullable=False),
    sa.Column("labels", sa.JSON),
    sa.Column("created_at", TIME, nullable=False),
    sa.Column("updated_at", TIME, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
)

load_balancer_types = sa.Table(
    "load_balancer_types",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("code", sa.String(50), nullable=False),
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
)

server_type_periods = sa.Table(
    "server_type_periods",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("server_id", ID, nullable=False),
    sa.Column("server_type_id", ID, nullable=False),
    sa.Column("started_at", TIME, nullable=False),
    sa.Column("ended_at", TIME),
)

server_backup_periods = sa.Table(
    "server_backup_periods",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("server_id", ID, nullable=False),
    sa.Column("started_at", TIME, nullable=False),
    sa.Column("ended_at", TIME),
    sa.Column("price_percent", sa.DECIMAL(5, 2), nullable=False),
)

server_ssh_keys = sa.Table(
    "server_ssh_keys",
    metadata,
    sa.Column("server_id", ID, primary_key=True),
    sa.Column("ssh_key_id", ID, primary_key=True),
    sa.Column("added_at", TIME),
)

actions = sa.Table(
    "actions",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("command", sa.String(100), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("progress", sa.Integer, nullable=False),
    sa.Column("started", TIME, nullable=False),
    sa.Column("finished", TIME),
    sa.Column("error_code", sa.String(100)),
    sa.Column("error_message", sa.Text),
    sa.Column("resources", sa.JSON, nullable=False),
    sa.Column("user_id", ID),
    sa.Column("organization_id", ID),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("server_id", ID),
    sa.Column("upstream_action_id", sa.BigInteger),
    sa.Column("params", sa.JSON),
    sa.Column("image_id", ID),  # migration 0010: the image it is about
)


# Migration 0013: compute's projection of storage's backups (a server is rebuilt from one).
server_backups = sa.Table(
    "server_backups",
    metadata,
    sa.Column("backup_id", ID, primary_key=True, autoincrement=False),
    sa.Column("server_id", ID, nullable=False),
    sa.Column("hetzner_id", sa.BigInteger, nullable=False),
)
