"""Data retention, the mechanism every owner shares (the seed's clean_old_metrics, split by owner):
a run takes its table's named lock on the owner's database (one replica or one operator command
at a time), does the owner's own removal, and counts the rows removed
(``retention_rows_removed_total{service, table}``); a keeper thread runs it on a schedule.

What is removed, and how (monitoring drops day partitions, identity deletes in batches), is each
owner's service layer; this module knows nothing of any table."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from prometheus_client import Counter
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine

from cpshared.db import database_lock
from cpshared.logging import get_logger

log = get_logger(__name__)

ROWS_REMOVED = Counter(
    "retention_rows_removed_total", "Rows a data retention removed, by owning service and table.", ["service", "table"]
)
RUNS_FAILED = Counter(
    "retention_runs_failed_total",
    "Retention runs that failed (tried again at the next interval).",
    ["service", "table"],
)
RUNS_SKIPPED = Counter(
    "retention_runs_skipped_total",
    "Retention runs skipped: another process held the table's lock.",
    ["service", "table"],
)


@dataclass(frozen=True)
class Retention:
    """One owner's retention of one table: ``run()`` removes what is too old now; the rows removed."""

    service: str
    table: str
    run: Callable[[], int]


def run_retention(engine: Engine, retention: Retention) -> int | None:
    """Run ``retention`` under its named lock; the rows it removed, None when another process holds the lock."""
    with database_lock(engine, f"retention_{retention.table}") as held:
        if not held:
            RUNS_SKIPPED.labels(retention.service, retention.table).inc()
            log.info("retention_skipped", service=retention.service, table=retention.table, reason="lock held")
            return None
        removed = retention.run()
    ROWS_REMOVED.labels(retention.service, retention.table).inc(removed)
    log.info("retention_run", service=retention.service, table=retention.table, rows_removed=removed)
    return removed


def _keep(engine: Engine, retentions: Sequence[Retention], interval: float, stop: threading.Event) -> None:
    while not stop.is_set():
        for retention in retentions:
            try:
                run_retention(engine, retention)
            except sa_exc.SQLAlchemyError as exc:
                RUNS_FAILED.labels(retention.service, retention.table).inc()
                log.warning("retention_failed", service=retention.service, table=retention.table, error=str(exc)[:300])
        stop.wait(interval)


def start_keeper(
    engine: Engine, retentions: Sequence[Retention], interval: float, stop: threading.Event | None = None
) -> threading.Thread:
    """A daemon thread running ``retentions`` now and every ``interval`` seconds until ``stop`` is set."""
    context = contextvars.copy_context()
    thread = threading.Thread(
        target=context.run,
        args=(_keep, engine, list(retentions), interval, stop or threading.Event()),
        name="retention",
        daemon=True,
    )
    thread.start()
    return thread
