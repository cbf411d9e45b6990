"""Monitoring: the traffic meter's hours, and the retention of alert history.

- ``traffic_hours``: per server and closed UTC hour, the outgoing bytes the meter found in
  ``server_metrics`` and the GB it has recorded for billing as ``usage.recorded`` (the sum of
  its revisions: revision 0 when the hour closed, one more for each late sample that raised the
  hour's total), with the server's owner at the time. A late sample is billed as the
  difference between the hour's new total and what was recorded, under the next revision's
  deterministic event id, so no byte is counted twice and none is lost within the late window.
- ``idx_alert_history_resolved`` on alert_history (status, resolved_at): the retention removes
  resolved alerts older than CP_ALERT_HISTORY_RETENTION_DAYS (60) in batches.

Revision ID: monitoring_0008
Revises: monitoring_0006
Create Date: 2026-12-08
"""

from alembic import op

revision = "monitoring_0008"
down_revision = "monitoring_0006"
branch_labels = None
depends_on = None

TABLE_OPTIONS = "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci"


def upgrade() -> None:
    op.execute(
        f"""
        CREATE TABLE traffic_hours (
            server_id BIGINT UNSIGNED NOT NULL,
            hour_start DATETIME(6) NOT NULL,
            user_id BIGINT UNSIGNED NOT NULL,
            organization_id BIGINT UNSIGNED,
            bytes_out BIGINT UNSIGNED NOT NULL,
            recorded_gb DECIMAL(20,6) NOT NULL,
            revision INT NOT NULL,
            updated_at DATETIME(6) NOT NULL,
            PRIMARY KEY (server_id, hour_start),
            INDEX idx_traffic_hour (hour_start)
        ) {TABLE_OPTIONS}
        """
    )
    op.execute("CREATE INDEX idx_alert_history_resolved ON alert_history (status, resolved_at)")


def downgrade() -> None:
    op.execute("DROP INDEX idx_alert_history_resolved ON alert_history")
    op.execute("DROP TABLE traffic_hours")
