"""Billing's schedule, one round at a time (the keeper, entrypoints/keeper.py, runs the rounds):

1. **The scheduled invoice run.** From the month's billing cycle day on (identity's system
   setting ``billing_cycle_day``, as the billing projection follows it from ``setting.changed``;
   until identity ever changes it, ``CP_BILLING_CYCLE_DAY``, 1 like identity's default; a day
   past the month's end means its last day), the previous month is invoiced once
   (``invoice_run.run_invoices``, itself idempotent) and the period noted as run. A keeper
   that was down on the day catches up at its next round in the month.
2. **The overdue sweep.** Every pending invoice whose due date has passed becomes overdue with
   ``invoice.overdue`` (one unit of work each); every overdue invoice more than
   ``CP_BILLING_SUSPENSION_GRACE_DAYS`` past its due date gets, once, a
   ``billing.suspension_requested`` event on billing.events; identity suspends the account
   (its billing projection). The payment that clears the account lifts it
   (``invoice_life.lift_suspension_if_clear``: ``billing.suspension_lifted``).
"""

from __future__ import annotations

import calendar
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from billing_service.domain.commands import RunInvoices
from billing_service.domain.invoice import InvoiceTerms
from billing_service.service_layer import invoice_life
from billing_service.service_layer.invoice_run import run_invoices
from billing_service.service_layer.ports import AbstractUnitOfWork
from cpshared.logging import get_logger

log = get_logger(__name__)

UnitsOfWork = Callable[[], AbstractUnitOfWork]


@dataclass
class RoundReport:
    invoiced_period: date | None = None
    issued: int = 0
    marked_overdue: list[int] = field(default_factory=list)
    suspensions_requested: list[int] = field(default_factory=list)
    skipped: bool = False
    """Another replica held the lock."""


def cycle_day(uow: AbstractUnitOfWork, default: int) -> int:
    """identity's ``billing_cycle_day`` as billing last heard it, else ``default``."""
    with uow:
        value = uow.schedule.setting("billing_cycle_day")
    try:
        day = int(value.strip().strip('"')) if value is not None else default
    except ValueError:
        log.warning("billing_cycle_day_unreadable", value=value, using=default)
        return default
    return min(max(day, 1), 31)


def run_date(month: date, day: int) -> date:
    """The day of ``month`` the cycle day names (its last day if the month is shorter)."""
    return month.replace(day=min(day, calendar.monthrange(month.year, month.month)[1]))


def previous_month(month: date) -> date:
    return (month.replace(day=1) - timedelta(days=1)).replace(day=1)


def invoice_if_due(
    now: datetime, default_cycle_day: int, terms: InvoiceTerms, uow: UnitsOfWork, report: RoundReport
) -> None:
    today = now.astimezone(UTC).date()
    this_month = today.replace(day=1)
    day = cycle_day(uow(), default_cycle_day)
    if today < run_date(this_month, day):
        return
    period = previous_month(this_month)
    with uow() as reading:
        if reading.schedule.has_run(period):
            return
    result = run_invoices(RunInvoices(period), terms, uow)
    with uow() as noting:
        noting.schedule.note_run(period, day, len(result.issued), now)
        noting.commit()
    report.invoiced_period, report.issued = period, len(result.issued)
    log.info("scheduled_invoice_run", period=f"{period:%Y-%m}", cycle_day=day, issued=len(result.issued))


def sweep(now: datetime, grace_days: int, uow: UnitsOfWork, report: RoundReport) -> None:
    today = now.astimezone(UTC).date()
    with uow() as reading:
        pending = reading.invoices.pending_due_before(today)
    for invoice_id in pending:
        if invoice_life.mark_overdue(invoice_id, now, uow()):
            report.marked_overdue.append(invoice_id)
    with uow() as reading:
        late = reading.invoices.overdue_unrequested(today - timedelta(days=grace_days))
    for invoice_id in late:
        if invoice_life.request_suspension(invoice_id, now, grace_days, uow()):
            report.suspensions_requested.append(invoice_id)
            log.info("suspension_requested", invoice_id=invoice_id)
    if report.marked_overdue or report.suspensions_requested:
        log.info(
            "overdue_sweep",
            marked_overdue=len(report.marked_overdue),
            suspensions_requested=len(report.suspensions_requested),
        )
