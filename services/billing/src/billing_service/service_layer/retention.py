"""Retention of billed usage (the seed's clean_old_metrics, billing's part): a usage record billed
on an invoice whose period ended more than ``keep_days`` ago is deleted, in batches of their own
transactions, and noted in ``usage_records_removed`` (its event id and invoice), so that the
projection never ingests its event again (a replay, reconciliation) and reconciliation knows the
invoices whose usage is gone (it compares their own figures only). Unbilled usage, and usage of
an invoiced period younger than the retention, is never removed: the invoice run and late-usage
adjustments only ever read those."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta

from billing_service.service_layer.ports import AbstractUnitOfWork

BATCH = 5_000


def cutoff_day(now: datetime, keep_days: int) -> date:
    """Invoiced periods that ended (their last day) before this day have their usage removed."""
    return (now - timedelta(days=keep_days)).date()


def prune_billed_usage(
    now: datetime, keep_days: int, uow: Callable[[], AbstractUnitOfWork], *, batch: int = BATCH
) -> int:
    """Delete the usage billed on invoices of periods that ended before ``now - keep_days``; how many."""
    before = cutoff_day(now, keep_days)
    removed = 0
    while True:
        with uow() as work:
            deleted = work.usage.remove_billed(before, batch, now)
            work.commit()
        removed += deleted
        if deleted < batch:
            return removed
