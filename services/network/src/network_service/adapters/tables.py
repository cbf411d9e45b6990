"""The network tables as SQLAlchemy Core sees them (the migrations create them)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

metadata = sa.MetaData()

ID = mysql.BIGINT(unsigned=True)
TIME = mysql.DATETIME(fsp=6)

floating_ips = sa.Table(
    "floating_ips",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("user_id", ID, nullable=False),
    sa.Column("organization_id", ID),
    sa.Column("hetzner_id", sa.BigInteger),
    sa.Column("ip_address", sa.String(45)),
    sa.Column("ptr_record", sa.String(255)),
    sa.Column("datacenter_id", ID, nullable=False),
    sa.Column("server_id", ID),
    sa.Column("type", sa.String(4)),
    sa.Column("labels", sa.JSON),
    sa.Column("created_at", TIME),
    sa.Column("updated_at", TIME),
    sa.Column("deleted_at", TIME),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("description", sa.Text),
    sa.Column("home_location", sa.String(20), nullable=False),
    sa.Column("network_zone", sa.String(50), nullable=False),
    sa.Column("dns_ptrs", sa.JSON),
    sa.Column("protection_delete", sa.Boolean, nullable=False),
    sa.Column("blocked", sa.Boolean, nullable=False),
    sa.Column("locked", sa.Boolean, nullable=False),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("metered_until", TIME),
)

actions = sa.Table(
    "actions",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("command", sa.String(100), nullable=False),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("progress", sa.Integer, nullable=False),
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
)

networks = sa.Table(
    "networks",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("user_id", ID, nullable=False),
    sa.Column("organization_id", ID),
    sa.Column("hetzner_id", sa.BigInteger),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("ip_range", sa.String(50), nullable=False),
    sa.Column("subnets", sa.JSON),
    sa.Column("routes", sa.JSON),
    sa.Column("labels", sa.JSON),
    sa.Column("created_at", TIME),
    sa.Column("updated_at", TIME),
    sa.Column("deleted_at", TIME),
    sa.Column("expose_routes_to_vswitch", sa.Boolean, nullable=False),
    sa.Column("protection_delete", sa.Boolean, nullable=False),
    sa.Column("blocked", sa.Boolean, nullable=False),
    sa.Column("locked", sa.Boolean, nullable=False),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
)

server_networks = sa.Table(
    "server_networks",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("server_id", ID, nullable=False),
    sa.Column("network_id", ID, nullable=False),
    sa.Column("private_ip", sa.String(45)),
    sa.Column("alias_ips", sa.JSON),
    sa.Column("mac_address", sa.String(17)),
    sa.Column("attached_at", TIME),
)

firewalls = sa.Table(
    "firewalls",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("user_id", ID, nullable=False),
    sa.Column("organization_id", ID),
    sa.Column("hetzner_id", sa.BigInteger),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("labels", sa.JSON),
    sa.Column("created_at", TIME),
    sa.Column("updated_at", TIME),
    sa.Column("selectors", sa.JSON),
    sa.Column("blocked", sa.Boolean, nullable=False),
    sa.Column("locked", sa.Boolean, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("deleted_at", TIME),
    sa.Column("synced", sa.Boolean, nullable=False),
)

firewall_rules = sa.Table(
    "firewall_rules",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("firewall_id", ID, nullable=False),
    sa.Column("direction", sa.String(3), nullable=False),
    sa.Column("protocol", sa.String(4), nullable=False),
    sa.Column("source_ips", sa.JSON),
    sa.Column("destination_ips", sa.JSON),
    sa.Column("port", sa.String(20)),
    sa.Column("description", sa.Text),
    sa.Column("priority", sa.Integer),
    sa.Column("created_at", TIME),
)

server_firewalls = sa.Table(
    "server_firewalls",
    metadata,
    sa.Column("server_id", ID, primary_key=True),
    sa.Column("firewall_id", ID, primary_key=True),
    sa.Column("attached_at", TIME),
)

server_labels = sa.Table(
    "server_labels",
    metadata,
    sa.Column("server_id", ID, primary_key=True, autoincrement=False),
    sa.Column("user_id", ID, nullable=False),
    sa.Column("organization_id", ID),
    sa.Column("labels", sa.JSON),
    sa.Column("updated_at", TIME, nullable=False),
)

primary_ips = sa.Table(
    "primary_ips",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("user_id", ID, nullable=False),
    sa.Column("organization_id", ID),
    sa.Column("hetzner_id", sa.BigInteger),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("ip_address", sa.String(45)),
    sa.Column("type", sa.String(4)),
    sa.Column("datacenter_id", ID, nullable=False),
    sa.Column("location", sa.String(20), nullable=False),
    sa.Column("assignee_type", sa.String(20), nullable=False),
    sa.Column("assignee_id", ID),
    sa.Column("auto_delete", sa.Boolean, nullable=False),
    sa.Column("dns_ptrs", sa.JSON),
    sa.Column("protection_delete", sa.Boolean, nullable=False),
    sa.Column("blocked", sa.Boolean, nullable=False),
    sa.Column("locked", sa.Boolean, nullable=False),
    sa.Column("labels", sa.JSON),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("adopted", sa.Boolean, nullable=False),
    sa.Column("created_at", TIME),
    sa.Column("updated_at", TIME),
    sa.Column("deleted_at", TIME),
    sa.Column("metered_until", TIME),
)


load_balancers = sa.Table(
    "load_balancers",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("user_id", ID, nullable=False),
    sa.Column("organization_id", ID),
    sa.Column("hetzner_id", sa.BigInteger),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("type", sa.String(50), nullable=False),
    sa.Column("datacenter_id", ID, nullable=False),
    sa.Column("public_ip", sa.String(45)),
    sa.Column("algorithm", sa.String(20)),
    sa.Column("status", sa.String(20)),
    sa.Column("labels", sa.JSON),
    sa.Column("created_at", TIME),
    sa.Column("updated_at", TIME),
    sa.Column("deleted_at", TIME),
    sa.Column("location", sa.String(20), nullable=False),
    sa.Column("network_zone", sa.String(50), nullable=False),
    sa.Column("ipv6", sa.String(45)),
    sa.Column("public_enabled", sa.Boolean, nullable=False),
    sa.Column("dns_ptrs", sa.JSON),
    sa.Column("networks", sa.JSON),
    sa.Column("protection_delete", sa.Boolean, nullable=False),
    sa.Column("blocked", sa.Boolean, nullable=False),
    sa.Column("locked", sa.Boolean, nullable=False),
    sa.Column("synced", sa.Boolean, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("metered_until", TIME),
)

load_balancer_services = sa.Table(
    "load_balancer_services",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("load_balancer_id", ID, nullable=False),
    sa.Column("listen_port", sa.Integer, nullable=False),
    sa.Column("protocol", sa.String(5), nullable=False),
    sa.Column("destination_port", sa.Integer, nullable=False),
    sa.Column("proxyprotocol", sa.Boolean, nullable=False),
    sa.Column("health_check", sa.JSON, nullable=False),
    sa.Column("http", sa.JSON),
)

load_balancer_targets = sa.Table(
    "load_balancer_targets",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("load_balancer_id", ID, nullable=False),
    sa.Column("type", sa.String(20), nullable=False),
    sa.Column("server_id", ID),
    sa.Column("label_selector", sa.String(1000)),
    sa.Column("ip", sa.String(45)),
    sa.Column("use_private_ip", sa.Boolean, nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
)

load_balancer_health = sa.Table(
    "load_balancer_health",
    metadata,
    sa.Column("load_balancer_id", ID, primary_key=True),
    sa.Column("target", sa.String(64), primary_key=True),
    sa.Column("listen_port", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("checked_at", TIME, nullable=False),
)

certificates = sa.Table(
    "certificates",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("user_id", ID, nullable=False),
    sa.Column("organization_id", ID),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("type", sa.String(10), nullable=False),
    sa.Column("certificate", sa.Text, nullable=False),
    sa.Column("private_key", sa.Text, nullable=False),
    sa.Column("domain_names", sa.JSON, nullable=False),
    sa.Column("fingerprint", sa.String(95), nullable=False),
    sa.Column("not_valid_before", TIME, nullable=False),
    sa.Column("not_valid_after", TIME, nullable=False),
    sa.Column("labels", sa.JSON),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("created_at", TIME, nullable=False),
    sa.Column("updated_at", TIME),
    sa.Column("deleted_at", TIME),
)
