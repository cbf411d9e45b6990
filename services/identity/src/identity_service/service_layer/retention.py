"""Retention of the sign-in history (the seed's clean_old_metrics, identity's part):
``login_activity`` rows older than the retention are deleted, in batches of their own
transactions so a long history never holds one long transaction."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from identity_service.service_layer.unit_of_work import IdentityUnitOfWork

BATCH = 5_000


def prune_login_activity(
    now: datetime, keep_days: int, uow: Callable[[], IdentityUnitOfWork], *, batch: int = BATCH
) -> int:
    """Delete every attempt made before ``now - keep_days``; how many were deleted."""
    cutoff = now - timedelta(days=keep_days)
    removed = 0
    while True:
        with uow() as work:
            deleted = work.login_activity.delete_before(cutoff, batch)
            work.commit()
        removed += deleted
        if deleted < batch:
            return removed
