"""Monitoring's tables of the seed schema: server_metrics, alert_rules, alert_history,
uptime_monitors; and monitored_servers, monitoring's projection of compute's servers.

Every column, enum, index and default of the seed, with the platform's conventions:
- a foreign key to another service's table (users, organizations, servers) is a plain id;
  alert_history keeps its key to alert_rules (both are monitoring's);
- times are DATETIME(6) in UTC, as in every service (the seed's TIMESTAMP);
- ``server_metrics`` is partitioned by day (RANGE COLUMNS on ``recorded_at``) so retention drops a
  day partition instead of deleting rows. MariaDB wants the partitioning column in every unique
  key, so the primary key is (id, recorded_at); ``idx_server_time`` is UNIQUE: one sample per
  server and instant, so a sample delivered twice is stored once. The table starts with one
  catch-all partition ``pmax``; the retention keeper splits day partitions off it ahead of time
  (adapters/metrics_store.py). ``recorded_at`` is NOT NULL (a partitioning column of a sample).
- ``cpu_usage`` is DECIMAL(7,2), not the seed's (5,2): upstream counts 100 % per core, so a
  server with more than nine cores exceeds 999.99.

Revision ID: monitoring_0003
Revises: monitoring_0002
Create Date: 2026-12-07
"""

from alembic import op

revision = "monitoring_0003"
down_revision = "monitoring_0002"
branch_labels = None
depends_on = None

TABLE_OPTIONS = "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci"


def upgrade() -> None:
    op.execute(
        f"""
        CREATE TABLE server_metrics (
            id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
            server_id BIGINT UNSIGNED NOT NULL,
            cpu_usage DECIMAL(7,2),
            cpu_load_1min DECIMAL(6,2),
            cpu_load_5min DECIMAL(6,2),
            cpu_load_15min DECIMAL(6,2),
            memory_used_mb INT,
            memory_available_mb INT,
            memory_usage_percent DECIMAL(5,2),
            disk_read_iops INT,
            disk_write_iops INT,
            disk_read_mb DECIMAL(10,2),
            disk_write_mb DECIMAL(10,2),
            network_in_mbps DECIMAL(10,2),
            network_out_mbps DECIMAL(10,2),
            network_packets_in INT,
            network_packets_out INT,
            recorded_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
            PRIMARY KEY (id, recorded_at),
            UNIQUE KEY idx_server_time (server_id, recorded_at),
            KEY idx_recorded_at (recorded_at)
        ) {TABLE_OPTIONS}
        PARTITION BY RANGE COLUMNS (recorded_at) (PARTITION pmax VALUES LESS THAN (MAXVALUE))
        """
    )
    op.execute(
        f"""
        CREATE TABLE alert_rules (
            id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
            user_id BIGINT UNSIGNED NOT NULL,
            organization_id BIGINT UNSIGNED,
            name VARCHAR(255) NOT NULL,
            resource_type ENUM('server', 'volume', 'load_balancer') NOT NULL,
            resource_id BIGINT,
            metric VARCHAR(50) NOT NULL,
            operator ENUM('gt', 'gte', 'lt', 'lte', 'eq') NOT NULL,
            threshold DECIMAL(10,2) NOT NULL,
            duration_minutes INT DEFAULT 5,
            enabled BOOLEAN DEFAULT TRUE,
            notification_channels JSON,
            created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
            updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
            INDEX idx_user (user_id),
            INDEX idx_resource (resource_type, resource_id),
            INDEX idx_enabled (enabled)
        ) {TABLE_OPTIONS}
        """
    )
    op.execute(
        f"""
        CREATE TABLE alert_history (
            id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
            alert_rule_id BIGINT UNSIGNED NOT NULL,
            status ENUM('triggered', 'resolved', 'acknowledged') NOT NULL,
            value DECIMAL(10,2),
            message TEXT,
            triggered_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
            resolved_at DATETIME(6) NULL,
            acknowledged_at DATETIME(6) NULL,
            acknowledged_by BIGINT UNSIGNED,
            CONSTRAINT fk_alert_history_rule FOREIGN KEY (alert_rule_id) REFERENCES alert_rules(id) ON DELETE CASCADE,
            INDEX idx_rule (alert_rule_id),
            INDEX idx_status (status),
            INDEX idx_triggered (triggered_at)
        ) {TABLE_OPTIONS}
        """
    )
    op.execute(
        f"""
        CREATE TABLE uptime_monitors (
            id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
            user_id BIGINT UNSIGNED NOT NULL,
            organization_id BIGINT UNSIGNED,
            name VARCHAR(255) NOT NULL,
            type ENUM('http', 'https', 'tcp', 'ping') NOT NULL,
            target VARCHAR(255) NOT NULL,
            port INT,
            interval_seconds INT DEFAULT 60,
            timeout_seconds INT DEFAULT 30,
            regions JSON,
            enabled BOOLEAN DEFAULT TRUE,
            notification_channels JSON,
            created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
            updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
            INDEX idx_user (user_id),
            INDEX idx_enabled (enabled),
            INDEX idx_type (type)
        ) {TABLE_OPTIONS}
        """
    )
    # What monitoring knows of compute's servers, from compute.events: whose each is, its id
    # upstream and whether it runs (the collector reads the running ones' metrics).
    op.execute(
        f"""
        CREATE TABLE monitored_servers (
            server_id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
            user_id BIGINT UNSIGNED NOT NULL,
            organization_id BIGINT UNSIGNED,
            upstream_id BIGINT UNSIGNED,
            status VARCHAR(20) NOT NULL,
            deleted_at DATETIME(6) NULL,
            updated_at DATETIME(6) NOT NULL,
            INDEX idx_monitored_status (status, deleted_at)
        ) {TABLE_OPTIONS}
        """
    )


def downgrade() -> None:
    for table in ("monitored_servers", "uptime_monitors", "alert_history", "alert_rules", "server_metrics"):
        op.execute(f"DROP TABLE {table}")
