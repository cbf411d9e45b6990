"""Payments, cancellations and refunds on in-memory fakes of billing's ports: what changes, what
is given back, which numbers are taken, what is recorded — no database."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from billing_service.config import BillingRules
from billing_service.domain.accounts import Account
from billing_service.domain.commands import RunInvoices
from billing_service.domain.credits import Credit, CreditGrant
from billing_service.service_layer import invoice_life
from billing_service.service_layer.invoice_run import run_invoices
from cloudplatform.billing.v1 import events_pb2 as billing_events
from cpshared.clock import ManualClock, set_clock
from cpshared.errors import Conflict, PreconditionFailed
from tests.unit.billing.fakes import FakeDatabase, usage_of

OCTOBER = datetime(2026, 10, 1, tzinfo=UTC)
ALICE = Account("user", 10)


@pytest.fixture(autouse=True)
def clock() -> Iterator[ManualClock]:
    manual = ManualClock(datetime(2026, 11, 2, 3, 0, tzinfo=UTC))
    previous = set_clock(manual)
    try:
        yield manual
    finally:
        set_clock(previous)


def issued_with_a_credit(db: FakeDatabase) -> tuple[int, int]:
    """Alice's October invoice (3.78 gross), 1.00 of it paid by a credit: (invoice id, credit id)."""
    with db.uow() as uow:
        uow.usage.add(ALICE, usage_of(2, OCTOBER, 744))
        grant = CreditGrant("promotional", Decimal("1.00"), "EUR", None, "welcome")
        credit = Credit.grant(10, None, grant, datetime(2026, 9, 1, tzinfo=UTC))
        uow.credits.add(credit)
        uow.commit()
    (issued,) = run_invoices(RunInvoices(date(2026, 10, 1)), BillingRules().invoice_terms(), db.uow).issued
    return issued.invoice_id, credit.id


def test_a_refund_to_the_account_is_a_credit_note_and_a_compensation_credit() -> None:
    db = FakeDatabase()
    invoice_id, used = issued_with_a_credit(db)
    assert db.data.credits[used].balance == Decimal("0.00")
    invoice_life.record_payment(invoice_id, "2.78", "paypal", "PAYID-1", None, db.uow())

    refunded = invoice_life.refund(invoice_id, "outage", "account_credit", db.uow())

    assert (refunded.status, refunded.version) == ("refunded", 3)
    stored = db.data.invoices[invoice_id]
    assert (stored.status, stored.version) == ("refunded", 3)
    assert db.data.counters[("credit_note", "2026-11")] == 1
    (compensation,) = [c for c in db.data.credits.values() if c.type == "compensation"]
    assert (compensation.user_id, compensation.amount, compensation.balance) == (10, Decimal("2.78"), Decimal("2.78"))
    assert compensation.description == "Credit note CN-2026-11-0001 for invoice INV-2026-10-0001"
    assert db.data.credits[used].balance == Decimal("1.00")  # what the invoice used went back
    assert [a for a in db.data.applications if a[1] == invoice_id] == []
    granted, refund = db.data.outbox[-2:]
    assert (granted.spec.event_type, granted.aggregate_id) == ("credit.granted", compensation.id)
    assert (refund.spec.event_type, refund.version) == ("invoice.refunded", 3)
    assert isinstance(refund.payload, billing_events.InvoiceRefunded)
    assert (refund.payload.credit_note_number, refund.payload.credit_id, refund.payload.credits_restored) == (
        "CN-2026-11-0001",
        compensation.id,
        "1.00",
    )


def test_a_refused_refund_takes_no_credit_note_number_and_changes_nothing() -> None:
    db = FakeDatabase()
    invoice_id, _ = issued_with_a_credit(db)
    before = (dict(db.data.invoices), list(db.data.outbox), dict(db.data.counters), dict(db.data.credits))

    with pytest.raises(PreconditionFailed, match="only a paid invoice"):
        invoice_life.refund(invoice_id, "outage", "account_credit", db.uow())

    assert (dict(db.data.invoices), list(db.data.outbox), dict(db.data.counters), dict(db.data.credits)) == before
    assert ("credit_note", "2026-11") not in db.data.counters


def test_cancelling_gives_the_credits_back_once() -> None:
    db = FakeDatabase()
    invoice_id, used = issued_with_a_credit(db)

    cancelled = invoice_life.cancel(invoice_id, "billed by mistake", db.uow())

    assert cancelled.status == "cancelled"
    assert db.data.credits[used].balance == Decimal("1.00")
    assert db.data.applications == []
    event = db.data.outbox[-1]
    assert isinstance(event.payload, billing_events.InvoiceCancelled)
    assert (event.spec.event_type, event.payload.credits_restored) == ("invoice.cancelled", "1.00")
    with pytest.raises(PreconditionFailed):
        invoice_life.cancel(invoice_id, "again", db.uow())
    assert db.data.credits[used].balance == Decimal("1.00")


def test_a_change_made_from_a_stale_read_is_a_conflict_and_changes_nothing(clock: ManualClock) -> None:
    db = FakeDatabase()
    invoice_id, _ = issued_with_a_credit(db)
    with db.uow() as uow:
        stale = uow.invoices.get(invoice_id)
        invoice_life.record_payment(invoice_id, "2.78", "paypal", "PAYID-1", None, db.uow())
        stale.cancel("too late", clock.now())
        with pytest.raises(Conflict):
            uow.commit()
    assert db.data.invoices[invoice_id].status == "paid"
    assert [e.spec.event_type for e in db.data.outbox][-1] == "invoice.paid"
