"""The keeper's round on in-memory fakes: the scheduled run from the cycle day identity set, the
overdue mark the day after the due date, a suspension request once past the grace days."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest

from billing_service.config import BillingRules
from billing_service.domain.accounts import Account
from billing_service.service_layer import schedule
from billing_service.service_layer.schedule import RoundReport
from cpshared.clock import ManualClock, set_clock
from tests.unit.billing.fakes import FakeDatabase, usage_of

TERMS = BillingRules(billing_payment_terms_days=14).invoice_terms()
ALICE = Account("user", 10)


@pytest.fixture(autouse=True)
def clock() -> Iterator[ManualClock]:
    manual = ManualClock(datetime(2026, 11, 2, 3, 0, tzinfo=UTC))
    previous = set_clock(manual)
    try:
        yield manual
    finally:
        set_clock(previous)


def at(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=UTC).replace(hour=3)


def test_the_previous_month_is_invoiced_once_from_the_cycle_day_identity_set() -> None:
    db = FakeDatabase()
    with db.uow() as uow:
        uow.usage.add(ALICE, usage_of(2, datetime(2026, 10, 1, tzinfo=UTC), 24))
        uow.commit()
    db.data.settings["billing_cycle_day"] = '"5"'

    early = RoundReport()
    schedule.invoice_if_due(at(date(2026, 11, 4)), 1, TERMS, db.uow, early)
    assert early.invoiced_period is None and db.data.invoices == {}

    due = RoundReport()
    schedule.invoice_if_due(at(date(2026, 11, 5)), 1, TERMS, db.uow, due)
    assert (due.invoiced_period, due.issued) == (date(2026, 10, 1), 1)
    assert db.data.runs == {date(2026, 10, 1): (5, 1)}

    again = RoundReport()
    schedule.invoice_if_due(at(date(2026, 11, 6)), 1, TERMS, db.uow, again)
    assert again.invoiced_period is None and len(db.data.invoices) == 1


def test_overdue_the_day_after_the_due_date_and_one_suspension_request_past_the_grace_days() -> None:
    db = FakeDatabase()
    with db.uow() as uow:
        uow.usage.add(ALICE, usage_of(2, datetime(2026, 10, 1, tzinfo=UTC), 24))
        uow.commit()
    schedule.invoice_if_due(at(date(2026, 11, 2)), 1, TERMS, db.uow, RoundReport())
    (invoice_id,) = db.data.invoices
    assert db.data.invoices[invoice_id].due_date == date(2026, 11, 16)

    def sweep(day: date) -> RoundReport:
        report = RoundReport()
        schedule.sweep(at(day), 14, db.uow, report)
        return report

    assert sweep(date(2026, 11, 16)).marked_overdue == []
    assert sweep(date(2026, 11, 17)).marked_overdue == [invoice_id]
    assert (db.data.invoices[invoice_id].status, db.data.invoices[invoice_id].version) == ("overdue", 2)
    assert sweep(date(2026, 11, 30)).suspensions_requested == []
    assert sweep(date(2026, 12, 1)).suspensions_requested == [invoice_id]
    assert sweep(date(2026, 12, 2)).suspensions_requested == []  # once
    kinds = [(e.spec.event_type, e.aggregate_id, e.version) for e in db.data.outbox]
    assert kinds == [
        ("invoice.issued", invoice_id, 1),
        ("invoice.overdue", invoice_id, 2),
        ("billing.suspension_requested", "user:10", 1),
    ]
