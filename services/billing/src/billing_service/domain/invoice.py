"""An invoice's figures from its lines, the tax decision and the account's credits.

subtotal = sum of lines (net, each already rounded to the cent); tax = subtotal x rate, rounded
to the cent half up; credits pay the gross amount (subtotal + tax), never below zero;
total = subtotal + tax - credits applied.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from billing_service.domain.accounts import BillingProfile
from billing_service.domain.credits import CreditBalance, apply_credits
from billing_service.domain.pricing import (
    HUNDRED,
    NO_TRAFFIC_PLAN,
    Line,
    MeteredUsage,
    TrafficTerms,
    month_of,
    price_adjustments,
    price_segments,
    to_cents,
)
from billing_service.domain.tax import TaxDecision, TaxTable


@dataclass(frozen=True)
class InvoiceFigures:
    subtotal: Decimal
    tax_rate: Decimal
    tax_amount: Decimal
    credits_applied: Decimal
    total: Decimal
    credit_applications: tuple[tuple[int, Decimal], ...]
    note: str


def figures(lines: Sequence[Line], tax: TaxDecision, credits: Iterable[CreditBalance], at: datetime) -> InvoiceFigures:
    subtotal = sum((line.total for line in lines), Decimal("0.00"))
    tax_amount = to_cents(subtotal * tax.rate / HUNDRED)
    gross = subtotal + tax_amount
    applications = tuple(apply_credits(gross, credits, at))
    applied = sum((amount for _, amount in applications), Decimal("0.00"))
    return InvoiceFigures(
        subtotal=subtotal,
        tax_rate=tax.rate,
        tax_amount=tax_amount,
        credits_applied=applied,
        total=gross - applied,
        credit_applications=applications,
        note=tax.note,
    )


def invoice_number(period: date, sequence: int) -> str:
    """``INV-YYYY-MM-NNNN``: the billing period's month and its gapless sequence number."""
    return f"INV-{period:%Y-%m}-{sequence:04d}"


def parse_period(text: str) -> date:
    """``YYYY-MM`` -> the first day of that month."""
    try:
        year, month = text.split("-")
        return date(int(year), int(month), 1)
    except ValueError as exc:
        raise ValueError(f"a billing period is YYYY-MM, got {text!r}") from exc


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


@dataclass(frozen=True)
class InvoiceTerms:
    """The invoicing rules of the settings (config.BillingRules.invoice_terms()): the tax table,
    the VAT included in the usage events' prices, and the days from issue to due date; and the
    ``traffic`` plan, which the invoice run (and reconciliation) read from ``pricing_plans``."""

    tax_table: TaxTable
    included_tax_rate: Decimal
    payment_terms_days: int
    traffic: TrafficTerms = NO_TRAFFIC_PLAN


@dataclass(frozen=True)
class InvoiceDraft:
    """What an invoice says, before it has a number: the same for the run and for reconciliation."""

    lines: list[Line]
    totals: InvoiceFigures
    currency: str
    user_id: int
    due: date


def draft_invoice(
    period: date,
    unbilled: Sequence[MeteredUsage],
    billed_before: Sequence[MeteredUsage],
    profile: BillingProfile | None,
    first_user_id: int,
    currency: str,
    credit_balances: Sequence[CreditBalance],
    now: datetime,
    terms: InvoiceTerms,
    invoiced_months: Collection[date],
) -> InvoiceDraft:
    """Price an account's unbilled usage up to the end of ``period`` (a month's first day).

    ``unbilled``: usage before the period's end not on any invoice yet. Usage of an earlier
    month the account was invoiced for (``invoiced_months``) is late usage, charged as
    adjustments against ``billed_before`` (the account's billed usage of the same resources
    and months); usage of an earlier month never invoiced is billed as it would have been, in
    lines of its own month. ``profile``: what billing knows of the account (country, VAT id,
    owner). Credits are applied at ``now``.
    """
    start = datetime.combine(period, datetime.min.time(), tzinfo=UTC)
    invoiced = set(invoiced_months)
    current = [u for u in unbilled if u.period_start >= start or month_of(u.period_start) not in invoiced]
    late = [u for u in unbilled if u.period_start < start and month_of(u.period_start) in invoiced]
    lines: list[Line] = price_segments(current, terms.included_tax_rate, terms.traffic)
    if late:
        lines += price_adjustments(late, billed_before, terms.included_tax_rate, terms.traffic)
    tax = terms.tax_table.decide(profile.country if profile else None, profile.tax_id if profile else None)
    totals = figures(lines, tax, credit_balances, now)
    user_id = (profile.owner_user_id if profile and profile.owner_user_id else None) or first_user_id
    due = now.date() + timedelta(days=terms.payment_terms_days)
    return InvoiceDraft(lines, totals, currency, user_id, due)
