"""Retention of server_metrics (the seed's clean_old_metrics, monitoring's part): day partitions
older than the retention are dropped whole, and the days ahead get their partitions. And of
alert_history: alerts resolved more than its retention ago are deleted in batches (a firing or
acknowledged alert stays, however old)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from monitoring_service.domain.retention import RetentionPlan
from monitoring_service.service_layer.unit_of_work import UnitOfWorkFactory


@dataclass
class RetentionReport:
    kept_from: datetime
    dropped: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    rows_removed: int = 0


def run_retention(now: datetime, keep_days: int, ahead_days: int, uow: UnitOfWorkFactory) -> RetentionReport:
    plan = RetentionPlan(now, keep_days, ahead_days)
    report = RetentionReport(kept_from=plan.cutoff)
    with uow() as work:
        existing = work.metrics.day_partitions()
        fresh = plan.to_create(existing)
        work.metrics.add_partitions(fresh)
        report.created = [p.name for p in fresh]
        for partition in plan.to_drop(existing):
            report.rows_removed += work.metrics.drop_partition(partition)
            report.dropped.append(partition.name)
        work.commit()
    return report


ALERT_BATCH = 5_000


def prune_alert_history(now: datetime, keep_days: int, uow: UnitOfWorkFactory, *, batch: int = ALERT_BATCH) -> int:
    """Delete the alerts resolved before ``now - keep_days``; how many."""
    cutoff = now - timedelta(days=keep_days)
    removed = 0
    while True:
        with uow() as work:
            deleted = work.alerts.delete_resolved_before(cutoff, batch)
            work.commit()
        removed += deleted
        if deleted < batch:
            return removed
