"""An account's statement: every document that moved money between the account and the
platform — invoices issued, payments received, refunds made (credit notes), invoices
cancelled, credits granted — in date order, and where the account stands.

Where it stands, in the account's currency:

- ``outstanding``: what its open invoices (``pending``, ``overdue``) still have due — their
  totals less what their payments already paid;
- ``credits_available``: its unexpired credits' balances (they pay future invoices first);
- ``balance``: ``outstanding - credits_available`` (negative: the account is in credit).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

OPEN = ("pending", "overdue")
ZERO = Decimal("0.00")


@dataclass(frozen=True)
class StatementInvoice:
    number: str
    status: str
    total: Decimal
    amount_paid: Decimal
    issued_at: datetime
    cancelled_at: datetime | None = None


@dataclass(frozen=True)
class StatementMovement:
    """A payment or a refund of one of the account's invoices."""

    kind: str  # payment | refund
    invoice_number: str
    amount: Decimal
    method: str
    reference: str
    occurred_at: datetime


@dataclass(frozen=True)
class StatementCredit:
    kind: str
    amount: Decimal
    balance: Decimal
    description: str
    granted_at: datetime
    expired: bool


@dataclass(frozen=True)
class Entry:
    at: datetime
    kind: str  # invoice | payment | refund | cancellation | credit
    document: str  # invoice number, payment reference, credit note number
    invoice_number: str
    amount: Decimal
    description: str


@dataclass(frozen=True)
class Statement:
    currency: str
    entries: list[Entry]
    invoiced: Decimal
    paid: Decimal
    refunded: Decimal
    outstanding: Decimal
    credits_available: Decimal

    @property
    def balance(self) -> Decimal:
        return self.outstanding - self.credits_available


def statement(
    currency: str,
    invoices: Iterable[StatementInvoice],
    movements: Iterable[StatementMovement],
    credits: Iterable[StatementCredit],
) -> Statement:
    invoices, movements, credits = list(invoices), list(movements), list(credits)
    entries = [Entry(i.issued_at, "invoice", i.number, i.number, i.total, f"Invoice {i.number}") for i in invoices]
    entries += [
        Entry(i.cancelled_at, "cancellation", i.number, i.number, i.total, f"Invoice {i.number} cancelled")
        for i in invoices
        if i.status == "cancelled" and i.cancelled_at is not None
    ]
    for m in movements:
        if m.kind == "payment":
            text = f"Payment of invoice {m.invoice_number} by {m.method.replace('_', ' ')}"
        else:
            text = f"Refund of invoice {m.invoice_number} to the {m.method.replace('_', ' ')}"
        entries.append(Entry(m.occurred_at, m.kind, m.reference, m.invoice_number, m.amount, text))
    entries += [Entry(c.granted_at, "credit", "", "", c.amount, c.description or f"{c.kind} credit") for c in credits]
    entries.sort(key=lambda e: (e.at, ("invoice", "payment", "refund", "cancellation", "credit").index(e.kind)))
    return Statement(
        currency=currency,
        entries=entries,
        invoiced=sum((i.total for i in invoices if i.status != "cancelled"), ZERO),
        paid=sum((m.amount for m in movements if m.kind == "payment"), ZERO),
        refunded=sum((m.amount for m in movements if m.kind == "refund"), ZERO),
        outstanding=sum((max(i.total - i.amount_paid, ZERO) for i in invoices if i.status in OPEN), ZERO),
        credits_available=sum((c.balance for c in credits if not c.expired), ZERO),
    )
