"""Invoice life on the real database: payment, overdue, cancel and refund with a credit note,
each a conditional status change with its event in the outbox in the same transaction; the
credits an invoice used come back when it is cancelled or refunded."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from billing_service.adapters.tables import credit_applications, credits, invoice_payments, invoices
from billing_service.config import BillingRules
from billing_service.domain.invoices import Invoice
from billing_service.service_layer import invoice_life
from cloudplatform.billing.v1 import events_pb2 as billing_events
from cpshared.clock import ManualClock, set_clock
from cpshared.errors import Conflict, InvalidInput, PreconditionFailed
from cpshared.events import catalog
from cpshared.events.envelope import parse_envelope
from cpshared.events.tables import outbox
from tests.integration.billing.support import OCTOBER, apply, hours, run_invoices, uow_of

RULES = BillingRules(billing_payment_terms_days=14)


@pytest.fixture
def clock() -> Iterator[ManualClock]:
    manual = ManualClock(datetime(2026, 11, 2, 3, 0, tzinfo=UTC))
    previous = set_clock(manual)
    try:
        yield manual
    finally:
        set_clock(previous)


def issue(engine: Engine, *, users: tuple[int, ...] = (10,), credit: str | None = None) -> list[int]:
    for n, user in enumerate(users):
        apply(engine, hours(100 + n, OCTOBER, 744, user_id=user, product="cx32"))
    if credit:
        with engine.begin() as conn:
            conn.execute(
                credits.insert().values(
                    user_id=users[0],
                    amount=Decimal(credit),
                    balance=Decimal(credit),
                    currency="EUR",
                    type="promotional",
                    created_at=datetime(2026, 9, 1),
                )
            )
    report = run_invoices(engine, OCTOBER.date(), RULES)
    return [i.invoice_id for i in report.issued]


def load(engine: Engine, invoice_id: int) -> Invoice:
    with uow_of(engine) as uow:
        return uow.invoices.get(invoice_id)


def events(engine: Engine) -> list[tuple[str, int, object]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(outbox.c.envelope).order_by(outbox.c.id)).all()
    out: list[tuple[str, int, object]] = []
    for row in rows:
        envelope = parse_envelope(row.envelope)
        spec = catalog.REGISTRY.spec(envelope.event_type)
        payload = spec.message()
        envelope.payload.Unpack(payload)
        out.append((envelope.event_type, envelope.aggregate_version, payload))
    return out


def test_payment_of_a_pending_invoice(billing_db: tuple[str, Engine], clock: ManualClock) -> None:
    _, engine = billing_db
    (invoice_id,) = issue(engine)
    paid = invoice_life.record_payment(
        invoice_id, "6.79", "credit_card", "pi_42", datetime(2026, 11, 3, 8, 0, tzinfo=UTC), uow_of(engine)
    )
    assert (paid.status, paid.version) == ("paid", 2)
    with engine.connect() as conn:
        row = conn.execute(sa.select(invoices).where(invoices.c.id == invoice_id)).one()
    assert (row.paid_at, row.payment_method, row.payment_reference) == (
        datetime(2026, 11, 3, 8, 0),
        "credit_card",
        "pi_42",
    )
    kind, version, payload = events(engine)[-1]
    assert (kind, version) == ("invoice.paid", 2)
    assert isinstance(payload, billing_events.InvoicePaid)
    assert (payload.amount, payload.reference, payload.invoice.invoice_number) == ("6.79", "pi_42", "INV-2026-10-0001")
    with pytest.raises(PreconditionFailed, match="is paid"):
        invoice_life.record_payment(invoice_id, "6.79", "credit_card", "pi_43", None, uow_of(engine))
    assert len(events(engine)) == 2  # issued, paid: the refused payment recorded nothing


def test_overdue_then_paid_and_the_sweep_function(billing_db: tuple[str, Engine], clock: ManualClock) -> None:
    _, engine = billing_db
    first, second = issue(engine, users=(10, 11))
    due = datetime(2026, 11, 16, tzinfo=UTC)  # issued 2026-11-02 + 14 days
    assert not invoice_life.mark_overdue(first, due + timedelta(hours=23), uow_of(engine))
    assert invoice_life.mark_overdue(first, due + timedelta(days=1), uow_of(engine))
    assert not invoice_life.mark_overdue(first, due + timedelta(days=2), uow_of(engine))  # once
    assert load(engine, first).status == "overdue"
    assert load(engine, second).status == "pending"
    paid = invoice_life.record_payment(first, "6.79", "bank_transfer", "SEPA-77", None, uow_of(engine))
    assert (paid.status, paid.version) == ("paid", 3)
    kinds = [(k, v) for k, v, _ in events(engine)]
    assert kinds[-2:] == [("invoice.overdue", 2), ("invoice.paid", 3)]


def test_cancel_gives_the_credits_back(billing_db: tuple[str, Engine], clock: ManualClock) -> None:
    _, engine = billing_db
    (invoice_id,) = issue(engine, credit="2.00")
    with engine.connect() as conn:
        assert conn.execute(sa.select(credits.c.balance)).scalar_one() == Decimal("0.00")
    cancelled = invoice_life.cancel(invoice_id, "billed by mistake", uow_of(engine))
    assert cancelled.status == "cancelled"
    with engine.connect() as conn:
        assert conn.execute(sa.select(credits.c.balance)).scalar_one() == Decimal("2.00")
        assert conn.execute(sa.select(sa.func.count()).select_from(credit_applications)).scalar_one() == 0
    kind, _, payload = events(engine)[-1]
    assert kind == "invoice.cancelled"
    assert isinstance(payload, billing_events.InvoiceCancelled)
    assert (payload.credits_restored, payload.reason) == ("2.00", "billed by mistake")
    with pytest.raises(PreconditionFailed):
        invoice_life.cancel(invoice_id, "again", uow_of(engine))


def test_refund_issues_a_credit_note_and_optionally_an_account_credit(
    billing_db: tuple[str, Engine], clock: ManualClock
) -> None:
    _, engine = billing_db
    first, second = issue(engine, users=(10, 11))
    with pytest.raises(PreconditionFailed, match="only a paid invoice"):
        invoice_life.refund(first, "x", "payment_method", uow_of(engine))
    for invoice_id in (first, second):
        invoice_life.record_payment(invoice_id, "6.79", "credit_card", f"pi_{invoice_id}", None, uow_of(engine))
    one = invoice_life.refund(first, "duplicate charge", "payment_method", uow_of(engine))
    two = invoice_life.refund(second, "outage", "account_credit", uow_of(engine))
    assert (one.status, two.status) == ("refunded", "refunded")
    with engine.connect() as conn:
        rows = {r.id: r for r in conn.execute(sa.select(invoices)).all()}
        credit = conn.execute(sa.select(credits)).one()
    assert (rows[first].credit_note_number, rows[second].credit_note_number) == ("CN-2026-11-0001", "CN-2026-11-0002")
    assert rows[second].refunded_amount == Decimal("6.79")
    assert (credit.user_id, credit.amount, credit.balance, credit.type) == (
        11,
        Decimal("6.79"),
        Decimal("6.79"),
        "compensation",
    )
    tail = events(engine)[-3:]
    assert [k for k, _, _ in tail] == ["invoice.refunded", "credit.granted", "invoice.refunded"]
    refunded = tail[2][2]
    assert isinstance(refunded, billing_events.InvoiceRefunded)
    assert (refunded.refunded_to, refunded.credit_id, refunded.amount) == ("account_credit", credit.id, "6.79")


def test_a_transition_from_a_stale_read_is_refused(billing_db: tuple[str, Engine], clock: ManualClock) -> None:
    _, engine = billing_db
    (invoice_id,) = issue(engine)
    with uow_of(engine) as uow:
        stale = uow.invoices.get(invoice_id)  # read, not locked
        invoice_life.record_payment(invoice_id, "6.79", "paypal", "PAYID-1", None, uow_of(engine))
        stale.cancel("too late", clock.now())
        with pytest.raises(Conflict):
            uow.commit()


def test_payments_and_refunds_are_ledger_entries(billing_db: tuple[str, Engine], clock: ManualClock) -> None:
    """A customer pays 6.79 in two transfers: the first leaves the invoice pending, the second
    pays it; a repeated reference is a conflict and records nothing. An overpayment of another
    invoice becomes an account credit. Refunds: part of what was paid (a credit note of that part,
    the invoice stays paid), then the rest (refunded). Every movement is a row of the ledger."""
    _, engine = billing_db
    first, second = issue(engine, users=(10, 11))
    part = invoice_life.record_payment(first, "2.00", "bank_transfer", "tr-1", None, uow_of(engine))
    assert (part.status, part.amount_paid, part.version) == ("pending", Decimal("2.00"), 2)
    kind, version, payload = events(engine)[-1]
    assert (kind, version) == ("invoice.payment_received", 2)
    assert isinstance(payload, billing_events.InvoicePaymentReceived)
    assert (payload.amount, payload.amount_paid, payload.remaining) == ("2.00", "2.00", "4.79")
    with pytest.raises(Conflict, match="tr-1"):
        invoice_life.record_payment(first, "2.00", "bank_transfer", "tr-1", None, uow_of(engine))
    assert load(engine, first).amount_paid == Decimal("2.00")  # the repeat changed nothing
    paid = invoice_life.record_payment(first, "4.79", "bank_transfer", "tr-2", None, uow_of(engine))
    assert (paid.status, paid.amount_paid, paid.version) == ("paid", Decimal("6.79"), 3)
    kind, _, payload = events(engine)[-1]
    assert kind == "invoice.paid" and isinstance(payload, billing_events.InvoicePaid)
    assert (payload.amount, payload.amount_paid, payload.overpayment) == ("4.79", "6.79", "0.00")

    over = invoice_life.record_payment(second, "10.00", "paypal", "pp-9", None, uow_of(engine))
    assert (over.status, over.amount_paid) == ("paid", Decimal("6.79"))
    with engine.connect() as conn:
        credit = conn.execute(sa.select(credits).where(credits.c.user_id == 11)).one()
    assert (credit.amount, credit.type) == (Decimal("3.21"), "compensation")
    assert "Overpayment of invoice INV-2026-10-0002" in credit.description

    partly = invoice_life.refund(first, "goodwill", "payment_method", uow_of(engine), "1.50")
    assert (partly.status, partly.refunded_amount) == ("paid", Decimal("1.50"))
    with pytest.raises(InvalidInput, match=r"at most 5\.29"):
        invoice_life.refund(first, "too much", "payment_method", uow_of(engine), "6.00")
    rest = invoice_life.refund(first, "service ended", "account_credit", uow_of(engine))
    assert (rest.status, rest.refunded_amount) == ("refunded", Decimal("6.79"))
    with engine.connect() as conn:
        ledger = conn.execute(
            sa.select(invoice_payments.c.kind, invoice_payments.c.amount, invoice_payments.c.reference)
            .where(invoice_payments.c.invoice_id == first)
            .order_by(invoice_payments.c.id)
        ).all()
        notes = [
            r.credit_note_number
            for r in conn.execute(
                sa.select(invoice_payments.c.credit_note_number)
                .where(invoice_payments.c.invoice_id == first, invoice_payments.c.kind == "refund")
                .order_by(invoice_payments.c.id)
            )
        ]
    assert [(k, a, r) for k, a, r in ledger] == [
        ("payment", Decimal("2.00"), "tr-1"),
        ("payment", Decimal("4.79"), "tr-2"),
        ("refund", Decimal("1.50"), notes[0]),
        ("refund", Decimal("5.29"), notes[1]),
    ]
    assert notes == ["CN-2026-11-0001", "CN-2026-11-0002"]
