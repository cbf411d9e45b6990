"""Billing's keeper, a thread of the billing gRPC server: every ``billing_keeper_interval_seconds``
one replica (a MariaDB named lock per database, like the audit keeper's; the others skip the
round) runs a round of the schedule (service_layer/schedule.py): the scheduled invoice run
when due, then the overdue sweep. All times come from ``cpshared.clock`` (tests drive a
manual clock)."""

from __future__ import annotations

import threading

from billing_service.bootstrap import Billing
from billing_service.config import ScheduleSettings
from billing_service.service_layer import schedule
from billing_service.service_layer.schedule import RoundReport
from cpshared.clock import utcnow
from cpshared.logging import get_logger

log = get_logger(__name__)

LOCK = "billing_keeper"
"""Prefix of the keeper's named lock; the name carries the database (named locks are server-wide)."""


class BillingKeeper:
    def __init__(self, billing: Billing, settings: ScheduleSettings) -> None:
        self.billing = billing
        self.settings = settings
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="billing-keeper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def round(self) -> RoundReport:
        """One round, if this replica gets the lock: the scheduled run when due, then the sweep."""
        report = RoundReport()
        with self.billing.exclusive(LOCK) as held:
            if not held:
                report.skipped = True
                return report
            now = utcnow()
            schedule.invoice_if_due(now, self.settings.billing_cycle_day, self.billing.terms, self.billing.uow, report)
            schedule.sweep(now, self.settings.billing_suspension_grace_days, self.billing.uow, report)
        return report

    def _run(self) -> None:
        while not self._stop.wait(self.settings.billing_keeper_interval_seconds):
            try:
                self.round()
            except Exception as exc:  # the database may be away: the next round tries again
                log.warning("billing_keeper_round_failed", error=f"{type(exc).__name__}: {exc}")
