"""An invoice's life after the run: payments, cancellations and refunds (from the gRPC API),
and the overdue sweep's marks (from the keeper) — each one unit of work with its event. The
payment or cancellation that leaves an account billing asked to suspend with no overdue
invoice lifts that request (``billing.suspension_lifted``).

The invoice is locked while it changes; the aggregate checks the transition and records its
event; the repository stores it conditionally on the status and version it was read with (so
a change made from a stale read is a Conflict). Cancelling and refunding give the credits the
invoice used back to their balances.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from billing_service.domain.credits import Credit, CreditGrant
from billing_service.domain.invoice_life import credit_note_number
from billing_service.domain.invoices import Invoice
from billing_service.service_layer.ports import AbstractUnitOfWork
from cpshared.clock import utcnow


def give_back_credits(invoice: Invoice, uow: AbstractUnitOfWork) -> None:
    """The credits ``invoice`` used go back to their balances (once: the applications go)."""
    for credit_id, amount in uow.credits.applications_to(invoice.id):
        uow.credits.get(credit_id, lock=True).give_back(invoice.id, amount)


def mark_overdue(invoice_id: int, now: datetime, uow: AbstractUnitOfWork) -> bool:
    """For the overdue sweep: mark one invoice overdue if it is; True if it was marked."""
    with uow:
        if not uow.invoices.get(invoice_id, lock=True).mark_overdue(now):
            return False
        uow.commit()
    return True


def _account_credit(invoice: Invoice, amount: Decimal, description: str, now: datetime, uow: AbstractUnitOfWork) -> int:
    """A compensation credit of the invoice's account (``credit.granted``); its id."""
    grant = CreditGrant("compensation", amount, invoice.currency, None, description)
    credit = Credit.grant(invoice.user_id, invoice.organization_id, grant, now)
    uow.credits.add(credit)
    return credit.id


def lift_suspension_if_clear(invoice: Invoice, now: datetime, uow: AbstractUnitOfWork) -> bool:
    """Dunning's second half, in the transaction that paid or voided ``invoice``: when billing
    had asked to suspend its account and no overdue invoice is left, the standing requests are
    withdrawn and ``billing.suspension_lifted`` is recorded, once per clearing. The account's
    standing requests are locked first, so of two payments clearing the account's last two
    overdue invoices at once, the second sees the first's and lifts (never both, never none)."""
    standing = uow.invoices.standing_suspension_requests(invoice.account)
    if not standing or uow.invoices.has_overdue(invoice.account):
        return False
    uow.invoices.lift_suspension_requests(standing, now)
    invoice.suspension_lifted(standing, now)
    return True


def record_payment(
    invoice_id: int, amount: str, method: str, reference: str, paid_at: datetime | None, uow: AbstractUnitOfWork
) -> Invoice:
    """A payment of all or part of what the invoice has due; what it pays beyond the total
    becomes a credit of the account."""
    now = utcnow()
    with uow:
        invoice = uow.invoices.get(invoice_id, lock=True)
        paid = invoice.pay(amount, method, reference, paid_at or now, now)
        if paid.overpayment > 0:
            description = f"Overpayment of invoice {invoice.invoice_number} ({reference.strip()})"
            _account_credit(invoice, paid.overpayment, description, now, uow)
        lift_suspension_if_clear(invoice, now, uow)
        uow.commit()
    return invoice


def cancel(invoice_id: int, reason: str, uow: AbstractUnitOfWork) -> Invoice:
    """Void an unpaid invoice: the credits it used go back, and what part payments it had
    received becomes a credit of the account."""
    now = utcnow()
    with uow:
        invoice = uow.invoices.get(invoice_id, lock=True)
        received = invoice.amount_paid
        if invoice.cancel(reason, now).restore_credits:
            give_back_credits(invoice, uow)
        if received > 0:
            _account_credit(invoice, received, f"Payments of cancelled invoice {invoice.invoice_number}", now, uow)
        lift_suspension_if_clear(invoice, now, uow)
        uow.commit()
    return invoice


def refund(invoice_id: int, reason: str, refund_to: str, uow: AbstractUnitOfWork, amount: str = "") -> Invoice:
    """A credit note for a paid invoice, of ``amount`` (all that was paid and not refunded yet
    when empty); with ``account_credit`` the amount becomes a compensation credit of the account
    (``credit.granted``), else it goes back to the payment method it was paid with."""
    now = utcnow()
    with uow:
        invoice = uow.invoices.get(invoice_id, lock=True)
        value = invoice.check_refund(reason, refund_to, amount)  # before a credit note number is taken
        number = credit_note_number(now.date(), uow.numbers.next_credit_note_number(now.date()))
        credit_id = 0
        if refund_to == "account_credit" and value > 0:
            credit_id = _account_credit(
                invoice, value, f"Credit note {number} for invoice {invoice.invoice_number}", now, uow
            )
        if invoice.refund(reason, refund_to, number, credit_id, now, amount).restore_credits:
            give_back_credits(invoice, uow)
        uow.commit()
    return invoice


def request_suspension(invoice_id: int, now: datetime, grace_days: int, uow: AbstractUnitOfWork) -> bool:
    """For the overdue sweep: request, once, the suspension of the account of an invoice overdue
    past the grace period; False if it was paid or cancelled meanwhile, or requested already."""
    with uow:
        invoice = uow.invoices.get(invoice_id, lock=True)
        if invoice.status != "overdue" or not uow.invoices.note_suspension_request(invoice, now):
            return False
        invoice.request_suspension(now, grace_days)
        uow.commit()
    return True
