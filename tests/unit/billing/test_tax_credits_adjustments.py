"""Tax by country, credits oldest-expiring first, late usage as adjustments, invoice numbers."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from billing_service.domain.credits import CreditBalance, apply_credits
from billing_service.domain.invoice import figures, invoice_number, next_month, parse_period
from billing_service.domain.pricing import MeteredUsage, price_adjustments, price_segments
from billing_service.domain.tax import OUTSIDE_EU_NOTE, REVERSE_CHARGE_NOTE, TaxDecision, TaxTable

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def test_tax_follows_the_customers_country_with_reverse_charge_for_an_eu_business_abroad() -> None:
    table = TaxTable(seller_country="DE")
    assert table.decide("AT", None) == TaxDecision(Decimal(20))
    assert table.decide("DE", "DE123456789") == TaxDecision(Decimal(19))
    assert table.decide("FR", "FR12345678901") == TaxDecision(Decimal("0.00"), REVERSE_CHARGE_NOTE, True)
    assert table.decide("US", None) == TaxDecision(Decimal("0.00"), OUTSIDE_EU_NOTE)
    assert table.decide(None, None) == TaxDecision(Decimal(19))


def test_tax_table_is_read_from_a_file_and_checked(tmp_path: Path) -> None:
    good = tmp_path / "rates.json"
    good.write_text(json.dumps({"de": "19", "at": 20}))
    assert TaxTable.from_file(good, "de").decide("AT", None).rate == Decimal(20)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"DE": "190"}))
    with pytest.raises(ValueError, match="percentage"):
        TaxTable.from_file(bad, "DE")
    with pytest.raises(ValueError, match="seller"):
        TaxTable(seller_country="US")


def test_credits_pay_oldest_expiring_first_and_never_more_than_due() -> None:
    credits = [
        CreditBalance(1, Decimal("10.00"), None, NOW - timedelta(days=30)),
        CreditBalance(2, Decimal("5.00"), NOW + timedelta(days=60), NOW),
        CreditBalance(3, Decimal("4.00"), NOW + timedelta(days=5), NOW),
        CreditBalance(4, Decimal("50.00"), NOW - timedelta(seconds=1), NOW - timedelta(days=90)),  # expired
        CreditBalance(5, Decimal("0.00"), NOW + timedelta(days=1), NOW),
    ]
    assert apply_credits(Decimal("12.50"), credits, NOW) == [
        (3, Decimal("4.00")),
        (2, Decimal("5.00")),
        (1, Decimal("3.50")),
    ]
    assert apply_credits(Decimal("0"), credits, NOW) == []
    assert apply_credits(Decimal("-3"), credits, NOW) == []


def hour(month: datetime, n: int, product: str = "cx22", quantity: str = "1") -> MeteredUsage:
    start = month + timedelta(hours=n)
    return MeteredUsage(
        "server",
        7,
        "compute_hours",
        product,
        start,
        start + timedelta(hours=1),
        Decimal(quantity),
        Decimal("0.0060"),
        Decimal("3.79"),
        "EUR",
        "web-1",
        "fsn1",
    )


def test_late_usage_is_charged_as_the_difference_the_cap_allows() -> None:
    october = datetime(2026, 10, 1, tzinfo=UTC)
    billed = [hour(october, n) for n in range(600)]  # 3.60 gross, under the cap
    late = [hour(october, n) for n in range(600, 700)]  # 4.20 gross in all: capped at 3.79
    first = price_segments(billed, Decimal(0))
    assert [line.total for line in first] == [Decimal("3.60")]
    adjustment = price_adjustments(late, billed, Decimal(0))
    assert [(a.total, a.adjustment, a.capped) for a in adjustment] == [(Decimal("0.19"), True, True)]
    assert adjustment[0].description.startswith("Adjustment for late usage")
    # Later still: the cap is reached, nothing more is owed.
    again = price_adjustments([hour(october, 701)], billed + late, Decimal(0))
    assert [a.total for a in again] == [Decimal("0.00")]


def test_credits_never_take_the_total_below_zero() -> None:
    lines = price_segments([hour(datetime(2026, 10, 1, tzinfo=UTC), n) for n in range(100)], Decimal(0))
    invoice = figures(lines, TaxDecision(Decimal(19)), [CreditBalance(1, Decimal("100.00"), None, NOW)], NOW)
    assert (invoice.subtotal, invoice.tax_amount, invoice.credits_applied, invoice.total) == (
        Decimal("0.60"),
        Decimal("0.11"),
        Decimal("0.71"),
        Decimal("0.00"),
    )
    assert invoice.credit_applications == ((1, Decimal("0.71")),)


def test_invoice_numbers_and_periods() -> None:
    assert invoice_number(date(2026, 10, 1), 7) == "INV-2026-10-0007"
    assert parse_period("2026-12") == date(2026, 12, 1)
    assert next_month(date(2026, 12, 1)) == date(2027, 1, 1)
    with pytest.raises(ValueError, match="YYYY-MM"):
        parse_period("October")
