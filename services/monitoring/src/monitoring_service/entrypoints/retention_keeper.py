"""The retention keeper: a thread of the monitoring gRPC server that runs the retention of
server_metrics at start and every CP_RETENTION_INTERVAL_SECONDS (days kept:
CP_METRICS_RETENTION_DAYS; day partitions made ahead: CP_METRICS_PARTITIONS_AHEAD_DAYS). The same
pass answers the RunRetention RPC and ``python -m monitoring_service.entrypoints.cli retention``
(``cloudctl retention run``). A failed pass is logged and tried again at the next interval."""

from __future__ import annotations

import contextvars
import threading

from prometheus_client import Counter
from sqlalchemy import exc as sa_exc

from cpshared.clock import utcnow
from cpshared.logging import get_logger
from monitoring_service.config import RetentionSettings
from monitoring_service.service_layer.retention import RetentionReport, run_retention
from monitoring_service.service_layer.unit_of_work import UnitOfWorkFactory

log = get_logger(__name__)

ROWS_REMOVED = Counter("retention_rows_removed_total", "Rows the retention removed, by table", ["table"])
PARTITIONS_DROPPED = Counter("retention_partitions_dropped_total", "Day partitions the retention dropped", ["table"])
PASSES_FAILED = Counter("retention_passes_failed_total", "Retention passes that failed", ["table"])

TABLE = "server_metrics"
_lock = threading.Lock()


def retention_pass(uow: UnitOfWorkFactory, settings: RetentionSettings) -> RetentionReport:
    """One run now (one at a time per process); counts what it removed."""
    with _lock:
        report = run_retention(utcnow(), settings.metrics_retention_days, settings.metrics_partitions_ahead_days, uow)
    ROWS_REMOVED.labels(TABLE).inc(report.rows_removed)
    PARTITIONS_DROPPED.labels(TABLE).inc(len(report.dropped))
    log.info(
        "retention_run",
        table=TABLE,
        dropped=report.dropped,
        created=len(report.created),
        rows_removed=report.rows_removed,
        kept_from=report.kept_from.isoformat(),
    )
    return report


def _keep(uow: UnitOfWorkFactory, settings: RetentionSettings, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            retention_pass(uow, settings)
        except sa_exc.SQLAlchemyError as exc:
            PASSES_FAILED.labels(TABLE).inc()
            log.warning("retention_run_failed", table=TABLE, error=str(exc)[:300])
        stop.wait(settings.retention_interval_seconds)


def start(uow: UnitOfWorkFactory, settings: RetentionSettings, stop: threading.Event | None = None) -> threading.Thread:
    context = contextvars.copy_context()
    thread = threading.Thread(
        target=context.run, args=(_keep, uow, settings, stop or threading.Event()), name="retention", daemon=True
    )
    thread.start()
    return thread
