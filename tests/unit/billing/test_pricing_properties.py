"""For random server lifetimes and type changes inside a month, the domain's invoice equals a
plainly written reference computation to the cent and never exceeds the monthly caps."""

from __future__ import annotations

import itertools
from calendar import monthrange
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from billing_service.domain.invoice import figures
from billing_service.domain.pricing import MeteredUsage, price_segments
from billing_service.domain.tax import TaxDecision

# (hourly, monthly) gross prices: some types reach their cap within a month, some cannot.
TYPES = {
    "cx22": (Decimal("0.0060"), Decimal("3.79")),
    "cx32": (Decimal("0.0110"), Decimal("6.80")),
    "cpx41": (Decimal("0.0392"), Decimal("24.49")),
    "ccx63": (Decimal("0.7890"), Decimal("479.99")),
    "odd": (Decimal("0.123457"), Decimal("99.99")),
}
INCLUDED = Decimal("19")


@st.composite
def month_of_servers(draw: st.DrawFn) -> tuple[datetime, list[list[tuple[str, int, int]]]]:
    """A month and, per server, its consecutive (type, first hour, end hour) segments inside it."""
    year = draw(st.integers(2024, 2027))
    month = draw(st.integers(1, 12))
    hours = monthrange(year, month)[1] * 24
    servers = []
    for _ in range(draw(st.integers(1, 4))):
        start = draw(st.integers(0, hours - 1))
        end = draw(st.integers(start + 1, hours))
        cuts = sorted(set(draw(st.lists(st.integers(start + 1, end), max_size=4))) - {end})
        bounds = [start, *cuts, end]
        server = [(draw(st.sampled_from(sorted(TYPES))), a, b) for a, b in itertools.pairwise(bounds)]
        servers.append(server)
    return datetime(year, month, 1, tzinfo=UTC), servers


def usage_events(month: datetime, servers: list[list[tuple[str, int, int]]]) -> list[MeteredUsage]:
    """What metering sends: one event per server per started hour, quantity 1, the type's prices."""
    events = []
    for server_id, server in enumerate(servers, start=1):
        for product, first, end in server:
            hourly, monthly = TYPES[product]
            for hour in range(first, end):
                start = month + timedelta(hours=hour)
                events.append(
                    MeteredUsage(
                        "server",
                        server_id,
                        "compute_hours",
                        product,
                        start,
                        start + timedelta(hours=1),
                        Decimal(1),
                        hourly,
                        monthly,
                        "EUR",
                    )
                )
    return events


def reference_subtotal(servers: list[list[tuple[str, int, int]]]) -> Decimal:
    """Count each server's hours per type, charge each type hour by hour until its cap, then net it."""
    subtotal = Decimal(0)
    for server in servers:
        hours_by_type: dict[str, int] = {}
        for product, first, end in server:
            hours_by_type[product] = hours_by_type.get(product, 0) + (end - first)
        for product, count in hours_by_type.items():
            hourly, monthly = TYPES[product]
            charge = Decimal(0)
            for _ in range(count):
                charge += hourly
            charge = min(charge, monthly)
            subtotal += (charge * 100 / (100 + INCLUDED)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return subtotal


@settings(max_examples=300, deadline=None)
@given(month_of_servers(), st.sampled_from([Decimal(0), Decimal(19), Decimal("25.5")]))
def test_invoice_equals_the_reference_and_never_exceeds_the_caps(
    drawn: tuple[datetime, list[list[tuple[str, int, int]]]], tax_rate: Decimal
) -> None:
    month, servers = drawn
    lines = price_segments(usage_events(month, servers), INCLUDED)
    invoice = figures(lines, TaxDecision(tax_rate), [], month)

    expected_subtotal = reference_subtotal(servers)
    assert invoice.subtotal == expected_subtotal
    expected_tax = (expected_subtotal * tax_rate / 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    assert invoice.tax_amount == expected_tax
    assert invoice.total == expected_subtotal + expected_tax

    for line in lines:
        assert line.total.as_tuple().exponent == -2
        _hourly, monthly = TYPES[line.key.product]
        assert line.total <= (monthly * 100 / (100 + INCLUDED)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    for server_id, server in enumerate(servers, start=1):
        caps = sum((TYPES[p][1] for p in {product for product, _, _ in server}), Decimal(0))
        billed = sum((line.total for line in lines if line.key.resource_id == server_id), Decimal(0))
        assert billed <= caps
