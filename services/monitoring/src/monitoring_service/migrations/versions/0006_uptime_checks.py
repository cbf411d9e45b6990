"""Uptime monitors come alive: the monitor's version (its events carry it) and check state
(status, failures in a row, since when it is down, when it is next due, the certificate's expiry
of an https target), and uptime_check_results, one row per check with its latency.

Revision ID: monitoring_0006
Revises: monitoring_0005
Create Date: 2026-12-08
"""

from alembic import op

revision = "monitoring_0006"
down_revision = "monitoring_0005"
branch_labels = None
depends_on = None

TABLE_OPTIONS = "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci"


def upgrade() -> None:
    op.execute(
        "ALTER TABLE uptime_monitors "
        "ADD COLUMN version INT NOT NULL DEFAULT 1, "
        "ADD COLUMN status ENUM('unknown', 'up', 'down') NOT NULL DEFAULT 'unknown', "
        "ADD COLUMN consecutive_failures INT NOT NULL DEFAULT 0, "
        "ADD COLUMN down_since DATETIME(6) NULL, "
        "ADD COLUMN last_checked_at DATETIME(6) NULL, "
        "ADD COLUMN next_check_at DATETIME(6) NULL, "
        "ADD COLUMN certificate_expires_at DATETIME(6) NULL, "
        "ADD INDEX idx_due (enabled, next_check_at)"
    )
    op.execute(
        f"""
        CREATE TABLE uptime_check_results (
            id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
            uptime_monitor_id BIGINT UNSIGNED NOT NULL,
            region VARCHAR(32) NOT NULL,
            checked_at DATETIME(6) NOT NULL,
            success BOOLEAN NOT NULL,
            latency_ms INT,
            status_code INT,
            error VARCHAR(500),
            certificate_expires_at DATETIME(6) NULL,
            INDEX idx_monitor_time (uptime_monitor_id, checked_at)
        ) {TABLE_OPTIONS}
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE uptime_check_results")
    op.execute(
        "ALTER TABLE uptime_monitors DROP INDEX idx_due, DROP COLUMN certificate_expires_at, "
        "DROP COLUMN next_check_at, DROP COLUMN last_checked_at, DROP COLUMN down_since, "
        "DROP COLUMN consecutive_failures, DROP COLUMN status, DROP COLUMN version"
    )
