"""Invoice life transitions: which status may follow which, and what each one says."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from billing_service.domain import invoice_life
from billing_service.domain.invoice_life import InvoiceSnapshot
from cloudplatform.billing.v1 import events_pb2 as billing_events
from cpshared.errors import InvalidInput, PreconditionFailed

PENDING = InvoiceSnapshot(
    invoice_id=5,
    invoice_number="INV-2026-10-0005",
    account_type="organization",
    account_id=7,
    user_id=42,
    organization_id=7,
    status="pending",
    currency="EUR",
    total=Decimal("11.90"),
    credits_applied=Decimal("1.00"),
    due_date=date(2026, 11, 15),
)


def test_an_invoice_is_overdue_the_day_after_its_due_date() -> None:
    assert invoice_life.mark_overdue(PENDING, datetime(2026, 11, 15, 23, 59, tzinfo=UTC)) is None
    transition = invoice_life.mark_overdue(PENDING, datetime(2026, 11, 16, 0, 1, tzinfo=UTC))
    assert transition is not None
    assert (transition.from_status, transition.to_status, transition.spec.event_type) == (
        "pending",
        "overdue",
        "invoice.overdue",
    )
    assert transition.version == 2
    payload = transition.payload
    assert isinstance(payload, billing_events.InvoiceOverdue)
    assert (payload.invoice.invoice_number, payload.invoice.total, payload.invoice.organization_id) == (
        "INV-2026-10-0005",
        "11.90",
        7,
    )
    assert payload.due_date.ToDatetime().date() == date(2026, 11, 15)
    for status in ("paid", "cancelled", "refunded", "overdue", "draft"):
        assert (
            invoice_life.mark_overdue(dataclasses.replace(PENDING, status=status), datetime(2027, 1, 1, tzinfo=UTC))
            is None
        )
    assert (
        invoice_life.mark_overdue(dataclasses.replace(PENDING, due_date=None), datetime(2027, 1, 1, tzinfo=UTC)) is None
    )


def test_a_payment_by_a_known_method_with_a_reference_pays_the_invoice_once_it_reaches_the_total() -> None:
    at = datetime(2026, 11, 10, tzinfo=UTC)
    paid = invoice_life.record_payment(PENDING, "11.90", "credit_card", " pi_123 ", at)
    assert (paid.to_status, paid.values["payment_reference"], paid.values["payment_method"]) == (
        "paid",
        "pi_123",
        "credit_card",
    )
    overdue = dataclasses.replace(PENDING, status="overdue", version=2)
    assert invoice_life.record_payment(overdue, "11.90", "bank_transfer", "SEPA-1", at).version == 3
    # Part of it: recorded, the invoice stays pending; the rest pays it; more is an overpayment.
    part = invoice_life.record_payment(PENDING, "11.00", "bank_transfer", "tr-1", at)
    assert (part.spec.event_type, part.to_status, part.values) == (
        "invoice.payment_received",
        "pending",
        {"amount_paid": Decimal("11.00")},
    )
    assert isinstance(part.payload, billing_events.InvoicePaymentReceived)
    assert (part.payload.amount, part.payload.amount_paid, part.payload.remaining) == ("11.00", "11.00", "0.90")
    assert part.ledger is not None and (part.ledger.kind, part.ledger.amount) == ("payment", Decimal("11.00"))
    rest = invoice_life.record_payment(
        dataclasses.replace(PENDING, amount_paid=Decimal("11.00")), "2.00", "paypal", "p", at
    )
    assert (rest.to_status, rest.values["amount_paid"], rest.overpayment) == ("paid", Decimal("11.90"), Decimal("1.10"))
    with pytest.raises(InvalidInput, match="more than 0"):
        invoice_life.record_payment(PENDING, "0.00", "credit_card", "pi_1", at)
    with pytest.raises(InvalidInput, match="not an amount in cents"):
        invoice_life.record_payment(PENDING, "11.901", "credit_card", "pi_1", at)
    with pytest.raises(InvalidInput, match="not a decimal"):
        invoice_life.record_payment(PENDING, "eleven", "credit_card", "pi_1", at)
    with pytest.raises(InvalidInput, match="method 'cash'"):
        invoice_life.record_payment(PENDING, "11.90", "cash", "pi_1", at)
    with pytest.raises(InvalidInput, match="reference"):
        invoice_life.record_payment(PENDING, "11.90", "paypal", "  ", at)
    with pytest.raises(PreconditionFailed, match="is paid"):
        invoice_life.record_payment(dataclasses.replace(PENDING, status="paid"), "11.90", "paypal", "x", at)


def test_only_unpaid_invoices_are_cancelled_and_only_paid_ones_refunded() -> None:
    cancelled = invoice_life.cancel(PENDING, "billed twice")
    assert (cancelled.to_status, cancelled.restore_credits) == ("cancelled", True)
    with pytest.raises(InvalidInput, match="reason"):
        invoice_life.cancel(PENDING, " ")
    with pytest.raises(PreconditionFailed, match="only a pending or overdue invoice can be cancelled"):
        invoice_life.cancel(dataclasses.replace(PENDING, status="paid"), "x")
    with pytest.raises(PreconditionFailed, match="only a paid invoice can be refunded"):
        invoice_life.refund(PENDING, "x", "payment_method", "CN-2026-11-0001")
    paid = dataclasses.replace(PENDING, status="paid", version=2, amount_paid=Decimal("11.90"))
    # Part of what was paid: a credit note of that part; the invoice stays paid, its credits used stay spent.
    part = invoice_life.refund(paid, "goodwill", "payment_method", "CN-2026-11-0001", amount="4.00")
    assert (part.to_status, part.restore_credits, part.values["refunded_amount"]) == ("paid", False, Decimal("4.00"))
    with pytest.raises(InvalidInput, match=r"at most 7\.90"):
        invoice_life.refund(
            dataclasses.replace(paid, refunded_amount=Decimal("4.00")), "x", "payment_method", "", amount="8.00"
        )
    refunded = invoice_life.refund(paid, "outage", "account_credit", "CN-2026-11-0001", credit_id=9)
    payload = refunded.payload
    assert isinstance(payload, billing_events.InvoiceRefunded)
    assert (payload.amount, payload.credits_restored, payload.credit_id, payload.credit_note_number) == (
        "11.90",
        "1.00",
        9,
        "CN-2026-11-0001",
    )
    with pytest.raises(InvalidInput, match="refund_to"):
        invoice_life.refund(paid, "x", "cash", "CN-2026-11-0002")
    assert invoice_life.credit_note_number(date(2026, 11, 1), 12) == "CN-2026-11-0012"
