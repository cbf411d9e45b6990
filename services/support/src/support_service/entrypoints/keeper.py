"""The support keeper: a scheduled job in the support server's process. Every period it closes
resolved tickets that stayed quiet for the quiet period, records service-level breaches
(service_layer/tickets.py ``keep``) and moves maintenance windows with the clock
(service_layer/maintenance.py ``advance``). A pass that fails is logged and the next one tries
again; time is the platform clock's, so tests move a ManualClock instead of waiting."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from cpshared.logging import get_logger
from support_service.bootstrap import Support
from support_service.service_layer import maintenance, tickets

log = get_logger(__name__)


@dataclass(frozen=True)
class KeeperReport:
    tickets: tickets.KeeperPass | None
    """None when the tickets' pass failed (logged)."""
    maintenance: list[tuple[int, str]] = field(default_factory=list)


def run_once(support: Support) -> KeeperReport:
    """One pass of each job; a job that fails is logged and the other still runs."""
    ticket_pass: tickets.KeeperPass | None = None
    moved: list[tuple[int, str]] = []
    try:
        ticket_pass = tickets.keep(support.uow, support.rules)
    except Exception as exc:  # the keeper must outlive any one failure
        log.warning("ticket_keeper_failed", error=str(getattr(exc, "message", exc)))
    try:
        moved = maintenance.advance(support.uow)
    except Exception as exc:
        log.warning("maintenance_keeper_failed", error=str(getattr(exc, "message", exc)))
    return KeeperReport(ticket_pass, moved)


def start(support: Support, *, every_seconds: float) -> threading.Event:
    """Run a pass every ``every_seconds`` in a daemon thread; set the answered event to stop it."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every_seconds):
            run_once(support)

    threading.Thread(target=loop, name="support-keeper", daemon=True).start()
    return stop
