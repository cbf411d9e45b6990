"""`cloudctl billing reconcile`: billing rebuilt from a real Kafka stream (a scratch topic) into
scratch tables of a real MariaDB, the period's invoices recomputed and diffed against the issued
ones. A clean period has no difference; a tampered line, a deleted usage row, and a usage event
that reached the stream only after the run are each reported, with exit 1."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from billing_service.adapters.tables import credits, invoice_items, invoices, usage_records
from billing_service.config import BillingRules
from billing_service.domain.reconciliation import ReconcileReport
from billing_service.entrypoints.reconcile import reconcile
from cloudctl.main import app
from cpshared.clock import ManualClock, set_clock
from cpshared.events.envelope import PendingEvent
from cpshared.topics import Topic
from tests.integration.backbone import KAFKA
from tests.integration.billing.support import (
    OCTOBER,
    apply,
    hours,
    organization_created,
    profile_updated,
    run_invoices,
    server_hour,
    user_created,
)
from tests.integration.test_consumer_crashes import produce

NOVEMBER = datetime(2026, 11, 1, tzinfo=UTC)
RULES = BillingRules(billing_seller_country="DE", billing_included_tax_rate=Decimal(19), billing_payment_terms_days=14)


@pytest.fixture
def clock() -> Iterator[ManualClock]:
    manual = ManualClock(datetime(2026, 11, 2, 3, 0, tzinfo=UTC))
    previous = set_clock(manual)
    try:
        yield manual
    finally:
        set_clock(previous)


def october(topic: Topic) -> list[PendingEvent]:
    """Three accounts: a German user with a credit, a French business (reverse charge), an
    organization whose server changed type within the month."""
    events = [
        user_created(10, topic=topic),
        profile_updated(10, "DE", topic=topic),
        user_created(11, topic=topic),
        profile_updated(11, "FR", "FR12345678901", topic=topic),
        organization_created(7, owner=10, topic=topic),
    ]
    events += hours(1, OCTOBER, 100, user_id=10, topic=topic)
    events += hours(2, OCTOBER, 744, product="cx32", user_id=11, topic=topic)  # the whole month: capped
    events += hours(3, OCTOBER + timedelta(days=3), 30, user_id=10, organization_id=7, topic=topic)
    events += hours(3, OCTOBER + timedelta(days=5), 20, product="cpx41", user_id=10, organization_id=7, topic=topic)
    return events


def live_and_stream(engine: Engine, events: list[PendingEvent]) -> None:
    """The events reach billing (the real projection runner) and are on the stream."""
    apply(engine, events)
    asyncio.run(produce(events))


def grant_credit(engine: Engine, user_id: int, amount: str) -> None:
    now = datetime(2026, 10, 15)
    with engine.begin() as conn:
        conn.execute(
            credits.insert().values(
                user_id=user_id,
                amount=Decimal(amount),
                balance=Decimal(amount),
                currency="EUR",
                type="promotional",
                description="welcome",
                expires_at=datetime(2027, 1, 1),
                created_at=now,
            )
        )


def check(engine: Engine, topic: Topic, period: date) -> ReconcileReport:
    return asyncio.run(reconcile(engine, KAFKA, period, RULES, topics=(topic,)))


def cli(url: str, topic: Topic, period: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        app,
        ["billing", "reconcile", "--period", period, "--database-url", url, "--topic", topic.name],
        env={"COLUMNS": "250"},
    )
    return result.exit_code, result.output


def test_a_clean_period_reconciles_and_late_usage_is_reported_where_it_was_missed(
    billing_db: tuple[str, Engine], scratch_stream: Topic, clock: ManualClock
) -> None:
    url, engine = billing_db
    live_and_stream(engine, october(scratch_stream))
    grant_credit(engine, 10, "2.50")
    assert len(run_invoices(engine, OCTOBER.date(), RULES).issued) == 3

    report = check(engine, scratch_stream, OCTOBER.date())
    assert report.differences == [] and report.clean
    assert (report.issued_invoices, report.recomputed_invoices) == (3, 3)
    code, output = cli(url, scratch_stream, "2026-10")
    assert code == 0, output
    assert "no difference" in output
    with engine.connect() as conn:  # nothing left behind but the issued invoices
        names = set(sa.inspect(conn).get_table_names())
    assert not {n for n in names if n.endswith("__recon")}

    # An October hour that was published only after October's run: October missed it.
    late = server_hour(1, OCTOBER + timedelta(days=20), user_id=10, topic=scratch_stream)
    asyncio.run(produce([late]))
    report = check(engine, scratch_stream, OCTOBER.date())
    fields = {(d.account, d.invoice_number, d.field) for d in report.differences}
    assert ("user 10", "INV-2026-10-0002", "quantity") in fields
    assert ("user 10", "INV-2026-10-0002", "total") in fields
    usage = [d for d in report.differences if d.field == "usage row"]
    assert len(usage) == 1 and usage[0].issued == "no usage row" and usage[0].recomputed == late.envelope.event_id
    quantity = next(d for d in report.differences if d.field == "quantity")
    assert (quantity.issued, quantity.recomputed) == ("100.0000", "101.0000")
    code, output = cli(url, scratch_stream, "2026-10")
    assert code == 1 and "INV-2026-10-0002" in output

    # Once billing has it, November's run bills it as an adjustment: November reconciles clean,
    # October still says it was not on its invoice, and where it went.
    apply(engine, [late])
    november = hours(1, NOVEMBER, 5, user_id=10, topic=scratch_stream)
    live_and_stream(engine, november)
    clock.set(datetime(2026, 12, 2, 3, 0, tzinfo=UTC))
    run_invoices(engine, NOVEMBER.date(), RULES)
    assert check(engine, scratch_stream, NOVEMBER.date()).differences == []
    usage = [d for d in check(engine, scratch_stream, OCTOBER.date()).differences if d.field == "usage row"]
    assert [d.issued for d in usage] == ["billed on INV-2026-11-0001"]


def test_a_tampered_line_and_a_deleted_usage_row_are_reported(
    billing_db: tuple[str, Engine], scratch_stream: Topic, clock: ManualClock
) -> None:
    url, engine = billing_db
    live_and_stream(engine, october(scratch_stream))
    run_invoices(engine, OCTOBER.date(), RULES)
    assert cli(url, scratch_stream, "2026-10")[0] == 0

    with engine.begin() as conn:  # someone edits a line of the organization's invoice
        invoice_id = conn.execute(
            sa.select(invoices.c.id).where(invoices.c.account_type == "organization")
        ).scalar_one()
        item = conn.execute(
            sa.select(invoice_items).where(invoice_items.c.invoice_id == invoice_id).order_by(invoice_items.c.id)
        ).first()
        assert item is not None
        conn.execute(
            invoice_items.update().where(invoice_items.c.id == item.id).values(total=item.total + Decimal("1.00"))
        )
    report = check(engine, scratch_stream, OCTOBER.date())
    assert [(d.account, d.field, d.issued, d.recomputed) for d in report.differences] == [
        ("organization 7", "total", str(item.total + Decimal("1.00")), str(item.total))
    ]
    code, output = cli(url, scratch_stream, "2026-10")
    assert code == 1 and "organization 7" in output and str(item.total + Decimal("1.00")) in output

    with engine.begin() as conn:  # the edit undone; a billed usage row of user 11 deleted
        conn.execute(invoice_items.update().where(invoice_items.c.id == item.id).values(total=item.total))
        victim = conn.execute(
            sa.select(usage_records.c.id, usage_records.c.event_id)
            .where(usage_records.c.user_id == 11)
            .order_by(usage_records.c.id)
            .limit(1)
        ).one()
        conn.execute(usage_records.delete().where(usage_records.c.id == victim.id))
    report = check(engine, scratch_stream, OCTOBER.date())
    assert [(d.account, d.invoice_number, d.field, d.issued) for d in report.differences] == [
        ("user 11", "INV-2026-10-0003", "usage row", "no usage row")
    ]
    code, output = cli(url, scratch_stream, "2026-10")
    assert code == 1 and "no usage row" in output


def test_an_open_period_compares_the_ingested_usage_with_the_streams(
    billing_db: tuple[str, Engine], scratch_stream: Topic, clock: ManualClock
) -> None:
    """November has usage and no invoice yet (its run has not happened): reconciling it says the
    period is open and compares billing's usage records with the streams', not invoices that do
    not exist yet; a tampered or a missing record is a difference (exit 1)."""
    url, engine = billing_db
    clock.set(datetime(2026, 11, 20, 12, 0, tzinfo=UTC))
    events = [user_created(10, topic=scratch_stream), user_created(11, topic=scratch_stream)]
    events += hours(1, NOVEMBER, 30, user_id=10, topic=scratch_stream)
    events += hours(2, NOVEMBER + timedelta(days=2), 12, product="cx32", user_id=11, topic=scratch_stream)
    live_and_stream(engine, events)

    report = check(engine, scratch_stream, NOVEMBER.date())
    assert report.open and report.clean and report.differences == []
    assert (report.issued_invoices, report.recomputed_invoices, report.usage_compared) == (0, 0, 42)
    code, output = cli(url, scratch_stream, "2026-11")
    assert code == 0, output
    assert "open period, usage matches" in output and "42 usage record(s) compared" in output

    with engine.begin() as conn:  # one record's quantity edited, another deleted
        first, second = conn.execute(
            sa.select(usage_records.c.id, usage_records.c.event_id, usage_records.c.user_id)
            .order_by(usage_records.c.user_id.desc(), usage_records.c.id)
            .limit(2)
        ).all()
        conn.execute(usage_records.update().where(usage_records.c.id == first.id).values(quantity=Decimal(3)))
        conn.execute(usage_records.delete().where(usage_records.c.id == second.id))
    report = check(engine, scratch_stream, NOVEMBER.date())
    assert report.open and not report.clean
    found = sorted((d.account, d.field, d.issued, d.recomputed) for d in report.differences)
    assert found == [
        ("user 11", "quantity", "3.000000", "1.000000"),
        ("user 11", "usage row", "no usage row", "in the streams"),
    ]
    assert all(d.invoice_number == "—" for d in report.differences)
    assert str(uuid.UUID(bytes=bytes(second.event_id))) in next(
        d.line for d in report.differences if d.field == "usage row"
    )
    code, output = cli(url, scratch_stream, "2026-11")
    assert code == 1 and "2 difference(s)" in output and "no usage row" in output
