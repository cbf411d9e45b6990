"""Retention of the sign-in history (the seed's clean_old_metrics, identity's part):
``login_activity`` rows older than the retention are deleted, in batches of their own
transactions so a long history never holds one long transaction; so are the
``sign_in_failures`` pairs whose last wait ended a day ago or more (their count would restart
anyway: :class:`identity_service.domain.model.SignInFailures`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from identity_service.service_layer.unit_of_work import IdentityUnitOfWork

BATCH = 5_000
FAILURES_KEPT = timedelta(days=1)


def prune_login_activity(
    now: datetime, keep_days: int, uow: Callable[[], IdentityUnitOfWork], *, batch: int = BATCH
) -> int:
    """Delete every attempt made before ``now - keep_days``; how many were deleted."""
    cutoff = now - timedelta(days=keep_days)
    return _in_batches(lambda work: work.login_activity.delete_before(cutoff, batch), uow, batch)


def prune_sign_in_failures(now: datetime, uow: Callable[[], IdentityUnitOfWork], *, batch: int = BATCH) -> int:
    """Forget the failure counts whose last wait ended ``FAILURES_KEPT`` ago; how many."""
    return _in_batches(lambda work: work.login_activity.delete_failures_before(now - FAILURES_KEPT, batch), uow, batch)


def _in_batches(delete: Callable[[IdentityUnitOfWork], int], uow: Callable[[], IdentityUnitOfWork], batch: int) -> int:
    removed = 0
    while True:
        with uow() as work:
            deleted = delete(work)
            work.commit()
        removed += deleted
        if deleted < batch:
            return removed
