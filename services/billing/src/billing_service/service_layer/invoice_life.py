"""Invoice life in the database: each status change in one transaction with its event.

``apply_transition`` is the one writer: an UPDATE conditional on the old status (and the
invoice's version), the credits the invoice used given back when the transition says so, and
the event through the outbox — all in the caller's transaction. The overdue sweep calls
``mark_invoice_overdue`` (or ``domain.invoice_life.mark_overdue`` + ``apply_transition``) per
invoice; payments, cancellations and refunds come from the gRPC API.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Connection, Engine

from billing_service import SERVICE_NAME
from billing_service.adapters.tables import (
    credit_applications,
    credit_note_sequences,
    credits,
    invoices,
)
from billing_service.domain import invoice_life
from billing_service.domain.invoice_life import InvoiceSnapshot, Transition
from cloudplatform.billing.v1 import events_pb2 as billing_events
from cpshared.clock import utcnow
from cpshared.errors import Conflict, NotFound
from cpshared.events import catalog
from cpshared.events.envelope import new_event
from cpshared.events.outbox import write_events


def _naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def load(conn: Connection, invoice_id: int, *, lock: bool = False) -> InvoiceSnapshot:
    query = sa.select(invoices).where(invoices.c.id == invoice_id)
    row = conn.execute(query.with_for_update() if lock else query).first()
    if row is None:
        raise NotFound(f"invoice {invoice_id} does not exist")
    return InvoiceSnapshot.from_row(row)


def _restore_credits(conn: Connection, invoice_id: int) -> Decimal:
    """Give the credits an invoice used back to their balances (once: the applications go)."""
    rows = conn.execute(
        sa.select(credit_applications).where(credit_applications.c.invoice_id == invoice_id).with_for_update()
    ).all()
    for row in rows:
        conn.execute(
            credits.update().where(credits.c.id == row.credit_id).values(balance=credits.c.balance + row.amount)
        )
    if rows:
        conn.execute(credit_applications.delete().where(credit_applications.c.invoice_id == invoice_id))
    return sum((r.amount for r in rows), Decimal("0.00"))


def apply_transition(conn: Connection, transition: Transition, now: datetime | None = None) -> None:
    """Write ``transition`` and record its event, in ``conn``'s transaction. Conflict if the
    invoice changed since it was read (another transition won)."""
    now = now or utcnow()
    invoice = transition.invoice
    changed = conn.execute(
        invoices.update()
        .where(
            invoices.c.id == invoice.invoice_id,
            invoices.c.status == transition.from_status,
            invoices.c.version == invoice.version,
        )
        .values(
            status=transition.to_status,
            version=transition.version,
            updated_at=_naive(now),
            **{k: _naive(v) if isinstance(v, datetime) else v for k, v in transition.values.items()},
        )
    )
    if changed.rowcount != 1:
        raise Conflict(f"invoice {invoice.invoice_number} changed meanwhile; read it again")
    if transition.restore_credits:
        _restore_credits(conn, invoice.invoice_id)
    event = new_event(
        transition.spec,
        producer=SERVICE_NAME,
        aggregate_id=invoice.invoice_id,
        aggregate_version=transition.version,
        payload=transition.payload,
    )
    write_events(conn, [event])


def mark_invoice_overdue(conn: Connection, invoice_id: int, now: datetime) -> bool:
    """For the overdue sweep: mark one invoice overdue if it is (locked, in ``conn``'s
    transaction); True if it was marked."""
    transition = invoice_life.mark_overdue(load(conn, invoice_id, lock=True), now)
    if transition is None:
        return False
    apply_transition(conn, transition, now)
    return True


def record_payment(
    engine: Engine, invoice_id: int, amount: str, method: str, reference: str, paid_at: datetime | None
) -> InvoiceSnapshot:
    now = utcnow()
    with engine.begin() as conn:
        invoice = load(conn, invoice_id, lock=True)
        transition = invoice_life.record_payment(invoice, amount, method, reference, paid_at or now)
        apply_transition(conn, transition, now)
        return load(conn, invoice_id)


def cancel(engine: Engine, invoice_id: int, reason: str) -> InvoiceSnapshot:
    with engine.begin() as conn:
        transition = invoice_life.cancel(load(conn, invoice_id, lock=True), reason)
        apply_transition(conn, transition)
        return load(conn, invoice_id)


def _next_credit_note(conn: Connection, month: date) -> str:
    key = f"{month:%Y-%m}"
    upsert = mysql.insert(credit_note_sequences).values(period=key, last_number=1)
    conn.execute(upsert.on_duplicate_key_update(last_number=credit_note_sequences.c.last_number + 1))
    number = conn.execute(
        sa.select(credit_note_sequences.c.last_number).where(credit_note_sequences.c.period == key)
    ).scalar_one()
    return invoice_life.credit_note_number(month, int(number))


def refund(engine: Engine, invoice_id: int, reason: str, refund_to: str) -> InvoiceSnapshot:
    """A credit note for a paid invoice; with ``account_credit`` the amount becomes a
    compensation credit of the account (``credit.granted``), else it goes back to the payment
    method it was paid with."""
    now = utcnow()
    with engine.begin() as conn:
        invoice = load(conn, invoice_id, lock=True)
        invoice_life.refund(invoice, reason, refund_to, "")  # checks before anything is written
        number = _next_credit_note(conn, now.date())
        credit_id = 0
        if refund_to == "account_credit" and invoice.total > 0:
            description = f"Credit note {number} for invoice {invoice.invoice_number}"
            inserted = conn.execute(
                credits.insert().values(
                    user_id=invoice.user_id,
                    organization_id=invoice.organization_id,
                    amount=invoice.total,
                    balance=invoice.total,
                    currency=invoice.currency,
                    description=description,
                    type="compensation",
                    expires_at=None,
                    created_at=_naive(now),
                )
            )
            credit_id = int(inserted.lastrowid)
            write_events(
                conn,
                [
                    new_event(
                        catalog.CREDIT_GRANTED,
                        producer=SERVICE_NAME,
                        aggregate_id=credit_id,
                        aggregate_version=1,
                        payload=billing_events.CreditGranted(
                            credit_id=credit_id,
                            user_id=invoice.user_id,
                            organization_id=invoice.organization_id or 0,
                            type="compensation",
                            amount=str(invoice.total),
                            currency=invoice.currency,
                            description=description,
                        ),
                    )
                ],
            )
        apply_transition(conn, invoice_life.refund(invoice, reason, refund_to, number, credit_id), now)
        return load(conn, invoice_id)
