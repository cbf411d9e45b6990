"""The comparison of one period: issued invoices against their recomputation from the rebuilt
usage (an invoiced period), or ingested usage against the streams' (an open period). See
``entrypoints/reconcile.py`` for the references it is made against and
``domain/reconciliation.py`` for the rules of a difference."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from billing_service.domain.accounts import Account, BillingProfile
from billing_service.domain.credits import CreditBalance
from billing_service.domain.invoice import InvoiceDraft, InvoiceTerms, draft_invoice, invoice_number
from billing_service.domain.pricing import MeteredUsage, month_of
from billing_service.domain.reconciliation import (
    ReconcileReport,
    UsageRecord,
    account_label,
    diff_invoice,
    diff_invoice_alone,
    diff_open_usage,
    diff_usage,
)
from cpshared.timestamps import as_utc


@dataclass
class PeriodRecords:
    """What the comparison of a period reads (``adapters/reconciliation.py``). Records of
    invoices, their items and credits are the tables' rows (read by column name)."""

    rebuilt: list[UsageRecord]
    """Usage rebuilt from the streams: of an invoiced period every record before its end, of an open one its own."""
    live: list[UsageRecord] = field(default_factory=list)
    """Of an open period: the usage billing ingested for it."""
    links: dict[bytes, int | None] = field(default_factory=dict)
    """Every live usage record before the period's end: event id → the invoice billing it (None: unbilled)."""
    linked: dict[int, set[bytes]] = field(default_factory=dict)
    """Issued invoice id → the event ids of the live usage billed with it."""
    invoice_periods: dict[int, date] = field(default_factory=dict)
    invoice_numbers: dict[int, str] = field(default_factory=dict)
    account_periods: dict[tuple[str, int], set[date]] = field(default_factory=dict)
    """Account → the periods it has an invoice of."""
    profiles: dict[tuple[str, int], BillingProfile] = field(default_factory=dict)
    items: dict[int, list[Any]] = field(default_factory=dict)
    credits: list[Any] = field(default_factory=list)
    applications: list[Any] = field(default_factory=list)
    removed: set[int] = field(default_factory=set)
    """Issued invoices of the period whose usage records the retention removed."""


def compare(
    period: date, issued: Sequence[Any], records: PeriodRecords, terms: InvoiceTerms, now: datetime
) -> ReconcileReport:
    """The report of ``period``: open when no invoice of it is issued, else every account's
    invoice diffed (numbers, totals, lines, the usage it bills)."""
    report = ReconcileReport(period, issued_invoices=len(issued))
    if not issued:
        report.open = True
        report.usage_compared, report.differences = diff_open_usage(records.live, records.rebuilt)
        return report
    if records.removed:
        report.usage_removed = True
        for n, invoice in enumerate(issued, start=1):
            report.differences += diff_invoice_alone(
                account_label(Account(str(invoice.account_type), int(invoice.account_id))),
                str(invoice.invoice_number),
                invoice_number(period, n),
                invoice,
                records.items.get(int(invoice.id), []),
            )
        return report

    def billed_earlier(record: UsageRecord) -> bool:
        invoice_id = records.links.get(record.event_id)
        return invoice_id is not None and records.invoice_periods.get(invoice_id, period) < period

    unbilled: dict[Account, list[UsageRecord]] = defaultdict(list)
    earlier: dict[Account, list[UsageRecord]] = defaultdict(list)
    for record in records.rebuilt:
        (earlier if billed_earlier(record) else unbilled)[record.account].append(record)

    by_account = {(i.account_type, int(i.account_id)): i for i in issued}
    accounts = sorted(
        set(unbilled) | {Account(t, a) for t, a in by_account}, key=lambda a: (a.account_type, a.account_id)
    )
    expected_numbers = {int(i.id): invoice_number(period, n) for n, i in enumerate(issued, start=1)}
    next_free = len(issued) + 1
    for account in accounts:
        invoice = by_account.get((account.account_type, account.account_id))
        rows = unbilled.get(account, [])
        draft: InvoiceDraft | None = None
        if rows:
            at = as_utc(invoice.issued_at) if invoice is not None and invoice.issued_at else now
            currency = rows[0].usage.currency
            draft = draft_invoice(
                period,
                [r.usage for r in rows],
                _billed_before(period, rows, earlier.get(account, [])),
                records.profiles.get((account.account_type, account.account_id)),
                rows[0].user_id,
                currency,
                _balances_before(account, invoice, currency, records.credits, records.applications, at),
                at,
                terms,
                {
                    p
                    for p in records.account_periods.get((account.account_type, account.account_id), set())
                    if p < period
                },
            )
            report.recomputed_invoices += 1
        if invoice is not None:
            number = str(invoice.invoice_number)
            expected = expected_numbers[int(invoice.id)]
            report.differences += diff_usage(
                account_label(account),
                number,
                int(invoice.id),
                rows,
                records.linked.get(int(invoice.id), set()),
                records.links,
                records.invoice_numbers,
            )
        else:
            number = expected = invoice_number(period, next_free)
            next_free += 1
        report.differences += diff_invoice(
            account_label(account),
            number,
            expected,
            period,
            invoice,
            records.items.get(int(invoice.id), []) if invoice is not None else [],
            draft,
        )
    return report


def _billed_before(period: date, unbilled: Sequence[UsageRecord], earlier: Sequence[UsageRecord]) -> list[MeteredUsage]:
    """The account's usage billed by earlier periods' invoices, of the resources and months with late usage
    (as the run's ``_billed_usage_of`` reads it)."""
    start_of = {month_of(r.usage.period_start) for r in unbilled} - {period}
    resources = {(r.usage.resource_type, r.usage.resource_id) for r in unbilled}
    return [
        r.usage
        for r in earlier
        if month_of(r.usage.period_start) in start_of and (r.usage.resource_type, r.usage.resource_id) in resources
    ]


def _balances_before(
    account: Account,
    invoice: Any | None,
    currency: str,
    credit_rows: Sequence[Any],
    applications: Sequence[Any],
    at: datetime,
) -> list[CreditBalance]:
    """The account's credits as ``invoice`` found them: today's balance plus what this and later invoices took."""
    since = int(invoice.id) if invoice is not None else None
    taken: dict[int, Decimal] = defaultdict(Decimal)
    if since is not None:
        for application in applications:
            if int(application.invoice_id) >= since:
                taken[int(application.credit_id)] += application.amount
    balances = []
    for credit in credit_rows:
        owner = Account.of(int(credit.user_id), credit.organization_id)
        if owner != account or (credit.currency or "EUR") != currency:
            continue
        created = as_utc(credit.created_at) if credit.created_at else at
        if created > at:
            continue
        balance = credit.balance + taken.get(int(credit.id), Decimal(0))
        expires = as_utc(credit.expires_at) if credit.expires_at else None
        balances.append(CreditBalance(int(credit.id), balance, expires, created))
    return balances
