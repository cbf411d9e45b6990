"""Billing's schedule, in a thread of the billing gRPC server: the invoice run and the overdue sweep.

Every ``billing_keeper_interval_seconds`` one replica (a MariaDB named lock, like the audit
keeper's; the others skip the round) does a round:

1. **The scheduled invoice run.** From the month's billing cycle day on (identity's system
   setting ``billing_cycle_day``, as the billing projection follows it from ``setting.changed``;
   until identity ever changes it, ``CP_BILLING_CYCLE_DAY``, 1 like identity's default; a day
   past the month's end means its last day), the previous month is invoiced once
   (``invoice_run.run_invoices``, itself idempotent) and the period noted in ``scheduled_runs``.
   A keeper that was down on the day catches up at its next round in the month.
2. **The overdue sweep.** Every pending invoice whose due date has passed becomes overdue with
   ``invoice.overdue`` (``invoice_life.mark_invoice_overdue``, one transaction each); every
   overdue invoice more than ``CP_BILLING_SUSPENSION_GRACE_DAYS`` past its due date gets, once,
   a ``billing.suspension_requested`` event on billing.events (a ``suspension_requests`` row and
   the event in one transaction). Identity does not act on that event yet.

All times come from ``cpshared.clock`` (tests drive a manual clock).
"""

from __future__ import annotations

import calendar
import threading
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Engine

from billing_service import SERVICE_NAME
from billing_service.adapters.tables import billing_settings, invoices, scheduled_runs, suspension_requests
from billing_service.config import BillingRules
from billing_service.schedule_settings import ScheduleSettings
from billing_service.service_layer.invoice_life import mark_invoice_overdue
from billing_service.service_layer.invoice_run import run_invoices
from cloudplatform.billing.v1 import events_pb2 as billing_events
from cpshared.clock import utcnow
from cpshared.db import database_lock
from cpshared.events import catalog
from cpshared.events.envelope import new_event
from cpshared.events.outbox import write_events
from cpshared.logging import get_logger
from cpshared.timestamps import to_timestamp

log = get_logger(__name__)

LOCK = "billing_keeper"
"""Prefix of the keeper's named lock; the name carries the database (named locks are server-wide)."""


@dataclass
class RoundReport:
    invoiced_period: date | None = None
    issued: int = 0
    marked_overdue: list[int] = field(default_factory=list)
    suspensions_requested: list[int] = field(default_factory=list)
    skipped: bool = False
    """Another replica held the lock."""


def cycle_day(engine: Engine, default: int) -> int:
    """identity's ``billing_cycle_day`` as billing last heard it, else ``default``."""
    with engine.connect() as conn:
        value = conn.execute(
            sa.select(billing_settings.c.value).where(billing_settings.c.setting_key == "billing_cycle_day")
        ).scalar()
    try:
        day = int(str(value).strip().strip('"')) if value is not None else default
    except ValueError:
        log.warning("billing_cycle_day_unreadable", value=value, using=default)
        return default
    return min(max(day, 1), 31)


def run_date(month: date, day: int) -> date:
    """The day of ``month`` the cycle day names (its last day if the month is shorter)."""
    return month.replace(day=min(day, calendar.monthrange(month.year, month.month)[1]))


def previous_month(month: date) -> date:
    return (month.replace(day=1) - timedelta(days=1)).replace(day=1)


class BillingKeeper:
    def __init__(self, engine: Engine, rules: BillingRules, schedule: ScheduleSettings) -> None:
        self.engine = engine
        self.rules = rules
        self.schedule = schedule
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="billing-keeper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def round(self) -> RoundReport:
        """One round, if this replica gets the lock: the scheduled run when due, then the sweep."""
        report = RoundReport()
        with database_lock(self.engine, LOCK) as held:
            if not held:
                report.skipped = True
                return report
            now = utcnow()
            self.invoice_if_due(now, report)
            self.sweep(now, report)
        return report

    def invoice_if_due(self, now: datetime, report: RoundReport) -> None:
        today = now.astimezone(UTC).date()
        this_month = today.replace(day=1)
        day = cycle_day(self.engine, self.schedule.billing_cycle_day)
        if today < run_date(this_month, day):
            return
        period = previous_month(this_month)
        key = f"{period:%Y-%m}"
        with self.engine.connect() as conn:
            done = conn.execute(sa.select(scheduled_runs.c.period).where(scheduled_runs.c.period == key)).first()
        if done is not None:
            return
        result = run_invoices(self.engine, period, self.rules)
        with self.engine.begin() as conn:
            conn.execute(
                mysql.insert(scheduled_runs)
                .values(
                    period=key,
                    cycle_day=day,
                    issued=len(result.issued),
                    finished_at=now.astimezone(UTC).replace(tzinfo=None),
                )
                .prefix_with("IGNORE")
            )
        report.invoiced_period, report.issued = period, len(result.issued)
        log.info("scheduled_invoice_run", period=key, cycle_day=day, issued=len(result.issued))

    def sweep(self, now: datetime, report: RoundReport) -> None:
        today = now.astimezone(UTC).date()
        with self.engine.connect() as conn:
            due = conn.execute(
                sa.select(invoices.c.id)
                .where(invoices.c.status == "pending", invoices.c.due_date < today)
                .order_by(invoices.c.id)
            ).scalars()
            pending = [int(i) for i in due]
        for invoice_id in pending:
            with self.engine.begin() as conn:
                if mark_invoice_overdue(conn, invoice_id, now):
                    report.marked_overdue.append(invoice_id)
        grace = self.schedule.billing_suspension_grace_days
        with self.engine.connect() as conn:
            overdue = conn.execute(
                sa.select(invoices.c.id)
                .outerjoin(suspension_requests, suspension_requests.c.invoice_id == invoices.c.id)
                .where(
                    invoices.c.status == "overdue",
                    invoices.c.due_date < today - timedelta(days=grace),
                    suspension_requests.c.invoice_id.is_(None),
                )
                .order_by(invoices.c.id)
            ).scalars()
            late = [int(i) for i in overdue]
        for invoice_id in late:
            if self._request_suspension(invoice_id, now, grace):
                report.suspensions_requested.append(invoice_id)
        if report.marked_overdue or report.suspensions_requested:
            log.info(
                "overdue_sweep",
                marked_overdue=len(report.marked_overdue),
                suspensions_requested=len(report.suspensions_requested),
            )

    def _request_suspension(self, invoice_id: int, now: datetime, grace: int) -> bool:
        with self.engine.begin() as conn:
            invoice = conn.execute(sa.select(invoices).where(invoices.c.id == invoice_id).with_for_update()).first()
            if invoice is None or invoice.status != "overdue":
                return False  # paid or cancelled meanwhile
            inserted = conn.execute(
                mysql.insert(suspension_requests)
                .values(
                    invoice_id=invoice_id,
                    account_type=invoice.account_type,
                    account_id=invoice.account_id,
                    requested_at=now.astimezone(UTC).replace(tzinfo=None),
                )
                .prefix_with("IGNORE")
            )
            if inserted.rowcount != 1:
                return False
            event = new_event(
                catalog.SUSPENSION_REQUESTED,
                producer=SERVICE_NAME,
                aggregate_id=f"{invoice.account_type}:{invoice.account_id}",
                aggregate_version=1,
                payload=billing_events.SuspensionRequested(
                    invoice=billing_events.InvoiceRef(
                        invoice_id=invoice_id,
                        invoice_number=invoice.invoice_number,
                        account_type=invoice.account_type,
                        account_id=invoice.account_id,
                        user_id=invoice.user_id,
                        organization_id=invoice.organization_id or 0,
                        currency=invoice.currency or "",
                        total=str(invoice.total),
                    ),
                    account_type=invoice.account_type,
                    account_id=invoice.account_id,
                    due_date=to_timestamp(datetime.combine(invoice.due_date, datetime.min.time(), tzinfo=UTC)),
                    grace_days=grace,
                    requested_at=to_timestamp(now),
                ),
            )
            write_events(conn, [event])
        log.info("suspension_requested", invoice_id=invoice_id, account=f"{invoice.account_type}:{invoice.account_id}")
        return True

    def _run(self) -> None:
        while not self._stop.wait(self.schedule.billing_keeper_interval_seconds):
            try:
                self.round()
            except Exception as exc:  # the database may be away: the next round tries again
                log.warning("billing_keeper_round_failed", error=f"{type(exc).__name__}: {exc}")
