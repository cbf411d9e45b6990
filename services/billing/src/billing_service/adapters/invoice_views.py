"""Reading invoices: a page of an account's (or every account's) invoices, one with its items.

The read side, answered straight from the tables (like cosmicpython's ``views``): nothing here
changes anything, so it needs no aggregate and no unit of work."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine, Row

from billing_service.adapters.tables import (
    INVOICE_STATUSES,
    billing_accounts,
    invoice_items,
    invoice_payments,
    invoices,
)
from cpshared.errors import InvalidInput, NotFound

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
