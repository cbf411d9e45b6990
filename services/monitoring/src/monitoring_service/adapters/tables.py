"""The monitoring tables as SQLAlchemy Core sees them (the migrations create them)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

metadata = sa.MetaData()

ID = mysql.BIGINT(unsigned=True)
TIME = mysql.DATETIME(fsp=6)

server_metrics = sa.Table(
    "server_metrics",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("server_id", ID, nullable=False),
    sa.Column("cpu_usage", sa.Numeric(7, 2)),
    sa.Column("cpu_load_1min", sa.Numeric(6, 2)),
    sa.Column("cpu_load_5min", sa.Numeric(6, 2)),
    sa.Column("cpu_load_15min", sa.Numeric(6, 2)),
    sa.Column("memory_used_mb", sa.Integer),
    sa.Column("memory_available_mb", sa.Integer),
    sa.Column("memory_usage_percent", sa.Numeric(5, 2)),
    sa.Column("disk_read_iops", sa.Integer),
    sa.Column("disk_write_iops", sa.Integer),
    sa.Column("disk_read_mb", sa.Numeric(10, 2)),
    sa.Column("disk_write_mb", sa.Numeric(10, 2)),
    sa.Column("network_in_mbps", sa.Numeric(10, 2)),
    sa.Column("network_out_mbps", sa.Numeric(10, 2)),
    sa.Column("network_packets_in", sa.Integer),
    sa.Column("network_packets_out", sa.Integer),
    sa.Column("recorded_at", TIME, primary_key=True, nullable=False),
)

alert_rules = sa.Table(
    "alert_rules",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("user_id", ID, nullable=False),
    sa.Column("organization_id", ID),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("resource_type", sa.Enum("server", "volume", "load_balancer"), nullable=False),
    sa.Column("resource_id", sa.BigInteger),
    sa.Column("metric", sa.String(50), nullable=False),
    sa.Column("operator", sa.Enum("gt", "gte", "lt", "lte", "eq"), nullable=False),
    sa.Column("threshold", sa.Numeric(10, 2), nullable=False),
    sa.Column("duration_minutes", sa.Integer),
    sa.Column("enabled", sa.Boolean),
    sa.Column("notification_channels", sa.JSON),
    sa.Column("created_at", TIME, nullable=False),
    sa.Column("updated_at", TIME, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
)

alert_history = sa.Table(
    "alert_history",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    # monitoring's projection of its alert events (migration 0005): no foreign key.
    sa.Column("alert_rule_id", ID, nullable=False),
    sa.Column("resource_type", sa.Enum("server", "volume", "load_balancer"), nullable=False),
    sa.Column("resource_id", ID),
    sa.Column("status", sa.Enum("triggered", "resolved", "acknowledged"), nullable=False),
    sa.Column("value", sa.Numeric(10, 2)),
    sa.Column("message", sa.Text),
    sa.Column("triggered_at", TIME, nullable=False),
    sa.Column("resolved_at", TIME),
    sa.Column("acknowledged_at", TIME),
    sa.Column("acknowledged_by", ID),
)

uptime_monitors = sa.Table(
    "uptime_monitors",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("user_id", ID, nullable=False),
    sa.Column("organization_id", ID),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("type", sa.Enum("http", "https", "tcp", "ping"), nullable=False),
    sa.Column("target", sa.String(255), nullable=False),
    sa.Column("port", sa.Integer),
    sa.Column("interval_seconds", sa.Integer),
    sa.Column("timeout_seconds", sa.Integer),
    sa.Column("regions", sa.JSON),
    sa.Column("enabled", sa.Boolean),
    sa.Column("notification_channels", sa.JSON),
    sa.Column("created_at", TIME, nullable=False),
    sa.Column("updated_at", TIME, nullable=False),
    # Migration 0006: the version its events carry, and the checker's state.
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("status", sa.Enum("unknown", "up", "down"), nullable=False),
    sa.Column("consecutive_failures", sa.Integer, nullable=False),
    sa.Column("down_since", TIME),
    sa.Column("last_checked_at", TIME),
    sa.Column("next_check_at", TIME),
    sa.Column("certificate_expires_at", TIME),
)

uptime_check_results = sa.Table(
    "uptime_check_results",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("uptime_monitor_id", ID, nullable=False),
    sa.Column("region", sa.String(32), nullable=False),
    sa.Column("checked_at", TIME, nullable=False),
    sa.Column("success", sa.Boolean, nullable=False),
    sa.Column("latency_ms", sa.Integer),
    sa.Column("status_code", sa.Integer),
    sa.Column("error", sa.String(500)),
    sa.Column("certificate_expires_at", TIME),
)

monitored_servers = sa.Table(
    "monitored_servers",
    metadata,
    sa.Column("server_id", ID, primary_key=True, autoincrement=False),
    sa.Column("user_id", ID, nullable=False),
    sa.Column("organization_id", ID),
    sa.Column("upstream_id", ID),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("deleted_at", TIME),
    sa.Column("updated_at", TIME, nullable=False),
)

traffic_hours = sa.Table(
    "traffic_hours",
    metadata,
    sa.Column("server_id", ID, primary_key=True, autoincrement=False),
    sa.Column("hour_start", TIME, primary_key=True),
    sa.Column("user_id", ID, nullable=False),
    sa.Column("organization_id", ID),
    sa.Column("bytes_out", mysql.BIGINT(unsigned=True), nullable=False),
    sa.Column("recorded_gb", sa.Numeric(20, 6), nullable=False),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("updated_at", TIME, nullable=False),
)
