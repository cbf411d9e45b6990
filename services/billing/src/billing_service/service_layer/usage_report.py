"""An account's usage of a month — the seed's ``calculate_monthly_usage`` (per resource and
metric: total quantity and cost) — priced as the invoice would price it; for the running month
a month-to-date estimate of its invoice (before credits, which are shown beside it).

Every usage row of the month counts, billed or not: for a past month the lines are the month's
invoice lines (adjustments of late usage aside), for the current month what was used so far.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from billing_service.adapters.tables import billing_accounts, usage_records
from billing_service.config import BillingRules
from billing_service.domain.invoice import next_month
from billing_service.domain.pricing import HUNDRED, Line, MeteredUsage, month_of, price_segments, to_cents
from billing_service.service_layer import credit_grants
from billing_service.service_layer.invoice_run import Account, metered
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


def monthly_usage(engine: Engine, account: Account, month_start: datetime | None, rules: BillingRules) -> MonthlyUsage:
    now = utcnow()
    first = month_of(month_start or now)
    start = datetime.combine(first, datetime.min.time())
    end = datetime.combine(next_month(first), datetime.min.time())
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(usage_records)
            .where(account.usage_filter(), usage_records.c.recorded_at >= start, usage_records.c.recorded_at < end)
            .order_by(usage_records.c.id)
        ).all()
        profile = conn.execute(
            sa.select(billing_accounts).where(
                billing_accounts.c.account_type == account.account_type,
                billing_accounts.c.account_id == account.account_id,
            )
        ).first()
    summaries: dict[tuple[str, int, str], list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    names: dict[tuple[str, int, str], str] = {}
    usages: list[MeteredUsage] = []
    for row in rows:
        key = (row.resource_type, row.resource_id, row.metric_type)
        summaries[key][0] += row.quantity
        summaries[key][1] += row.total_cost or Decimal(0)
        names[key] = str((row.metadata or {}).get("resource_name", ""))
        usages.append(metered(row))
    lines = price_segments(usages, rules.billing_included_tax_rate)
    currency = rows[0].currency if rows else "EUR"
    tax = rules.tax_table().decide(profile.country if profile else None, profile.tax_id if profile else None)
    subtotal = sum((line.total for line in lines), Decimal("0.00"))
    tax_amount = to_cents(subtotal * tax.rate / HUNDRED)
    organization = account.account_id if account.account_type == "organization" else None
    user_id = account.account_id if account.account_type == "user" else 0
    _, remaining = credit_grants.list_for(engine, user_id, organization)
    return MonthlyUsage(
        month=start,
        estimate=start <= now.replace(tzinfo=None) < end,
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
        credits_available=remaining.get(currency, Decimal("0.00")),
    )
