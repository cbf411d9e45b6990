"""An invoice's life after the run issued it: which status may follow which, and what it says.

::

    pending ──pay──> paid ──refund (staff)──> refunded
       │  └─cancel (staff)─> cancelled
       └─mark_overdue (the sweep, past the due date)─> overdue ──pay──> paid
                                                          └─cancel (staff)─> cancelled

Payments and refunds are ledger entries (``invoice_payments``): a payment of less than what
remains due is recorded (``invoice.payment_received``) and leaves the invoice ``pending`` or
``overdue``; the payment that reaches the total makes it ``paid`` (``invoice.paid``), and what
it pays beyond the total is an overpayment the account keeps as a credit. A refund of part of
what was paid is a credit note of that part and leaves the invoice ``paid``; the refund that
gives back the rest makes it ``refunded``.

Each function checks the transition and answers a :class:`Transition`: the new status, the
event to record (its payload) and the columns to write. It changes nothing itself: the
:class:`~billing_service.domain.invoices.Invoice` aggregate applies it to itself and records
its event, and the repository stores it with an UPDATE conditional on the status and version
it started from (``WHERE status = <the old one>``), in the same transaction as the event, so
two concurrent transitions cannot both win.

A refund is a credit note, as a real provider issues one: its own document number
(``CN-YYYY-MM-NNNN``, gapless per month, a sequence apart from the invoices'), the amount paid
going back either to the payment method (``payment_method``: the provider's refund reference is
recorded) or into an account credit of type ``compensation`` (``account_credit``). The invoice
itself is never rewritten or negated; it keeps its figures and gets status ``refunded``.
Cancelling (voiding an unpaid invoice) and refunding both give back the credits the invoice
used (a partial refund gives them back only with the refund of the rest).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from google.protobuf.message import Message

from cloudplatform.billing.v1 import events_pb2 as billing_events
from cpshared.errors import InvalidInput, PreconditionFailed
from cpshared.events import catalog
from cpshared.events.registry import EventSpec
from cpshared.timestamps import to_timestamp

PAYMENT_METHODS = ("credit_card", "paypal", "bank_transfer", "crypto")
REFUND_DESTINATIONS = ("payment_method", "account_credit")
CENT = Decimal("0.01")


@dataclass(frozen=True)
class InvoiceSnapshot:
    """What the transitions need to know of an invoice (a row of ``invoices``)."""

    invoice_id: int
    invoice_number: str
    account_type: str
    account_id: int
    user_id: int
    organization_id: int | None
    status: str
    currency: str
    total: Decimal
    credits_applied: Decimal
    due_date: date | None
    version: int = 1
    amount_paid: Decimal = Decimal("0.00")
    refunded_amount: Decimal = Decimal("0.00")

    @property
    def remaining(self) -> Decimal:
        """What is still due."""
        return max(self.total - self.amount_paid, Decimal("0.00"))

    def ref(self) -> billing_events.InvoiceRef:
        return billing_events.InvoiceRef(
            invoice_id=self.invoice_id,
            invoice_number=self.invoice_number,
            account_type=self.account_type,
            account_id=self.account_id,
            user_id=self.user_id,
            organization_id=self.organization_id or 0,
            currency=self.currency,
            total=str(self.total),
        )


@dataclass(frozen=True)
class LedgerEntry:
    """A payment received or a refund made: a row of the invoice's ledger."""

    kind: str  # payment | refund
    amount: Decimal
    occurred_at: datetime | None
    """When the money moved (a payment's ``paid_at``); None: when the change is made."""
    method: str | None = None
    reference: str | None = None
    credit_note_number: str | None = None
    credit_id: int | None = None


@dataclass(frozen=True)
class Transition:
    """A checked change of an invoice's status: write ``values`` where the status is still
    ``from_status`` and record ``spec`` with ``payload`` as aggregate version ``version``."""

    invoice: InvoiceSnapshot
    from_status: str
    to_status: str
    spec: EventSpec
    payload: Message
    values: dict[str, Any] = field(default_factory=dict)
    restore_credits: bool = False
    ledger: LedgerEntry | None = None
    overpayment: Decimal = Decimal("0.00")
    """What a payment paid beyond the total (the account keeps it as a credit)."""

    @property
    def version(self) -> int:
        return self.invoice.version + 1


def _utc_date(moment: datetime) -> date:
    return moment.date()


def mark_overdue(invoice: InvoiceSnapshot, now: datetime) -> Transition | None:
    """``pending`` past its due date -> ``overdue`` with ``invoice.overdue``; None if the invoice
    is not overdue (not pending, no due date, or the due date is today or later: an invoice is
    due *on* its due date and overdue the day after). ``now`` is an aware UTC time."""
    if invoice.status != "pending" or invoice.due_date is None or _utc_date(now) <= invoice.due_date:
        return None
    payload = billing_events.InvoiceOverdue(
        invoice=invoice.ref(),
        due_date=to_timestamp(datetime.combine(invoice.due_date, datetime.min.time(), tzinfo=now.tzinfo)),
        marked_at=to_timestamp(now),
    )
    return Transition(invoice, "pending", "overdue", catalog.INVOICE_OVERDUE, payload)


def _require(invoice: InvoiceSnapshot, allowed: tuple[str, ...], action: str) -> None:
    if invoice.status not in allowed:
        raise PreconditionFailed(
            f"invoice {invoice.invoice_number} is {invoice.status}: "
            f"only a {' or '.join(allowed)} invoice can be {action}"
        )


def _amount(text: str, what: str) -> Decimal:
    try:
        value = Decimal(text)
    except ArithmeticError:
        raise InvalidInput(f"{what} {text!r} is not a decimal amount") from None
    if not value.is_finite() or value < 0 or value != value.quantize(CENT):
        raise InvalidInput(f"{what} {text!r} is not an amount in cents")
    return value


def record_payment(invoice: InvoiceSnapshot, amount: str, method: str, reference: str, paid_at: datetime) -> Transition:
    """A payment of a ``pending``/``overdue`` invoice, by a known method, with the provider's
    reference (so it is traceable and recorded once). Less than what remains due:
    ``invoice.payment_received``, the status unchanged; the rest or more: ``paid`` with
    ``invoice.paid``, anything beyond the total an overpayment."""
    _require(invoice, ("pending", "overdue"), "paid")
    paid = _amount(amount, "amount")
    remaining = invoice.remaining
    if paid <= 0 and remaining > 0:
        raise InvalidInput(f"amount {paid} is not a payment: more than 0 (still due {remaining} {invoice.currency})")
    if method not in PAYMENT_METHODS:
        raise InvalidInput(f"method {method!r} is not one of {', '.join(PAYMENT_METHODS)}")
    reference = reference.strip()
    if not reference or len(reference) > 255:
        raise InvalidInput("reference is the payment provider's reference of the payment (1 to 255 characters)")
    ledger = LedgerEntry("payment", paid, paid_at, method=method, reference=reference)
    if paid < remaining:
        after = invoice.amount_paid + paid
        received = billing_events.InvoicePaymentReceived(
            invoice=invoice.ref(),
            amount=str(paid),
            method=method,
            reference=reference,
            paid_at=to_timestamp(paid_at),
            amount_paid=str(after),
            remaining=str(invoice.total - after),
        )
        return Transition(
            invoice,
            invoice.status,
            invoice.status,
            catalog.INVOICE_PAYMENT_RECEIVED,
            received,
            {"amount_paid": after},
            ledger=ledger,
        )
    overpayment = paid - remaining
    payload = billing_events.InvoicePaid(
        invoice=invoice.ref(),
        amount=str(paid),
        method=method,
        reference=reference,
        paid_at=to_timestamp(paid_at),
        previous_status=invoice.status,
        amount_paid=str(invoice.total),
        overpayment=str(overpayment),
    )
    values = {
        "paid_at": paid_at,
        "payment_method": method,
        "payment_reference": reference,
        "amount_paid": invoice.total,
    }
    return Transition(
        invoice, invoice.status, "paid", catalog.INVOICE_PAID, payload, values, ledger=ledger, overpayment=overpayment
    )


def _reason(reason: str) -> str:
    reason = reason.strip()
    if not reason or len(reason) > 1000:
        raise InvalidInput("reason is required (1 to 1000 characters)")
    return reason


def cancel(invoice: InvoiceSnapshot, reason: str) -> Transition:
    """``pending``/``overdue`` -> ``cancelled`` with ``invoice.cancelled``; the credits it used go back."""
    _require(invoice, ("pending", "overdue"), "cancelled")
    payload = billing_events.InvoiceCancelled(
        invoice=invoice.ref(),
        reason=_reason(reason),
        credits_restored=str(invoice.credits_applied),
        previous_status=invoice.status,
    )
    return Transition(invoice, invoice.status, "cancelled", catalog.INVOICE_CANCELLED, payload, restore_credits=True)


def refund(
    invoice: InvoiceSnapshot,
    reason: str,
    refunded_to: str,
    credit_note_number: str,
    credit_id: int = 0,
    amount: str = "",
) -> Transition:
    """A refund of a ``paid`` invoice with ``invoice.refunded``: a credit note of ``amount`` (all
    that was paid and not refunded yet when empty). The refund of the rest makes it ``refunded``
    and gives back the credits it used; a partial one leaves it ``paid``."""
    _require(invoice, ("paid",), "refunded")
    if refunded_to not in REFUND_DESTINATIONS:
        raise InvalidInput(f"refund_to {refunded_to!r} is not one of {', '.join(REFUND_DESTINATIONS)}")
    refundable = invoice.amount_paid - invoice.refunded_amount
    value = refundable if not amount else _amount(amount, "amount")
    if value <= 0 or value > refundable:
        raise InvalidInput(
            f"amount {value} is not refundable: more than 0 and at most {refundable} {invoice.currency} "
            "(paid and not refunded yet)"
        )
    whole = value == refundable
    payload = billing_events.InvoiceRefunded(
        invoice=invoice.ref(),
        credit_note_number=credit_note_number,
        amount=str(value),
        credits_restored=str(invoice.credits_applied) if whole else "0.00",
        refunded_to=refunded_to,
        credit_id=credit_id,
        reason=_reason(reason),
        refunded_total=str(invoice.refunded_amount + value),
    )
    ledger = LedgerEntry(
        "refund",
        value,
        None,
        method=refunded_to,
        reference=credit_note_number or None,
        credit_note_number=credit_note_number or None,
        credit_id=credit_id or None,
    )
    return Transition(
        invoice,
        "paid",
        "refunded" if whole else "paid",
        catalog.INVOICE_REFUNDED,
        payload,
        {"credit_note_number": credit_note_number, "refunded_amount": invoice.refunded_amount + value},
        restore_credits=whole,
        ledger=ledger,
    )


def credit_note_number(month: date, sequence: int) -> str:
    """``CN-YYYY-MM-NNNN``: the month the credit note is issued in and its gapless number."""
    return f"CN-{month:%Y-%m}-{sequence:04d}"
