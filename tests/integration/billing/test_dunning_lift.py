"""Billing's lift on MariaDB: of two payments clearing an account's last two overdue invoices at
the same moment, exactly one publishes ``billing.suspension_lifted`` (the account's standing
requests are locked per clearing); a later request starts a new clearing, lifted once again."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from billing_service.adapters.tables import suspension_requests
from billing_service.service_layer import invoice_life, schedule
from billing_service.service_layer.schedule import RoundReport
from cpshared.clock import ManualClock, set_clock
from tests.integration.billing.support import OCTOBER, apply, hours, run_invoices, uow_of
from tests.integration.billing.test_invoice_life import RULES, events

SEPTEMBER = datetime(2026, 9, 1, tzinfo=UTC)


@pytest.fixture
def clock() -> Iterator[ManualClock]:
    manual = ManualClock(datetime(2026, 10, 2, 3, 0, tzinfo=UTC))
    previous = set_clock(manual)
    try:
        yield manual
    finally:
        set_clock(previous)


def _overdue_and_requested(engine: Engine, clock: ManualClock) -> list[int]:
    apply(engine, hours(100, SEPTEMBER, 48, user_id=10) + hours(100, OCTOBER, 48, user_id=10))
    ids = [i.invoice_id for i in run_invoices(engine, SEPTEMBER.date(), RULES).issued]
    clock.set(datetime(2026, 11, 2, 3, 0, tzinfo=UTC))
    ids += [i.invoice_id for i in run_invoices(engine, OCTOBER.date(), RULES).issued]
    clock.set(datetime(2026, 12, 20, 3, 0, tzinfo=UTC))
    report = RoundReport()
    schedule.sweep(clock.now(), 14, lambda: uow_of(engine), report)
    assert sorted(report.suspensions_requested) == sorted(ids) and len(ids) == 2
    return ids


def _lifts(engine: Engine) -> list[list[int]]:
    return [
        sorted(payload.requested_invoice_ids)  # type: ignore[attr-defined]
        for kind, _, payload in events(engine)
        if kind == "billing.suspension_lifted"
    ]


def test_two_payments_clearing_the_account_at_once_lift_it_exactly_once(
    billing_db: tuple[str, Engine], clock: ManualClock
) -> None:
    _, engine = billing_db
    ids = _overdue_and_requested(engine, clock)
    with uow_of(engine) as uow:
        totals = {i: str(uow.invoices.get(i).total) for i in ids}
    start, errors = threading.Barrier(2), list[Exception]()

    def pay(invoice_id: int) -> None:
        try:
            start.wait(10)
            invoice_life.record_payment(
                invoice_id, totals[invoice_id], "bank_transfer", f"r-{invoice_id}", None, uow_of(engine)
            )
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=pay, args=(i,)) for i in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert _lifts(engine) == [sorted(ids)]
    with engine.connect() as conn:
        assert (
            conn.execute(
                sa.select(sa.func.count())
                .select_from(suspension_requests)
                .where(suspension_requests.c.lifted_at.is_(None))
            ).scalar_one()
            == 0
        )

    # A new overdue invoice later: a new request, and its payment a new clearing.
    apply(engine, hours(100, datetime(2026, 12, 1, tzinfo=UTC), 24, user_id=10))
    clock.set(datetime(2027, 1, 2, 3, 0, tzinfo=UTC))
    (december,) = [i.invoice_id for i in run_invoices(engine, date(2026, 12, 1), RULES).issued]
    clock.set(datetime(2027, 2, 10, 3, 0, tzinfo=UTC))
    report = RoundReport()
    schedule.sweep(clock.now(), 14, lambda: uow_of(engine), report)
    assert report.suspensions_requested == [december]
    with uow_of(engine) as uow:
        total = str(uow.invoices.get(december).total)
    invoice_life.record_payment(december, total, "bank_transfer", "r-dec", None, uow_of(engine))
    assert _lifts(engine) == [sorted(ids), [december]]
