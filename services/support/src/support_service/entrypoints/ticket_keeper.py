"""The ticket keeper: a scheduled job in the support server's process. Every period it closes
resolved tickets that stayed quiet for the quiet period and records service-level breaches
(service_layer/tickets.py ``keep``). A pass that fails is logged and the next one tries again;
time is the platform clock's, so tests move a ManualClock instead of waiting."""

from __future__ import annotations

import threading

from cpshared.logging import get_logger
from support_service.bootstrap import Support
from support_service.service_layer import tickets

log = get_logger(__name__)


def run_once(support: Support) -> tickets.KeeperPass | None:
    """One pass; None (logged) when the database did not let it finish."""
    try:
        return tickets.keep(support.uow, support.rules)
    except Exception as exc:  # the keeper must outlive any one failure
        log.warning("ticket_keeper_failed", error=str(getattr(exc, "message", exc)))
        return None


def start(support: Support, *, every_seconds: float) -> threading.Event:
    """Run a pass every ``every_seconds`` in a daemon thread; set the answered event to stop it."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every_seconds):
            run_once(support)

    threading.Thread(target=loop, name="ticket-keeper", daemon=True).start()
    return stop
