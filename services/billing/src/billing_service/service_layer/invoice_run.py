"""The invoice run: every account with unbilled usage up to the end of a period gets one invoice.

Accounts are billed in batches of :data:`BATCH`, each batch in one unit of work, which for
every account of the batch

1. finds no invoice of the account for the period (else the account is skipped: running a
   period twice changes nothing) and locks the account's unbilled usage up to the period's end
   (one query for the whole batch, as are the profiles and the credits);
2. prices the period's usage and, as adjustment lines, usage of earlier months that arrived
   after they were invoiced (``domain.invoice.draft_invoice``);
3. taxes it by the account's country and applies its credits (locked, the soonest to expire
   first; each credit checks it still covers what it pays);
4. takes the month's next invoice number: the batch moves the month's counter on by its number
   of invoices at once and the counter stays locked until the commit, so numbers follow each
   other without gaps (a rollback gives them all back before anyone else can take one; a
   concurrent run of the same period waits on the usage rows, then finds them billed);
5. stores the invoice and its lines, spends the credits, marks the usage billed with the
   invoice, and the invoice's ``invoice.issued`` goes to the outbox — the batch in one commit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Final

from billing_service.domain.accounts import Account
from billing_service.domain.commands import RunInvoices
from billing_service.domain.credits import Credit
from billing_service.domain.invoice import InvoiceTerms, draft_invoice, invoice_number, next_month
from billing_service.domain.invoices import Invoice
from billing_service.domain.pricing import month_of
from billing_service.domain.pricing_plans import traffic_terms
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


BATCH: Final = 200
"""Accounts billed in one unit of work (one transaction). A batch is all or nothing: its
invoices, their numbers, credits and usage marks commit together, so numbers stay gapless; an
account the batch cannot bill makes the run bill that batch again one account per unit of
work, so one account's problem stops no other's invoice."""


def run_invoices(
    command: RunInvoices, terms: InvoiceTerms, uow: Callable[[], AbstractUnitOfWork], *, batch: int = BATCH
) -> RunReport:
    """``uow`` makes a fresh unit of work: one for the list of accounts, then one per batch."""
    period = month_of(command.period)
    end = datetime.combine(next_month(period), datetime.min.time(), tzinfo=UTC)
    report = RunReport(period)
    with uow() as reading:
        accounts = reading.usage.accounts_with_unbilled(end)
    for first in range(0, len(accounts), batch):
        chunk = accounts[first : first + batch]
        try:
            outcomes = bill_accounts(chunk, period, terms, uow())
        except Exception:  # bill them one by one: the failing account raises alone
            log.warning("invoice_run_batch_failed", period=f"{period:%Y-%m}", accounts=len(chunk), exc_info=True)
            outcomes = [issued for account in chunk for issued in bill_accounts([account], period, terms, uow())]
        for issued in outcomes:
            if issued is None:
                report.already_invoiced += 1
            else:
                report.issued.append(issued)
    log.info("invoice_run", period=f"{period:%Y-%m}", issued=len(report.issued), skipped=report.already_invoiced)
    return report


def bill_account(account: Account, period: date, terms: InvoiceTerms, uow: AbstractUnitOfWork) -> IssuedInvoice | None:
    """The account's invoice for ``period`` (a month's first day), in one commit; None if it
    has one already or nothing to bill."""
    return bill_accounts([account], period, terms, uow)[0]


def bill_accounts(
    accounts: Sequence[Account], period: date, terms: InvoiceTerms, uow: AbstractUnitOfWork
) -> list[IssuedInvoice | None]:
    """Each account's invoice for ``period``, all in one commit (None for an account that has
    one already or nothing to bill), in the order of ``accounts``: their usage, profiles and
    credits read in one query each, their numbers taken at once from the month's counter."""
    start = datetime.combine(period, datetime.min.time(), tzinfo=UTC)
    end = datetime.combine(next_month(period), datetime.min.time(), tzinfo=UTC)
    outcomes: dict[Account, IssuedInvoice] = {}
    with uow:
        invoiced = uow.invoices.invoiced_among(accounts, period)
        unbilled = uow.usage.lock_unbilled([a for a in accounts if a not in invoiced], end)
        billable = [a for a in accounts if a in unbilled]
        if not billable:
            return [None] * len(accounts)
        profiles = uow.accounts.profiles(billable)
        terms = replace(terms, traffic=traffic_terms(uow.pricing_plans.list("bandwidth", False)))
        usable = uow.credits.lock_usable(billable)
        first_number = uow.numbers.reserve_invoice_numbers(period, len(billable))
        now = utcnow()
        issued: list[tuple[Account, Invoice, dict[int, Credit]]] = []
        for sequence, account in enumerate(billable, start=first_number):
            records = unbilled[account]
            late = [r for r in records if r.usage.period_start < start]
            currency = records[0].usage.currency
            credits = {c.id: c for c in usable.get(account, []) if c.currency == currency}
            draft = draft_invoice(
                period,
                [r.usage for r in records],
                uow.usage.billed_of(account, late) if late else [],
                profiles.get(account),
                records[0].user_id,
                currency,
                [credit.as_balance() for credit in credits.values()],
                now,
                terms,
                uow.invoices.periods_of(account, period) if late else set(),
            )
            number = invoice_number(period, sequence)
            issued.append((account, Invoice.issue(account, period, number, draft, len(records), now), credits))
        uow.invoices.add_many([invoice for _, invoice, _ in issued])
        billed: dict[Account, tuple[int, list[int]]] = {}
        for account, invoice, credits in issued:
            for credit_id, amount in invoice.credit_applications:
                credits[credit_id].apply_to(invoice.id, amount, now)
            billed[account] = (invoice.id, [r.id for r in unbilled[account]])
            outcomes[account] = IssuedInvoice(
                invoice.id, invoice.invoice_number, account, invoice.total, invoice.currency
            )
        uow.usage.mark_billed(billed)
        uow.commit()
    return [outcomes.get(account) for account in accounts]
