"""The compute worker's metering thread: every CP_METERING_INTERVAL seconds it records the
server hours that have ended (service_layer/metering.py) until none is left, and starts the
stop (or delete) of suspended servers that were busy when their account was suspended
(service_layer/suspension.py).

A database error ends the pass, not the thread: the pass's transaction rolled back, the
cursors did not move, and the next pass records the same hours (same event ids) again.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable

from prometheus_client import Counter
from sqlalchemy import exc as sa_exc

from compute_service.service_layer.metering import Meter
from cpshared.logging import get_logger

log = get_logger(__name__)

HOURS_METERED = Counter("compute_metering_hours_total", "Server hours recorded as usage.recorded events")
HOURS_DUPLICATE = Counter(
    "compute_metering_duplicate_hours_total", "Server hours found recorded already (nothing added)"
)
PASSES_FAILED = Counter("compute_metering_passes_failed_total", "Metering passes ended by a database error")
SUSPENSIONS_ENFORCED = Counter(
    "compute_suspension_actions_started_total", "Stop or delete actions the sweep started for suspended servers"
)


def metering_pass(meter: Meter, stop: threading.Event) -> bool:
    """Record every hour due now; False when a database error ended the pass early."""
    try:
        done = meter.run(stop.is_set)
    except (sa_exc.OperationalError, sa_exc.InterfaceError) as exc:
        PASSES_FAILED.inc()
        log.warning("metering_pass_failed", error=str(exc)[:300])
        return False
    HOURS_METERED.inc(done.hours)
    HOURS_DUPLICATE.inc(done.duplicates)
    if done.hours or done.duplicates:
        log.info("metering_pass", servers=done.servers, hours=done.hours, duplicates=done.duplicates)
    return True


def enforcement_pass(enforce: Callable[[], int]) -> None:
    try:
        SUSPENSIONS_ENFORCED.inc(enforce())
    except (sa_exc.OperationalError, sa_exc.InterfaceError) as exc:
        log.warning("suspension_sweep_failed", error=str(exc)[:300])


def run_metering(
    meter: Meter,
    interval: float,
    stop: threading.Event,
    after_pass: Callable[[], None] = lambda: None,
    enforce: Callable[[], int] | None = None,
) -> None:
    """Passes every ``interval`` seconds until ``stop`` is set (a failed pass is retried sooner)."""
    while not stop.is_set():
        succeeded = metering_pass(meter, stop)
        if enforce is not None:
            enforcement_pass(enforce)
        after_pass()
        stop.wait(interval if succeeded else min(interval, 5.0))


def start_metering(
    meter: Meter, interval: float, stop: threading.Event, enforce: Callable[[], int] | None = None
) -> threading.Thread:
    # The thread runs in a copy of the caller's context: its log lines carry the process's fields.
    context = contextvars.copy_context()
    thread = threading.Thread(
        target=context.run,
        args=(run_metering, meter, interval, stop),
        kwargs={"enforce": enforce},
        name="metering",
        daemon=True,
    )
    thread.start()
    return thread
