"""Keeps compute's catalog (server types, images, load balancer types) synced from upstream.

The catalog is what every server creation checks against, so a compute that started while
upstream did not answer (on a fresh stack the simulator may still be starting; in production,
upstream may be down) must not stay with an empty or stale catalog until someone runs
`cloudctl compute sync-catalog`: a failed sync is tried again after ``retry_seconds``, doubling
up to ``refresh_seconds``, and a good catalog is refreshed every ``refresh_seconds``.
"""

from __future__ import annotations

import threading

from compute_service.bootstrap import Compute
from compute_service.service_layer import catalog
from cpshared.logging import get_logger

log = get_logger(__name__)


def sync_once(compute: Compute) -> bool:
    """One sync; False (logged) when upstream or the database did not let it finish."""
    try:
        catalog.sync_catalog(compute.catalog_source(), compute.uow())
    except Exception as exc:  # any failure is retried: the keeper must outlive it
        log.warning("catalog_sync_failed", error=str(getattr(exc, "message", exc)))
        return False
    return True


def keep_synced(
    compute: Compute, stop: threading.Event, *, synced: bool, retry_seconds: float, refresh_seconds: float
) -> None:
    """Until ``stop``: sync again after a refresh period (``synced``) or a retry delay (not)."""
    retry = retry_seconds
    delay = refresh_seconds if synced else retry
    while not stop.wait(delay):
        if sync_once(compute):
            retry, delay = retry_seconds, refresh_seconds
        else:
            retry = min(retry * 2, refresh_seconds)
            delay = retry


def start(compute: Compute, *, retry_seconds: float, refresh_seconds: float) -> threading.Event:
    """Sync now, then keep syncing in a daemon thread; set the answered event to stop it."""
    stop = threading.Event()
    synced = sync_once(compute)
    threading.Thread(
        target=keep_synced,
        args=(compute, stop),
        kwargs={"synced": synced, "retry_seconds": retry_seconds, "refresh_seconds": refresh_seconds},
        name="catalog-keeper",
        daemon=True,
    ).start()
    return stop
