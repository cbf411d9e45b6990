"""The invoice run on the real database: one invoice per account with gapless numbers, lines
priced hourly up to the monthly cap, tax by country, credits, usage marked billed, the
invoice.issued event in the outbox; a second run changes nothing; late usage goes onto the
next invoice as an adjustment."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from billing_service.adapters.tables import credit_applications, credits, invoice_items, invoices, usage_records
from billing_service.config import BillingRules
from billing_service.domain.tax import REVERSE_CHARGE_NOTE
from cloudplatform.billing.v1 import events_pb2 as billing_events
from cpshared.clock import ManualClock, set_clock
from cpshared.events.envelope import parse_envelope
from cpshared.events.tables import outbox
from tests.integration.billing.support import (
    OCTOBER,
    apply,
    hours,
    organization_created,
    profile_updated,
    run_invoices,
    user_created,
)

NOVEMBER = datetime(2026, 11, 1, tzinfo=UTC)
RULES = BillingRules(billing_seller_country="DE", billing_included_tax_rate=Decimal(19), billing_payment_terms_days=14)


def net(gross: str) -> Decimal:
    return (Decimal(gross) / Decimal("1.19")).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def cents(amount: Decimal) -> Decimal:
    return amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


@pytest.fixture
def clock() -> Iterator[ManualClock]:
    manual = ManualClock(datetime(2026, 11, 2, 3, 0, tzinfo=UTC))
    previous = set_clock(manual)
    try:
        yield manual
    finally:
        set_clock(previous)


def invoice_rows(engine: Engine) -> dict[tuple[str, int, date], sa.Row[Any]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(invoices)).all()
    return {(r.account_type, r.account_id, r.billing_period_start): r for r in rows}


def items_of(engine: Engine, invoice_id: int) -> list[sa.Row[Any]]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(invoice_items).where(invoice_items.c.invoice_id == invoice_id).order_by(invoice_items.c.id)
            )
        )


def test_invoice_run_bills_each_account_once_and_late_usage_next_month(
    billing_db: tuple[str, Engine], clock: ManualClock
) -> None:
    _, engine = billing_db
    apply(
        engine,
        [
            user_created(10),
            profile_updated(10, "DE"),
            user_created(11),
            profile_updated(11, "FR", "FR12345678901"),
            user_created(12),
            organization_created(7, owner=12),
            user_created(13),
            profile_updated(13, "US"),
        ],
    )
    usage = (
        hours(1, OCTOBER, 744, user_id=10)  # the whole month: capped at cx22's 3.79
        + hours(2, OCTOBER, 100, user_id=10)  # 100 h of cx22 ...
        + hours(2, OCTOBER + timedelta(hours=100), 50, user_id=10, product="cx32")  # ... then resized
        + hours(3, OCTOBER + timedelta(days=3), 24, user_id=11, product="cpx41")
        + hours(4, OCTOBER, 300, user_id=12, organization_id=7, product="cx32")
        + hours(5, OCTOBER + timedelta(days=30), 10, user_id=13)
        + hours(6, NOVEMBER, 5, user_id=10)  # November: not billed in October's run
    )
    apply(engine, usage)
    with engine.begin() as conn:
        conn.execute(
            credits.insert(),
            [
                {
                    "user_id": 10,
                    "amount": Decimal("1.00"),
                    "balance": Decimal("1.00"),
                    "currency": "EUR",
                    "type": "promotional",
                    "expires_at": datetime(2027, 6, 1),
                    "created_at": datetime(2026, 9, 1),
                },
                {
                    "user_id": 10,
                    "amount": Decimal("0.50"),
                    "balance": Decimal("0.50"),
                    "currency": "EUR",
                    "type": "referral",
                    "expires_at": datetime(2026, 12, 1),
                    "created_at": datetime(2026, 10, 1),
                },
                {
                    "user_id": 10,
                    "amount": Decimal("9.00"),
                    "balance": Decimal("9.00"),
                    "currency": "EUR",
                    "type": "manual",
                    "expires_at": datetime(2026, 10, 15),
                    "created_at": datetime(2026, 9, 1),
                },
            ],
        )

    report = run_invoices(engine, date(2026, 10, 1), RULES)
    assert [(i.account.account_type, i.account.account_id, i.invoice_number) for i in report.issued] == [
        ("organization", 7, "INV-2026-10-0001"),
        ("user", 10, "INV-2026-10-0002"),
        ("user", 11, "INV-2026-10-0003"),
        ("user", 13, "INV-2026-10-0004"),
    ]
    found = invoice_rows(engine)
    october = date(2026, 10, 1)

    # User 10, Germany: server 1 capped; server 2 one line per type; 19 %; credits soonest-expiring first.
    mine = found[("user", 10, october)]
    subtotal = net("3.79") + net("0.60") + net("0.55")
    tax = cents(subtotal * Decimal("0.19"))
    assert (mine.subtotal, mine.tax_rate, mine.tax_amount) == (subtotal, Decimal("19.00"), tax)
    assert mine.credits_applied == Decimal("1.50")
    assert mine.total == subtotal + tax - Decimal("1.50")
    assert (mine.status, mine.currency, mine.user_id, mine.organization_id) == ("pending", "EUR", 10, None)
    assert (mine.billing_period_start, mine.billing_period_end, mine.due_date) == (
        october,
        date(2026, 10, 31),
        date(2026, 11, 16),
    )
    lines = items_of(engine, mine.id)
    assert [(li.resource_id, li.metadata["product"], li.quantity, li.total, li.metadata["capped"]) for li in lines] == [
        (1, "cx22", Decimal(744), net("3.79"), True),
        (2, "cx22", Decimal(100), net("0.60"), False),
        (2, "cx32", Decimal(50), net("0.55"), False),
    ]
    assert lines[0].unit_price == Decimal("0.005042")  # 0.006 without the included 19 %
    with engine.connect() as conn:
        balances = dict(conn.execute(sa.select(credits.c.type, credits.c.balance)).all())
        applied = conn.execute(sa.select(sa.func.count()).select_from(credit_applications)).scalar_one()
    assert balances == {"referral": Decimal("0.00"), "promotional": Decimal("0.00"), "manual": Decimal("9.00")}
    assert applied == 2

    # France with a VAT id: reverse charge. The organization: no country known, Germany's rate.
    theirs = found[("user", 11, october)]
    assert (theirs.tax_rate, theirs.tax_amount, theirs.notes) == (Decimal("0.00"), Decimal("0.00"), REVERSE_CHARGE_NOTE)
    assert theirs.subtotal == net(str(Decimal("0.0392") * 24))
    organization = found[("organization", 7, october)]
    assert (organization.user_id, organization.organization_id, organization.tax_rate) == (12, 7, Decimal("19.00"))
    assert organization.subtotal == net("3.30")
    assert found[("user", 13, october)].tax_rate == Decimal("0.00")

    # Usage marked billed with its invoice; November's untouched; one invoice.issued per invoice.
    with engine.connect() as conn:
        per_invoice: dict[int | None, int] = dict(
            conn.execute(
                sa.select(usage_records.c.invoice_id, sa.func.count()).group_by(usage_records.c.invoice_id)
            ).all()
        )
        events = [parse_envelope(r.envelope) for r in conn.execute(sa.select(outbox).order_by(outbox.c.id))]
    assert per_invoice == {
        mine.id: 894,
        theirs.id: 24,
        organization.id: 300,
        found[("user", 13, october)].id: 10,
        None: 5,
    }
    assert [e.event_type for e in events] == ["invoice.issued"] * 4
    payload = billing_events.InvoiceIssued()
    events[1].payload.Unpack(payload)
    assert (payload.invoice_number, payload.total, payload.usage_record_count) == (
        "INV-2026-10-0002",
        str(mine.total),
        894,
    )

    # Twice: nothing changes.
    again = run_invoices(engine, october, RULES)
    assert (again.issued, again.already_invoiced) == ([], 0)
    assert invoice_rows(engine) == found

    # Late usage for October (server 2 ran 5 more hours of cx32, reported after the run), then November.
    apply(engine, hours(2, OCTOBER + timedelta(hours=150), 5, user_id=10, product="cx32"))
    assert run_invoices(engine, october, RULES).issued == []
    clock.set(datetime(2026, 12, 1, 2, 0, tzinfo=UTC))
    november = run_invoices(engine, date(2026, 11, 1), RULES)
    assert [(i.account.account_id, i.invoice_number) for i in november.issued] == [(10, "INV-2026-11-0001")]
    lines = items_of(engine, november.issued[0].invoice_id)
    assert [(li.resource_id, li.quantity, li.total, li.metadata["adjustment"]) for li in lines] == [
        (6, Decimal(5), net("0.03"), False),
        (2, Decimal(5), net("0.605") - net("0.55"), True),
    ]
    assert lines[1].description.startswith("Adjustment for late usage")


@pytest.mark.parametrize("batch", [200, 7, 1])
def test_concurrent_runs_issue_each_account_once_with_gapless_numbers(
    billing_db: tuple[str, Engine], batch: int
) -> None:
    """Three runs of the same period at once, with batches that hold all the accounts, batches
    that interleave (7: one run's batch overlaps another's at different boundaries), and one
    account per unit of work."""
    from concurrent.futures import ThreadPoolExecutor

    _, engine = billing_db
    apply(engine, [e for user in range(100, 140) for e in hours(user, OCTOBER, 3, user_id=user)])
    with ThreadPoolExecutor(3) as pool:
        reports = list(
            pool.map(
                lambda n: run_invoices(engine, date(2026, 10, 1), RULES, batch=batch + n % 2 * (batch > 1)),
                range(3),
            )
        )
    issued = [i for r in reports for i in r.issued]
    assert len(issued) == 40
    with engine.connect() as conn:
        numbers = sorted(conn.execute(sa.select(invoices.c.invoice_number)).scalars())
        accounts = conn.execute(sa.select(sa.func.count(sa.distinct(invoices.c.account_id)))).scalar_one()
    assert numbers == [f"INV-2026-10-{n:04d}" for n in range(1, 41)]
    assert accounts == 40
