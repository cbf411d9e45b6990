"""Reading invoices: a page of an account's (or every account's) invoices, one with its items.

The read side, answered straight from the tables (like cosmicpython's ``views``): nothing here
changes anything, so it needs no aggregate and no unit of work."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine, Row

from billing_service.adapters.tables import (
    INVOICE_STATUSES,
    billing_accounts,
    credits,
    invoice_items,
    invoice_payments,
    invoices,
)
from billing_service.domain.accounts import Account
from billing_service.domain.statement import (
    Statement,
    StatementCredit,
    StatementInvoice,
    StatementMovement,
    statement,
)
from cpshared.errors import InvalidInput, NotFound
from cpshared.timestamps import as_utc

MAX_PER_PAGE = 50


@dataclass(frozen=True)
class InvoicePage:
    rows: list[Row[Any]]
    total_entries: int


def list_invoices(
    engine: Engine, account: tuple[str, int] | None, status: str, page: int, per_page: int
) -> InvoicePage:
    """``account`` (type, id), or None for every account's; newest first."""
    if status and status not in INVOICE_STATUSES:
        raise InvalidInput(f"status {status!r} is not one of {', '.join(INVOICE_STATUSES)}")
    page = page or 1
    per_page = per_page or 25
    if page < 1 or not 1 <= per_page <= MAX_PER_PAGE:
        raise InvalidInput(f"page is from 1 and per_page from 1 to {MAX_PER_PAGE}")
    where: list[sa.ColumnElement[bool]] = []
    if account is not None:
        where += [invoices.c.account_type == account[0], invoices.c.account_id == account[1]]
    if status:
        where.append(invoices.c.status == status)
    with engine.connect() as conn:
        total = conn.execute(sa.select(sa.func.count()).select_from(invoices).where(*where)).scalar_one()
        rows = conn.execute(
            sa.select(invoices)
            .where(*where)
            .order_by(invoices.c.billing_period_start.desc(), invoices.c.id.desc())
            .limit(per_page)
            .offset((page - 1) * per_page)
        ).all()
    return InvoicePage(list(rows), int(total))


def payments_of(engine: Engine, invoice_id: int) -> list[Row[Any]]:
    """The invoice's ledger: its payments and refunds in the order they were recorded."""
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(invoice_payments)
                .where(invoice_payments.c.invoice_id == invoice_id)
                .order_by(invoice_payments.c.id)
            )
        )


def get_invoice(engine: Engine, invoice_id: int) -> tuple[Row[Any], list[Row[Any]], Row[Any] | None]:
    """The invoice, its items in order, and what billing knows of its account."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(invoices).where(invoices.c.id == invoice_id)).first()
        if row is None:
            raise NotFound(f"invoice {invoice_id} does not exist")
        items = conn.execute(
            sa.select(invoice_items).where(invoice_items.c.invoice_id == invoice_id).order_by(invoice_items.c.id)
        ).all()
        account = conn.execute(
            sa.select(billing_accounts).where(
                billing_accounts.c.account_type == row.account_type,
                billing_accounts.c.account_id == row.account_id,
            )
        ).first()
    return row, list(items), account


def statement_of(engine: Engine, account: Account, currency: str, now: datetime) -> Statement:
    """The account's statement (``domain/statement.py``): its invoices, their payments and
    refunds, and its credits, read in one connection."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(invoices)
            .where(invoices.c.account_type == account.account_type, invoices.c.account_id == account.account_id)
            .order_by(invoices.c.id)
        ).all()
        numbers = {int(r.id): str(r.invoice_number) for r in rows}
        ledger = (
            conn.execute(
                sa.select(invoice_payments)
                .where(invoice_payments.c.invoice_id.in_(list(numbers)))
                .order_by(invoice_payments.c.id)
            ).all()
            if numbers
            else []
        )
        owned = conn.execute(
            sa.select(credits)
            .where(
                credits.c.organization_id == account.account_id
                if account.account_type == "organization"
                else sa.and_(credits.c.organization_id.is_(None), credits.c.user_id == account.account_id)
            )
            .order_by(credits.c.id)
        ).all()
    return statement(
        currency,
        [
            StatementInvoice(
                number=str(r.invoice_number),
                status=r.status,
                total=r.total,
                amount_paid=r.amount_paid,
                issued_at=as_utc(r.issued_at or r.created_at),
                cancelled_at=as_utc(r.updated_at) if r.status == "cancelled" and r.updated_at else None,
            )
            for r in rows
        ],
        [
            StatementMovement(
                kind=r.kind,
                invoice_number=numbers[int(r.invoice_id)],
                amount=r.amount,
                method=r.method or "",
                reference=r.reference or r.credit_note_number or "",
                occurred_at=as_utc(r.occurred_at),
            )
            for r in ledger
        ],
        [
            StatementCredit(
                kind=r.type or "manual",
                amount=r.amount,
                balance=r.balance,
                description=r.description or "",
                granted_at=as_utc(r.created_at),
                expired=r.expires_at is not None and as_utc(r.expires_at) <= now,
            )
            for r in owned
            if (r.currency or currency) == currency
        ],
    )
