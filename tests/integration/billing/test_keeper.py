"""The billing keeper on a manual clock and the real database: the previous month invoiced once
from identity's billing_cycle_day on (learnt from setting.changed), one replica at a time;
pending invoices past due become overdue with invoice.overdue; past the grace period a
billing.suspension_requested event, once per invoice, none for a paid invoice."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from billing_service.adapters.tables import invoices, scheduled_runs
from billing_service.bootstrap import Billing
from billing_service.config import BillingRules, ScheduleSettings
from billing_service.entrypoints.keeper import LOCK, BillingKeeper
from billing_service.service_layer.invoice_life import record_payment
from billing_service.service_layer.schedule import cycle_day, run_date
from cloudplatform.billing.v1 import events_pb2 as billing_events
from cloudplatform.events.v1.envelope_pb2 import EventEnvelope
from cloudplatform.identity.v1 import events_pb2 as identity_events
from cpshared.clock import ManualClock, set_clock
from cpshared.db import current_database_lock_name
from cpshared.events import catalog
from cpshared.events.envelope import PendingEvent, new_event, parse_envelope
from cpshared.events.tables import outbox
from cpshared.topics import IDENTITY_EVENTS
from tests.integration.billing.support import OCTOBER, apply, hours, uow_of, user_created

RULES = BillingRules(billing_seller_country="DE", billing_included_tax_rate=Decimal(19), billing_payment_terms_days=14)
SCHEDULE = ScheduleSettings(billing_cycle_day=1, billing_suspension_grace_days=14, billing_keeper_interval_seconds=60)


@pytest.fixture
def clock() -> Iterator[ManualClock]:
    manual = ManualClock(datetime(2026, 11, 1, 0, 5, tzinfo=UTC))
    previous = set_clock(manual)
    try:
        yield manual
    finally:
        set_clock(previous)


def cycle_day_changed(day: int) -> PendingEvent:
    pending = new_event(
        catalog.SETTING_CHANGED,
        producer="identity",
        aggregate_id="billing_cycle_day",
        aggregate_version=2,
        payload=identity_events.SettingChanged(
            key="billing_cycle_day", type="integer", old_value="1", new_value=str(day)
        ),
    )
    return dataclasses.replace(pending, topic=IDENTITY_EVENTS)


def events_of(engine: Engine, event_type: str) -> list[EventEnvelope]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(outbox.c.envelope).where(outbox.c.event_type == event_type).order_by(outbox.c.id))
        return [parse_envelope(r.envelope) for r in rows]


def statuses(engine: Engine) -> dict[int, str]:
    with engine.connect() as conn:
        return {int(r.user_id): str(r.status) for r in conn.execute(sa.select(invoices.c.user_id, invoices.c.status))}


def test_cycle_day_past_a_short_month_is_its_last_day() -> None:
    assert run_date(date(2027, 2, 1), 31) == date(2027, 2, 28)
    assert run_date(date(2026, 11, 1), 5) == date(2026, 11, 5)


def test_scheduled_run_on_the_cycle_day_then_overdue_then_suspension_requested_once(
    billing_db: tuple[str, Engine], clock: ManualClock
) -> None:
    _, engine = billing_db
    apply(engine, [user_created(10), user_created(11), *hours(1, OCTOBER, 10), *hours(2, OCTOBER, 20, user_id=11)])
    keeper = BillingKeeper(Billing(engine, RULES), SCHEDULE)
    assert cycle_day(uow_of(engine), SCHEDULE.billing_cycle_day) == 1
    apply(engine, [cycle_day_changed(5)])  # identity moved the cycle day: billing follows
    assert cycle_day(uow_of(engine), SCHEDULE.billing_cycle_day) == 5

    clock.set(datetime(2026, 11, 4, 23, 59, tzinfo=UTC))
    assert keeper.round().invoiced_period is None and statuses(engine) == {}

    clock.set(datetime(2026, 11, 5, 0, 1, tzinfo=UTC))
    with engine.connect() as other:  # another replica holds the lock: this one skips the round
        name = current_database_lock_name(other, LOCK)
        assert other.execute(sa.text("SELECT GET_LOCK(:n, 0)"), {"n": name}).scalar() == 1
        assert keeper.round().skipped
        other.execute(sa.text("SELECT RELEASE_LOCK(:n)"), {"n": name})
    assert statuses(engine) == {}
    report = keeper.round()
    assert (report.invoiced_period, report.issued) == (date(2026, 10, 1), 2)
    assert statuses(engine) == {10: "pending", 11: "pending"}
    clock.advance(timedelta(hours=1))
    again = keeper.round()  # the period is done: nothing again
    assert (again.invoiced_period, again.issued, again.marked_overdue) == (None, 0, [])
    with engine.connect() as conn:
        assert conn.execute(sa.select(scheduled_runs.c.period, scheduled_runs.c.cycle_day)).all() == [("2026-10", 5)]
        due = conn.execute(sa.select(sa.func.min(invoices.c.due_date))).scalar_one()
    assert due == date(2026, 11, 19)

    clock.set(datetime(2026, 11, 19, 23, 0, tzinfo=UTC))  # due today: not overdue yet
    assert keeper.round().marked_overdue == []
    clock.set(datetime(2026, 11, 20, 0, 5, tzinfo=UTC))
    assert len(keeper.round().marked_overdue) == 2
    assert statuses(engine) == {10: "overdue", 11: "overdue"}
    assert len(events_of(engine, "invoice.overdue")) == 2
    with engine.connect() as conn:
        paid_id, paid_total = conn.execute(
            sa.select(invoices.c.id, invoices.c.total).where(invoices.c.user_id == 11)
        ).one()
    record_payment(int(paid_id), str(paid_total), "bank_transfer", "ref-1", None, uow_of(engine))

    clock.set(datetime(2026, 12, 3, 12, 0, tzinfo=UTC))  # due + 14 days: still within the grace
    assert keeper.round().suspensions_requested == []
    clock.set(datetime(2026, 12, 4, 0, 5, tzinfo=UTC))
    report = keeper.round()
    assert len(report.suspensions_requested) == 1 and (report.invoiced_period, report.issued) == (None, 0)
    clock.set(datetime(2026, 12, 5, 0, 5, tzinfo=UTC))
    later = keeper.round()  # November is due now (nothing to bill); no second request
    assert later.suspensions_requested == [] and later.invoiced_period == date(2026, 11, 1)
    requested = events_of(engine, "billing.suspension_requested")
    assert len(requested) == 1
    envelope = requested[0]
    payload = billing_events.SuspensionRequested()
    assert envelope.payload.Unpack(payload)
    assert (payload.account_type, payload.account_id, payload.grace_days) == ("user", 10, 14)
    assert payload.invoice.invoice_number == "INV-2026-10-0001"
    assert envelope.aggregate_id == "user:10"
