"""The invoice run: every account with unbilled usage up to the end of a period gets one invoice.

Each account is billed in its own unit of work, which

1. finds no invoice of the account for the period (else the account is skipped: running a
   period twice changes nothing) and locks the account's unbilled usage up to the period's end;
2. prices the period's usage and, as adjustment lines, usage of earlier months that arrived
   after they were invoiced (``domain.invoice.draft_invoice``);
3. taxes it by the account's country and applies its credits (locked, the soonest to expire
   first; each credit checks it still covers what it pays);
4. takes the month's next invoice number: the month's counter stays locked until the commit,
   so numbers follow each other without gaps (a rollback gives the number back before anyone
   else can take it);
5. stores the invoice and its lines, spends the credits, marks the usage billed with the
   invoice, and the invoice's ``invoice.issued`` goes to the outbox — all in one commit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal

from billing_service.domain.accounts import Account
from billing_service.domain.commands import RunInvoices
from billing_service.domain.invoice import InvoiceTerms, draft_invoice, invoice_number, next_month
from billing_service.domain.invoices import Invoice
from billing_service.domain.pricing import month_of
from billing_service.service_layer.ports import AbstractUnitOfWork
from cpshared.clock import utcnow
from cpshared.logging import get_logger

log = get_logger(__name__)


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


def run_invoices(command: RunInvoices, terms: InvoiceTerms, uow: Callable[[], AbstractUnitOfWork]) -> RunReport:
    """``uow`` makes a fresh unit of work: one for the list of accounts, then one per account."""
    period = month_of(command.period)
    end = datetime.combine(next_month(period), datetime.min.time(), tzinfo=UTC)
    report = RunReport(period)
    with uow() as reading:
        accounts = reading.usage.accounts_with_unbilled(end)
    for account in accounts:
        issued = bill_account(account, period, terms, uow())
        if issued is None:
            report.already_invoiced += 1
        else:
            report.issued.append(issued)
    log.info("invoice_run", period=f"{period:%Y-%m}", issued=len(report.issued), skipped=report.already_invoiced)
    return report


def bill_account(account: Account, period: date, terms: InvoiceTerms, uow: AbstractUnitOfWork) -> IssuedInvoice | None:
    """The account's invoice for ``period`` (a month's first day), in one commit; None if it
    has one already or nothing to bill."""
    start = datetime.combine(period, datetime.min.time(), tzinfo=UTC)
    end = datetime.combine(next_month(period), datetime.min.time(), tzinfo=UTC)
    with uow:
        if uow.invoices.exists_for(account, period):
            return None
        unbilled = uow.usage.lock_unbilled(account, end)
        if not unbilled:
            return None
        late = [r for r in unbilled if r.usage.period_start < start]
        profile = uow.accounts.profile(account)
        currency = unbilled[0].usage.currency
        now = utcnow()
        credits = {credit.id: credit for credit in uow.credits.lock_usable(account, currency)}
        draft = draft_invoice(
            period,
            [r.usage for r in unbilled],
            uow.usage.billed_of(account, late) if late else [],
            profile,
            unbilled[0].user_id,
            currency,
            [credit.as_balance() for credit in credits.values()],
            now,
            terms,
            uow.invoices.periods_of(account, period) if late else set(),
        )
        number = invoice_number(period, uow.numbers.next_invoice_number(period))
        invoice = Invoice.issue(account, period, number, draft, len(unbilled), now)
        uow.invoices.add(invoice)
        for credit_id, amount in invoice.credit_applications:
            credits[credit_id].apply_to(invoice.id, amount, now)
        uow.usage.mark_billed([r.id for r in unbilled], invoice.id)
        uow.commit()
    return IssuedInvoice(invoice.id, number, account, invoice.total, currency)
