"""The invoice run: every account with unbilled usage up to the end of a period gets one invoice.

Each account is billed in its own transaction, which

1. finds no invoice of the account for the period (else the account is skipped: running a
   period twice changes nothing) and locks the account's unbilled usage up to the period's end;
2. prices the period's usage (pricing.price_segments) and, as adjustment lines, usage of
   earlier months that arrived after they were invoiced (pricing.price_adjustments);
3. taxes it by the account's country (tax.TaxTable) and applies its credits (locked, the
   soonest to expire first, balances decremented in the same statement that checks them);
4. takes the month's next invoice number: the ``invoice_sequences`` row of the period stays
   locked until the commit, so numbers follow each other without gaps (a rollback gives the
   number back before anyone else can take it);
5. writes the invoice, its lines, the credit applications, marks the usage billed with the
   invoice, and records ``invoice.issued`` in the outbox — all in one commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Connection, Engine, Row

from billing_service import SERVICE_NAME
from billing_service.adapters.tables import (
    billing_accounts,
    credit_applications,
    credits,
    invoice_items,
    invoice_sequences,
    invoices,
    usage_records,
)
from billing_service.config import BillingRules
from billing_service.domain.credits import CreditBalance
from billing_service.domain.invoice import InvoiceFigures, figures, invoice_number, next_month
from billing_service.domain.pricing import Line, MeteredUsage, month_of, price_adjustments, price_segments
from cloudplatform.billing.v1 import events_pb2 as billing_events
from cpshared.clock import utcnow
from cpshared.events import catalog
from cpshared.events.envelope import new_event
from cpshared.events.outbox import write_events
from cpshared.logging import get_logger
from cpshared.timestamps import as_utc, to_timestamp

log = get_logger(__name__)


@dataclass(frozen=True)
class Account:
    account_type: str  # "user" or "organization"
    account_id: int

    def usage_filter(self) -> sa.ColumnElement[bool]:
        if self.account_type == "organization":
            return usage_records.c.organization_id == self.account_id
        return sa.and_(usage_records.c.organization_id.is_(None), usage_records.c.user_id == self.account_id)

    def credit_filter(self) -> sa.ColumnElement[bool]:
        if self.account_type == "organization":
            return credits.c.organization_id == self.account_id
        return sa.and_(credits.c.organization_id.is_(None), credits.c.user_id == self.account_id)


@dataclass(frozen=True)
class IssuedInvoice:
    invoice_id: int
    invoice_number: str
    account: Account
    total: Decimal
    currency: str


@dataclass
class RunReport:
    period: date
    issued: list[IssuedInvoice] = field(default_factory=list)
    already_invoiced: int = 0


def _naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def metered(row: Row[Any]) -> MeteredUsage:
    """A ``usage_records`` row (live or rebuilt) as the pricing reads it."""
    meta = row.metadata or {}
    return MeteredUsage(
        resource_type=row.resource_type,
        resource_id=row.resource_id,
        metric_type=row.metric_type,
        product=row.product,
        period_start=as_utc(row.recorded_at),
        period_end=as_utc(row.period_end),
        quantity=row.quantity,
        price_hourly=row.unit_price if row.unit_price is not None else Decimal(0),
        price_monthly=row.price_monthly,
        currency=row.currency,
        resource_name=str(meta.get("resource_name", "")),
        location=str(meta.get("location", "")),
    )


def billable_accounts(conn: Connection, period_end: datetime) -> list[Account]:
    """Accounts with unbilled usage before ``period_end``, in a stable order."""
    rows = conn.execute(
        sa.select(usage_records.c.organization_id, usage_records.c.user_id)
        .where(usage_records.c.billed.is_(False), usage_records.c.recorded_at < period_end)
        .distinct()
    ).all()
    accounts = {
        Account("organization", r.organization_id) if r.organization_id else Account("user", r.user_id) for r in rows
    }
    return sorted(accounts, key=lambda a: (a.account_type, a.account_id))


def run_invoices(engine: Engine, period: date, rules: BillingRules) -> RunReport:
    """Bill every account with unbilled usage up to the end of ``period`` (a month's first day)."""
    period = month_of(period)
    end = datetime.combine(next_month(period), datetime.min.time())
    report = RunReport(period)
    with engine.connect() as conn:
        accounts = billable_accounts(conn, end)
    for account in accounts:
        with engine.begin() as conn:
            issued = _bill(conn, account, period, rules)
        if issued is None:
            report.already_invoiced += 1
        else:
            report.issued.append(issued)
    log.info("invoice_run", period=f"{period:%Y-%m}", issued=len(report.issued), skipped=report.already_invoiced)
    return report


def _bill(conn: Connection, account: Account, period: date, rules: BillingRules) -> IssuedInvoice | None:
    start = datetime.combine(period, datetime.min.time())
    end = datetime.combine(next_month(period), datetime.min.time())
    existing = conn.execute(
        sa.select(invoices.c.id).where(
            invoices.c.account_type == account.account_type,
            invoices.c.account_id == account.account_id,
            invoices.c.billing_period_start == period,
        )
    ).first()
    if existing is not None:
        return None
    unbilled = conn.execute(
        sa.select(usage_records)
        .where(account.usage_filter(), usage_records.c.billed.is_(False), usage_records.c.recorded_at < end)
        .order_by(usage_records.c.id)
        .with_for_update()
    ).all()
    if not unbilled:
        return None
    late_rows = [r for r in unbilled if r.recorded_at < start]
    profile = conn.execute(
        sa.select(billing_accounts).where(
            billing_accounts.c.account_type == account.account_type,
            billing_accounts.c.account_id == account.account_id,
        )
    ).first()
    currency = unbilled[0].currency
    now = utcnow()
    credit_rows = conn.execute(
        sa.select(credits)
        .where(account.credit_filter(), credits.c.balance > 0, credits.c.currency == currency)
        .order_by(credits.c.id)
        .with_for_update()
    ).all()
    draft = draft_invoice(
        period,
        [metered(r) for r in unbilled],
        _billed_usage_of(conn, account, late_rows) if late_rows else [],
        profile,
        unbilled[0].user_id,
        currency,
        [
            CreditBalance(c.id, c.balance, as_utc(c.expires_at) if c.expires_at else None, as_utc(c.created_at))
            for c in credit_rows
        ],
        now,
        rules,
    )
    lines, totals, user_id, due = draft.lines, draft.totals, draft.user_id, draft.due
    number = invoice_number(period, _next_number(conn, period))
    inserted = conn.execute(
        invoices.insert().values(
            user_id=user_id,
            organization_id=account.account_id if account.account_type == "organization" else None,
            invoice_number=number,
            status="pending",
            currency=currency,
            subtotal=totals.subtotal,
            tax_rate=totals.tax_rate,
            tax_amount=totals.tax_amount,
            total=totals.total,
            credits_applied=totals.credits_applied,
            billing_period_start=period,
            billing_period_end=next_month(period) - timedelta(days=1),
            due_date=due,
            notes=totals.note or None,
            created_at=_naive(now),
            updated_at=_naive(now),
            account_type=account.account_type,
            account_id=account.account_id,
            issued_at=_naive(now),
        )
    )
    invoice_id = int(inserted.lastrowid)
    if lines:
        conn.execute(invoice_items.insert(), [_item(invoice_id, line) for line in lines])
    for credit_id, amount in totals.credit_applications:
        taken = conn.execute(
            credits.update()
            .where(credits.c.id == credit_id, credits.c.balance >= amount)
            .values(balance=credits.c.balance - amount)
        )
        if taken.rowcount != 1:
            raise RuntimeError(f"credit {credit_id} no longer covers {amount}")
        conn.execute(
            credit_applications.insert().values(
                credit_id=credit_id, invoice_id=invoice_id, amount=amount, applied_at=_naive(now)
            )
        )
    ids = [r.id for r in unbilled]
    marked = conn.execute(
        usage_records.update()
        .where(usage_records.c.id.in_(ids), usage_records.c.billed.is_(False))
        .values(billed=True, invoice_id=invoice_id)
    )
    if marked.rowcount != len(ids):
        raise RuntimeError(f"usage of {account} changed under the invoice run")
    event = new_event(
        catalog.INVOICE_ISSUED,
        producer=SERVICE_NAME,
        aggregate_id=invoice_id,
        aggregate_version=1,
        payload=billing_events.InvoiceIssued(
            invoice_id=invoice_id,
            invoice_number=number,
            account_type=account.account_type,
            account_id=account.account_id,
            user_id=user_id,
            organization_id=account.account_id if account.account_type == "organization" else 0,
            period_start=to_timestamp(start.replace(tzinfo=UTC)),
            period_end=to_timestamp(end.replace(tzinfo=UTC)),
            currency=currency,
            subtotal=str(totals.subtotal),
            tax_rate=str(totals.tax_rate),
            tax_amount=str(totals.tax_amount),
            credits_applied=str(totals.credits_applied),
            total=str(totals.total),
            due_date=to_timestamp(datetime.combine(due, datetime.min.time(), tzinfo=UTC)),
            line_count=len(lines),
            usage_record_count=len(ids),
        ),
    )
    write_events(conn, [event])
    return IssuedInvoice(invoice_id, number, account, totals.total, currency)


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
    profile: Row[Any] | None,
    first_user_id: int,
    currency: str,
    credit_balances: Sequence[CreditBalance],
    now: datetime,
    rules: BillingRules,
) -> InvoiceDraft:
    """Price an account's unbilled usage up to the end of ``period`` (a month's first day).

    ``unbilled``: usage before the period's end not on any invoice yet; what lies before the
    period is late usage, charged as adjustments against ``billed_before`` (the account's
    billed usage of the same resources and months). ``profile``: the account's
    ``billing_accounts`` row (country, VAT id, owner). Credits are applied at ``now``.
    """
    start = datetime.combine(period, datetime.min.time(), tzinfo=UTC)
    current = [u for u in unbilled if u.period_start >= start]
    late = [u for u in unbilled if u.period_start < start]
    lines: list[Line] = price_segments(current, rules.billing_included_tax_rate)
    if late:
        lines += price_adjustments(late, billed_before, rules.billing_included_tax_rate)
    tax = rules.tax_table().decide(profile.country if profile else None, profile.tax_id if profile else None)
    totals = figures(lines, tax, credit_balances, now)
    user_id = (profile.owner_user_id if profile and profile.owner_user_id else None) or first_user_id
    due = now.date() + timedelta(days=rules.billing_payment_terms_days)
    return InvoiceDraft(lines, totals, currency, user_id, due)


def _next_number(conn: Connection, period: date) -> int:
    """The period's next invoice number; the sequence row stays locked until this transaction ends."""
    key = f"{period:%Y-%m}"
    upsert = mysql.insert(invoice_sequences).values(period=key, last_number=1)
    conn.execute(upsert.on_duplicate_key_update(last_number=invoice_sequences.c.last_number + 1))
    return int(
        conn.execute(sa.select(invoice_sequences.c.last_number).where(invoice_sequences.c.period == key)).scalar_one()
    )


def _billed_usage_of(conn: Connection, account: Account, late: Sequence[Row[Any]]) -> list[MeteredUsage]:
    """The account's already billed usage of the resources and months that ``late`` belongs to."""
    months = {month_of(r.recorded_at) for r in late}
    resources = {(r.resource_type, r.resource_id) for r in late}
    first = datetime.combine(min(months), datetime.min.time())
    last = datetime.combine(next_month(max(months)), datetime.min.time())
    rows = conn.execute(
        sa.select(usage_records).where(
            account.usage_filter(),
            usage_records.c.billed.is_(True),
            usage_records.c.recorded_at >= first,
            usage_records.c.recorded_at < last,
            sa.tuple_(usage_records.c.resource_type, usage_records.c.resource_id).in_(sorted(resources)),
        )
    ).all()
    return [metered(r) for r in rows]


def _item(invoice_id: int, line: Line) -> dict[str, Any]:
    key = line.key
    return {
        "invoice_id": invoice_id,
        "resource_type": key.resource_type,
        "resource_id": key.resource_id,
        "description": line.description,
        "quantity": line.quantity,
        "unit_price": line.unit_price,
        "total": line.total,
        "usage_period_start": _naive(line.period_start),
        "usage_period_end": _naive(line.period_end),
        "metadata": {
            "product": key.product,
            "metric_type": key.metric_type,
            "month": f"{key.month:%Y-%m}",
            "location": line.location,
            "price_hourly_gross": str(key.price_hourly),
            "price_monthly_gross": None if key.price_monthly is None else str(key.price_monthly),
            "capped": line.capped,
            "adjustment": line.adjustment,
        },
    }
