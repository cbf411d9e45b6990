"""An invoice's life after the run issued it: which status may follow which, and what it says.

::

    pending ──pay──> paid ──refund (staff)──> refunded
       │  └─cancel (staff)─> cancelled
       └─mark_overdue (the sweep, past the due date)─> overdue ──pay──> paid
                                                          └─cancel (staff)─> cancelled

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
used. Only whole amounts are paid or refunded: a partial payment is refused with its reason.
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
    """``pending``/``overdue`` -> ``paid`` with ``invoice.paid``: the whole amount due, by a known
    method, with the provider's reference (so a payment is traceable and recorded once)."""
    _require(invoice, ("pending", "overdue"), "paid")
    paid = _amount(amount, "amount")
    if paid != invoice.total:
        raise InvalidInput(
            f"amount {paid} is not the amount due {invoice.total} {invoice.currency}: only whole payments are recorded"
        )
    if method not in PAYMENT_METHODS:
        raise InvalidInput(f"method {method!r} is not one of {', '.join(PAYMENT_METHODS)}")
    reference = reference.strip()
    if not reference or len(reference) > 255:
        raise InvalidInput("reference is the payment provider's reference of the payment (1 to 255 characters)")
    payload = billing_events.InvoicePaid(
        invoice=invoice.ref(),
        amount=str(paid),
        method=method,
        reference=reference,
        paid_at=to_timestamp(paid_at),
        previous_status=invoice.status,
    )
    values = {"paid_at": paid_at, "payment_method": method, "payment_reference": reference}
    return Transition(invoice, invoice.status, "paid", catalog.INVOICE_PAID, payload, values)


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
    invoice: InvoiceSnapshot, reason: str, refunded_to: str, credit_note_number: str, credit_id: int = 0
) -> Transition:
    """``paid`` -> ``refunded`` with ``invoice.refunded``: a credit note of the amount paid; the
    credits it used go back."""
    _require(invoice, ("paid",), "refunded")
    if refunded_to not in REFUND_DESTINATIONS:
        raise InvalidInput(f"refund_to {refunded_to!r} is not one of {', '.join(REFUND_DESTINATIONS)}")
    payload = billing_events.InvoiceRefunded(
        invoice=invoice.ref(),
        credit_note_number=credit_note_number,
        amount=str(invoice.total),
        credits_restored=str(invoice.credits_applied),
        refunded_to=refunded_to,
        credit_id=credit_id,
        reason=_reason(reason),
    )
    return Transition(
        invoice,
        "paid",
        "refunded",
        catalog.INVOICE_REFUNDED,
        payload,
        {"credit_note_number": credit_note_number, "refunded_amount": invoice.total},
        restore_credits=True,
    )


def credit_note_number(month: date, sequence: int) -> str:
    """``CN-YYYY-MM-NNNN``: the month the credit note is issued in and its gapless number."""
    return f"CN-{month:%Y-%m}-{sequence:04d}"
