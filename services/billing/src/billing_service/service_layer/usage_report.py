"""An account's usage of a month — the seed's ``calculate_monthly_usage`` (per resource and
metric: total quantity and cost) — priced as the invoice would price it; for the running month
a month-to-date estimate of its invoice (before credits, which are shown beside it).

Every usage row of the month counts, billed or not: for a past month the lines are the month's
invoice lines (adjustments of late usage aside), for the current month what was used so far.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from billing_service.domain.accounts import Account
from billing_service.domain.invoice import InvoiceTerms, next_month
from billing_service.domain.pricing import HUNDRED, Line, month_of, price_segments, to_cents
from billing_service.domain.pricing_plans import traffic_terms
from billing_service.service_layer.ports import AbstractUnitOfWork
from cpshared.clock import utcnow


@dataclass(frozen=True)
class UsageSummary:
    resource_type: str
    resource_id: int
    resource_name: str
    metric_type: str
    total_quantity: Decimal
    total_cost: Decimal


@dataclass(frozen=True)
class MonthlyUsage:
    month: datetime
    estimate: bool
    usage: list[UsageSummary]
    lines: list[Line]
    currency: str
    subtotal: Decimal
    tax_rate: Decimal
    tax_amount: Decimal
    total: Decimal
    credits_available: Decimal


def monthly_usage(
    account: Account, month_start: datetime | None, terms: InvoiceTerms, uow: AbstractUnitOfWork
) -> MonthlyUsage:
    now = utcnow()
    first = month_of(month_start or now)
    start = datetime.combine(first, datetime.min.time(), tzinfo=UTC)
    end = datetime.combine(next_month(first), datetime.min.time(), tzinfo=UTC)
    with uow:
        records = uow.usage.of_period(account, start, end)
        profile = uow.accounts.profile(account)
        credits = uow.credits.of_account(account)
        traffic = traffic_terms(uow.pricing_plans.list("bandwidth", False))
    summaries: dict[tuple[str, int, str], list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    names: dict[tuple[str, int, str], str] = {}
    for record in records:
        usage = record.usage
        key = (usage.resource_type, usage.resource_id, usage.metric_type)
        summaries[key][0] += usage.quantity
        summaries[key][1] += record.total_cost
        names[key] = usage.resource_name
    lines = price_segments([r.usage for r in records], terms.included_tax_rate, traffic)
    currency = records[0].usage.currency if records else "EUR"
    tax = terms.tax_table.decide(profile.country if profile else None, profile.tax_id if profile else None)
    subtotal = sum((line.total for line in lines), Decimal("0.00"))
    tax_amount = to_cents(subtotal * tax.rate / HUNDRED)
    available = sum((c.balance for c in credits if c.currency == currency and not c.is_expired(now)), Decimal("0.00"))
    return MonthlyUsage(
        month=start.replace(tzinfo=None),
        estimate=start <= now < end,
        usage=[
            UsageSummary(k[0], k[1], names[k], k[2], v[0], v[1].quantize(Decimal("0.000001")))
            for k, v in sorted(summaries.items())
        ],
        lines=lines,
        currency=currency,
        subtotal=subtotal,
        tax_rate=tax.rate,
        tax_amount=tax_amount,
        total=subtotal + tax_amount,
        credits_available=available,
    )
