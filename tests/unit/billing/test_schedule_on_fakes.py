"""The keeper's round on in-memory fakes: the scheduled run from the cycle day identity set, the
overdue mark the day after the due date, a suspension request once past the grace days."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from billing_service.config import BillingRules
from billing_service.domain.accounts import Account
from billing_service.service_layer import invoice_life, schedule
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


def _overdue_and_requested(db: FakeDatabase, account: Account, months: list[int]) -> list[int]:
    """One invoice of ``account`` per month of 2026 in ``months``, each left overdue past the
    grace days (a suspension requested for each); their ids."""
    with db.uow() as uow:
        for month in months:
            uow.usage.add(account, usage_of(account.account_id, datetime(2026, month, 1, tzinfo=UTC), 24))
        uow.commit()
    ids = []
    for month in months:
        before = set(db.data.invoices)
        schedule.invoice_if_due(at(date(2026, month + 1, 2)), 1, TERMS, db.uow, RoundReport())
        ids += sorted(set(db.data.invoices) - before)
    report = RoundReport()
    schedule.sweep(at(date(2026, 12, 20)), 14, db.uow, report)
    assert sorted(report.suspensions_requested) == sorted(ids)
    return ids


def _lifts(db: FakeDatabase) -> list[tuple[str, object, list[int]]]:
    return [
        (e.spec.event_type, e.aggregate_id, list(e.payload.requested_invoice_ids))  # type: ignore[attr-defined]
        for e in db.data.outbox
        if e.spec.event_type == "billing.suspension_lifted"
    ]


def test_the_payment_that_leaves_no_overdue_invoice_lifts_billings_request_once() -> None:
    db = FakeDatabase()
    first, second = _overdue_and_requested(db, ALICE, [9, 10])

    def pay(invoice_id: int, amount: str, reference: str) -> None:
        invoice_life.record_payment(invoice_id, amount, "bank_transfer", reference, None, db.uow())

    total = db.data.invoices[first].total
    half = (total / 2).quantize(Decimal("0.01"))
    pay(first, str(half), "first-1")
    pay(first, str(total - half), "first-2")  # paid in two parts: one overdue invoice is left
    assert db.data.invoices[first].status == "paid" and _lifts(db) == []

    total = db.data.invoices[second].total
    pay(second, "0.01", "second-1")
    assert _lifts(db) == []  # a part payment leaves it overdue
    pay(second, str(total - Decimal("0.01")), "second-2")
    assert _lifts(db) == [("billing.suspension_lifted", "user:10", [first, second])]

    # The clearing is spent: nothing more lifts it (a refund, another request's absence).
    invoice_life.refund(first, "goodwill", "account_credit", db.uow())
    assert len(_lifts(db)) == 1


def test_cancelling_the_last_overdue_invoice_lifts_and_an_account_never_asked_about_lifts_nothing() -> None:
    db = FakeDatabase()
    (invoice_id,) = _overdue_and_requested(db, ALICE, [10])
    bob = Account("organization", 20)
    with db.uow() as uow:
        uow.usage.add(bob, usage_of(99, datetime(2026, 11, 1, tzinfo=UTC), 24))
        uow.commit()
    schedule.invoice_if_due(at(date(2026, 12, 2)), 1, TERMS, db.uow, RoundReport())
    (bobs,) = set(db.data.invoices) - {invoice_id}
    invoice_life.record_payment(bobs, str(db.data.invoices[bobs].total), "credit_card", "bob-1", None, db.uow())
    assert _lifts(db) == []  # bob's invoice was never overdue: nothing was asked, nothing lifts

    invoice_life.cancel(invoice_id, "billed in error", db.uow())
    assert _lifts(db) == [("billing.suspension_lifted", "user:10", [invoice_id])]
