"""Reconciliation's rules: what a difference is, and how issued invoices and ingested usage
are compared with the ones rebuilt from the streams. Plain Python over the records the
reconciliation reads (``adapters/reconciliation.py``); the comparison of a whole period is
``service_layer/reconciliation.py``, the replay and the command ``entrypoints/reconcile.py``.

A period whose usage records the **retention removed** (billed on invoices of periods that ended
more than CP_USAGE_RETENTION_DAYS ago; ``usage_records_removed`` names them) cannot be recomputed
from billing's rows any more: its invoices are checked on their own (numbers in issue order, the
lines adding up to the subtotal, the tax, the total) and the report says so.

A period is **invoiced** once one invoice of it has been issued: its invoices are diffed field
by field and line by line against the recomputation. A period with no invoice issued yet is
**open** (the current month, or a month whose run has not happened): there is nothing to diff
an invoice against, so the usage billing ingested for it is compared with the usage in the
streams, record by record, and the report says the period is open.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from billing_service.domain.accounts import Account
from billing_service.domain.invoice import InvoiceDraft, next_month
from billing_service.domain.pricing import Line, MeteredUsage

QUANTITY = Decimal("0.0001")
UNIT_PRICE = Decimal("0.000001")
CENT = Decimal("0.01")
NONE = "—"


@dataclass(frozen=True)
class UsageRecord:
    """One usage record (one event), live or rebuilt, as reconciliation reads it."""

    event_id: bytes
    account: Account
    user_id: int
    usage: MeteredUsage
    invoice_id: int | None = None
    """The invoice the live record is billed on; None when unbilled, and for rebuilt records."""


@dataclass(frozen=True)
class Difference:
    account: str
    invoice_number: str
    line: str
    field: str
    issued: str
    recomputed: str


@dataclass
class ReconcileReport:
    period: date
    issued_invoices: int = 0
    recomputed_invoices: int = 0
    events_replayed: int = 0
    dead_lettered: int = 0
    replay_seconds: float = 0.0
    open: bool = False
    """No invoice of the period is issued yet: its ingested usage was compared instead."""
    usage_compared: int = 0
    """Of an open period: the usage records (live and rebuilt, by event) compared."""
    usage_removed: bool = False
    """The retention removed the period's billed usage: its invoices were checked on their own figures."""
    differences: list[Difference] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.differences and not self.dead_lettered


def period_bounds(period: date) -> tuple[datetime, datetime]:
    """The period's first and first-after instants, naive UTC (as the tables store them)."""
    return datetime.combine(period, datetime.min.time()), datetime.combine(next_month(period), datetime.min.time())


def naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def text(value: Any) -> str:
    if value is None:
        return NONE
    if isinstance(value, datetime):
        return naive(value).isoformat(sep=" ")
    return str(value)


def same(a: Any, b: Any) -> bool:
    if isinstance(a, Decimal) or isinstance(b, Decimal):
        try:
            return Decimal(a) == Decimal(b)
        except (TypeError, ValueError, ArithmeticError):
            return False
    return bool(a == b)


def account_label(account: Account) -> str:
    return f"{account.account_type} {account.account_id}"


def _usage_label(record: UsageRecord) -> str:
    usage = record.usage
    return f"usage {usage.resource_type} #{usage.resource_id} {text(usage.period_start)}"


# -- an invoiced period ----------------------------------------------------------------------


def diff_usage(
    account: str,
    number: str,
    invoice_id: int,
    recomputed: Sequence[UsageRecord],
    on_invoice: set[bytes],
    links: dict[bytes, int | None],
    numbers: dict[int, str],
) -> list[Difference]:
    """The usage the invoice should bill (rebuilt) against the live usage records billed with it."""
    found = []
    expected = {r.event_id: r for r in recomputed}
    for event_id, record in expected.items():
        if event_id in on_invoice:
            continue
        if event_id not in links:
            where = "no usage row"
        elif links[event_id] is None:
            where = "usage row not billed"
        else:
            billed_on = links[event_id]
            where = f"billed on {numbers.get(billed_on, f'invoice {billed_on}') if billed_on else '?'}"
        found.append(
            Difference(account, number, _usage_label(record), "usage row", where, f"{uuid.UUID(bytes=event_id)}")
        )
    for event_id in sorted(on_invoice - set(expected)):
        label = f"usage event {uuid.UUID(bytes=event_id)}"
        found.append(
            Difference(account, number, label, "usage row", f"billed with invoice {invoice_id}", "not in the streams")
        )
    return found


LineKey = tuple[str, str, int, str, str, Decimal, Decimal | None, bool]


def _line_label(key: LineKey) -> str:
    month, resource_type, resource_id, _metric, product, hourly, _cap, adjustment = key
    label = f"{resource_type} #{resource_id} {product} {month} @{hourly}"
    return f"{label} (adjustment)" if adjustment else label


def _issued_key(item: Any) -> LineKey:
    meta = item.metadata or {}
    cap = meta.get("price_monthly_gross")
    return (
        str(meta.get("month", "")),
        str(item.resource_type),
        int(item.resource_id or 0),
        str(meta.get("metric_type", "")),
        str(meta.get("product", "")),
        Decimal(str(meta.get("price_hourly_gross", "0"))),
        None if cap is None else Decimal(str(cap)),
        bool(meta.get("adjustment", False)),
    )


def _recomputed_key(line: Line) -> LineKey:
    k = line.key
    return (
        f"{k.month:%Y-%m}",
        k.resource_type,
        k.resource_id,
        k.metric_type,
        k.product,
        k.price_hourly,
        k.price_monthly,
        line.adjustment,
    )


def _line_fields(line: Line) -> dict[str, Any]:
    return {
        "description": line.description,
        "quantity": line.quantity.quantize(QUANTITY),
        "unit_price": line.unit_price.quantize(UNIT_PRICE),
        "total": line.total.quantize(CENT),
        "usage_period_start": naive(line.period_start),
        "usage_period_end": naive(line.period_end),
    }


def diff_invoice(
    account: str,
    number: str,
    expected_number: str,
    period: date,
    invoice: Any | None,
    items: Sequence[Any],
    draft: InvoiceDraft | None,
) -> list[Difference]:
    """An issued invoice (an ``invoices`` record and its ``invoice_items``) against its recomputation."""
    found: list[Difference] = []

    def differ(line: str, name: str, issued: Any, recomputed: Any) -> None:
        if not same(issued, recomputed):
            found.append(Difference(account, number, line, name, text(issued), text(recomputed)))

    if invoice is None and draft is None:
        return found
    if invoice is None:
        assert draft is not None
        differ("—", "invoice", "not issued", f"total {draft.totals.total} {draft.currency}")
    elif draft is None:
        differ("—", "invoice", f"total {invoice.total} {invoice.currency}", "nothing to bill")
    if invoice is None or draft is None:
        return found

    t = draft.totals
    expected: dict[str, Any] = {
        "invoice_number": expected_number,
        "user_id": draft.user_id,
        "currency": draft.currency,
        "subtotal": t.subtotal,
        "tax_rate": t.tax_rate,
        "tax_amount": t.tax_amount,
        "credits_applied": t.credits_applied,
        "total": t.total,
        "billing_period_end": next_month(period) - timedelta(days=1),
        "due_date": draft.due,
        "notes": t.note or None,
    }
    for name, value in expected.items():
        differ("—", name, getattr(invoice, name), value)

    issued_lines = {_issued_key(i): i for i in items}
    recomputed_lines = {_recomputed_key(line): line for line in draft.lines}
    for key in sorted(set(issued_lines) | set(recomputed_lines), key=lambda k: tuple(map(str, k))):
        label = _line_label(key)
        item, line = issued_lines.get(key), recomputed_lines.get(key)
        if item is None:
            assert line is not None
            differ(label, "line", None, f"{line.quantity.normalize()} x {line.unit_price} = {line.total}")
        elif line is None:
            differ(label, "line", f"{item.quantity.normalize()} x {item.unit_price} = {item.total}", None)
        else:
            for name, value in _line_fields(line).items():
                differ(label, name, getattr(item, name), value)
    return found


def diff_invoice_alone(
    account: str, number: str, expected_number: str, invoice: Any, items: Sequence[Any]
) -> list[Difference]:
    """An issued invoice whose usage the retention removed, against its own figures: its number,
    its lines adding up to the subtotal, the tax at its rate, the total after credits."""
    found: list[Difference] = []

    def differ(name: str, issued: Any, expected: Any) -> None:
        if not same(issued, expected):
            found.append(Difference(account, number, NONE, name, text(issued), text(expected)))

    subtotal = sum((Decimal(i.total) for i in items), Decimal("0.00"))
    differ("invoice_number", invoice.invoice_number, expected_number)
    differ("subtotal", invoice.subtotal, subtotal)
    tax = (Decimal(invoice.subtotal) * Decimal(invoice.tax_rate or 0) / 100).quantize(CENT, rounding=ROUND_HALF_UP)
    differ("tax_amount", invoice.tax_amount, tax)
    differ("total", invoice.total, Decimal(invoice.subtotal) + tax - Decimal(invoice.credits_applied or 0))
    return found


# -- an open period --------------------------------------------------------------------------

_USAGE_FIELDS = (
    "resource_type",
    "resource_id",
    "metric_type",
    "product",
    "period_start",
    "period_end",
    "quantity",
    "price_hourly",
    "price_monthly",
    "currency",
)


def diff_open_usage(live: Iterable[UsageRecord], rebuilt: Iterable[UsageRecord]) -> tuple[int, list[Difference]]:
    """An open period's ingested usage (``live``) against the usage in the streams (``rebuilt``),
    record by record (matched by event id): how many records were compared, and every record
    missing on one side or differing in its account, resource, product, quantity, prices or
    hours. No invoice exists yet, so a difference names the record, not an invoice."""
    ingested = {r.event_id: r for r in live}
    streamed = {r.event_id: r for r in rebuilt}
    found: list[Difference] = []
    for event_id in sorted(set(ingested) | set(streamed)):
        mine, theirs = ingested.get(event_id), streamed.get(event_id)
        record = theirs or mine
        assert record is not None
        account, label = account_label(record.account), f"{_usage_label(record)} {uuid.UUID(bytes=event_id)}"
        if mine is None:
            found.append(Difference(account, NONE, label, "usage row", "no usage row", "in the streams"))
            continue
        if theirs is None:
            found.append(Difference(account, NONE, label, "usage row", "usage row", "not in the streams"))
            continue
        if mine.account != theirs.account:
            found.append(
                Difference(account, NONE, label, "account", account_label(mine.account), account_label(theirs.account))
            )
        for name in _USAGE_FIELDS:
            ours, expected = getattr(mine.usage, name), getattr(theirs.usage, name)
            if not same(ours, expected):
                found.append(Difference(account, NONE, label, name, text(ours), text(expected)))
    return len(set(ingested) | set(streamed)), found
