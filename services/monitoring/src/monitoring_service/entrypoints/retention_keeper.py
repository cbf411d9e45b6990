"""Monitoring's retention of server_metrics and alert_history, run by the shared keeper (``cpshared.retention``) in
a thread of the monitoring gRPC server, at start and every CP_RETENTION_INTERVAL_SECONDS (days
kept: CP_METRICS_RETENTION_DAYS; day partitions made ahead: CP_METRICS_PARTITIONS_AHEAD_DAYS;
resolved alerts kept: CP_ALERT_HISTORY_RETENTION_DAYS).
The same pass answers the RunRetention RPC and ``python -m monitoring_service.entrypoints.cli
retention`` (``cloudctl retention run``)."""

from __future__ import annotations

import threading

from prometheus_client import Counter

from cpshared.clock import utcnow
from cpshared.logging import get_logger
from cpshared.retention import Retention, run_retention, start_keeper
from monitoring_service import SERVICE_NAME
from monitoring_service.bootstrap import Monitoring
from monitoring_service.config import RetentionSettings
from monitoring_service.service_layer.retention import RetentionReport, prune_alert_history
from monitoring_service.service_layer.retention import run_retention as drop_old_partitions

log = get_logger(__name__)

TABLE = "server_metrics"
ALERT_TABLE = "alert_history"
PARTITIONS_DROPPED = Counter(
    "monitoring_retention_partitions_dropped_total", "Day partitions of server_metrics dropped"
)


def retention(
    monitoring: Monitoring, settings: RetentionSettings, reports: list[RetentionReport] | None = None
) -> Retention:
    """server_metrics' retention; each run's report is appended to ``reports`` when given."""

    def run() -> int:
        report = drop_old_partitions(
            utcnow(), settings.metrics_retention_days, settings.metrics_partitions_ahead_days, monitoring.uow
        )
        PARTITIONS_DROPPED.inc(len(report.dropped))
        log.info("partitions", dropped=report.dropped, created=len(report.created), kept_from=str(report.kept_from))
        if reports is not None:
            reports.append(report)
        return report.rows_removed

    return Retention(SERVICE_NAME, TABLE, run)


def alert_history_retention(monitoring: Monitoring, settings: RetentionSettings) -> Retention:
    """alert_history's retention: alerts resolved more than CP_ALERT_HISTORY_RETENTION_DAYS ago."""

    def run() -> int:
        return prune_alert_history(utcnow(), settings.alert_history_retention_days, monitoring.uow)

    return Retention(SERVICE_NAME, ALERT_TABLE, run)


def retention_pass(monitoring: Monitoring, settings: RetentionSettings) -> RetentionReport | None:
    """One run now; its report, None when another process is running it."""
    reports: list[RetentionReport] = []
    if run_retention(monitoring.engine, retention(monitoring, settings, reports)) is None:
        return None
    return reports[-1]


def start(monitoring: Monitoring, settings: RetentionSettings, stop: threading.Event | None = None) -> threading.Thread:
    return start_keeper(
        monitoring.engine,
        [retention(monitoring, settings), alert_history_retention(monitoring, settings)],
        settings.retention_interval_seconds,
        stop,
    )
