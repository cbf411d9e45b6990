"""Outgoing traffic priced by the ``traffic`` plan: per server and month, the included TB free and
each TB beyond at the plan's price, pro rata; for random hourly GB the line equals a plain
reference, and late traffic billed as an adjustment adds up to the charge of the whole month."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from billing_service.domain.pricing import (
    NO_TRAFFIC_PLAN,
    MeteredUsage,
    TrafficTerms,
    price_adjustments,
    price_segments,
)
from billing_service.domain.pricing_plans import PlanTerms, PricingPlan, traffic_terms

OCTOBER = datetime(2026, 10, 1, tzinfo=UTC)
PLAN = TrafficTerms(20, Decimal("1.00"))


def _traffic(hour: int, gb: Decimal, server_id: int = 7) -> MeteredUsage:
    start = OCTOBER + timedelta(hours=hour)
    return MeteredUsage(
        "server", server_id, "bandwidth_gb", "traffic", start, start + timedelta(hours=1), gb, Decimal(0), None, "EUR"
    )


def _reference(total_gb: Decimal, included_tax: Decimal, plan: TrafficTerms = PLAN) -> Decimal:
    beyond_tb = max(total_gb / 1024 - plan.included_tb, Decimal(0))
    gross = beyond_tb * plan.price_per_tb
    return (gross / (1 + included_tax / 100)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


gigabytes = st.integers(0, 10_000_000_000).map(lambda n: Decimal(n).scaleb(-6))  # up to 10,000 GB an hour


@settings(max_examples=300, deadline=None)
@given(st.lists(gigabytes, min_size=1, max_size=40), st.sampled_from([Decimal(0), Decimal(19)]))
def test_a_traffic_line_is_the_reference(hours: list[Decimal], included_tax: Decimal) -> None:
    usage = [_traffic(n, gb) for n, gb in enumerate(hours)]
    (line,) = price_segments(usage, included_tax, PLAN)
    assert line.total == _reference(sum(hours, Decimal(0)), included_tax)
    assert line.key.metric_type == "bandwidth_gb" and not line.capped


@settings(max_examples=200, deadline=None)
@given(st.lists(gigabytes, min_size=2, max_size=30), st.data())
def test_late_traffic_adjustments_add_up_to_the_whole_month(hours: list[Decimal], data: st.DataObject) -> None:
    usage = [_traffic(n, gb) for n, gb in enumerate(hours)]
    cut = data.draw(st.integers(1, len(usage) - 1))
    billed, late = usage[:cut], usage[cut:]
    (first,) = price_segments(billed, Decimal(19), PLAN)
    (adjustment,) = price_adjustments(late, billed, Decimal(19), PLAN)
    assert adjustment.adjustment and adjustment.description.startswith("Adjustment for late usage: Outgoing traffic")
    assert first.total + adjustment.total == _reference(sum(hours, Decimal(0)), Decimal(19))


def test_within_the_included_traffic_the_line_is_zero_and_without_a_plan_traffic_is_free() -> None:
    usage = [_traffic(0, Decimal(20 * 1024))]  # exactly the 20 TB included
    (line,) = price_segments(usage, Decimal(19), PLAN)
    assert line.total == Decimal("0.00") and line.quantity == 0
    (free,) = price_segments([_traffic(0, Decimal(900_000))], Decimal(19), NO_TRAFFIC_PLAN)
    assert free.total == Decimal("0.00")
    # Each server has its own included traffic.
    two = price_segments([_traffic(0, Decimal(21 * 1024), 7), _traffic(0, Decimal(21 * 1024), 8)], Decimal(0), PLAN)
    assert [line.total for line in two] == [Decimal("1.00"), Decimal("1.00")]


def test_the_active_traffic_plan_is_the_terms() -> None:
    def plan(code: str, active: bool, tb: int, price: str) -> PricingPlan:
        terms = PlanTerms(code, "bandwidth", None, None, None, tb, Decimal(price), "EUR", active)
        return PricingPlan(id=1, code=code, terms=terms)

    assert traffic_terms([plan("traffic", True, 20, "1.00")]) == PLAN
    assert traffic_terms([plan("traffic", False, 20, "1.00")]) == NO_TRAFFIC_PLAN
    assert traffic_terms([plan("other", True, 5, "9.00")]) == NO_TRAFFIC_PLAN
