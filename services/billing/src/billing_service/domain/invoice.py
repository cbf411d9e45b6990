"""An invoice's figures from its lines, the tax decision and the account's credits.

subtotal = sum of lines (net, each already rounded to the cent); tax = subtotal x rate, rounded
to the cent half up; credits pay the gross amount (subtotal + tax), never below zero;
total = subtotal + tax - credits applied.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from billing_service.domain.credits import CreditBalance, apply_credits
from billing_service.domain.pricing import HUNDRED, Line, to_cents
from billing_service.domain.tax import TaxDecision


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
