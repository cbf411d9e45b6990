"""Billing's repositories on MariaDB (SQLAlchemy Core on the unit of work's session).

Rows become aggregates here and aggregates rows; nothing here decides a rule. Times are stored
as naive UTC (DATETIME columns) and handed out aware (cpshared.timestamps.as_utc).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Connection, Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from billing_service.adapters.tables import (
    billing_accounts,
    billing_settings,
    credit_applications,
    credit_note_sequences,
    credits,
    invoice_items,
    invoice_payments,
    invoice_sequences,
    invoices,
    payment_methods,
    pricing_plans,
    scheduled_runs,
    suspension_requests,
    usage_records,
    usage_records_removed,
)
from billing_service.domain.accounts import Account, BillingProfile
from billing_service.domain.credits import Credit
from billing_service.domain.invoice import next_month
from billing_service.domain.invoice_life import LedgerEntry
from billing_service.domain.invoices import Invoice
from billing_service.domain.payment_methods import PaymentMethod
from billing_service.domain.pricing import Line, MeteredUsage, UsageRecord, month_of
from billing_service.domain.pricing_plans import PlanTerms, PricingPlan
from billing_service.service_layer import ports
from cpshared.errors import AlreadyExists, Conflict, NotFound
from cpshared.timestamps import as_utc


def naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def usage_filter(account: Account) -> sa.ColumnElement[bool]:
    if account.account_type == "organization":
        return usage_records.c.organization_id == account.account_id
    return sa.and_(usage_records.c.organization_id.is_(None), usage_records.c.user_id == account.account_id)


def accounts_filter(table: sa.Table, accounts: Sequence[Account]) -> sa.ColumnElement[bool]:
    """Rows of any of ``accounts`` in a table with ``user_id`` and ``organization_id``: two IN
    lists (an index range each), not one condition per account."""
    users = [a.account_id for a in accounts if a.account_type == "user"]
    organizations = [a.account_id for a in accounts if a.account_type == "organization"]
    return sa.or_(
        sa.and_(table.c.organization_id.is_(None), table.c.user_id.in_(users)),
        table.c.organization_id.in_(organizations),
    )


def credit_filter(account: Account) -> sa.ColumnElement[bool]:
    if account.account_type == "organization":
        return credits.c.organization_id == account.account_id
    return sa.and_(credits.c.organization_id.is_(None), credits.c.user_id == account.account_id)


def metered(row: Row[Any]) -> MeteredUsage:
    """A ``usage_records`` row (live or rebuilt) as the pricing reads it."""
    meta = row.metadata or {}
    return MeteredUsage(
        resource_type=row.resource_type,
        resource_id=row.resource_id,
        metric_type=row.metric_type,
        product=row.product,
        period_start=as_utc(row.recorded_at),
        period_end=as_utc(row.period_end),
        quantity=row.quantity,
        price_hourly=row.unit_price if row.unit_price is not None else Decimal(0),
        price_monthly=row.price_monthly,
        currency=row.currency,
        resource_name=str(meta.get("resource_name", "")),
        location=str(meta.get("location", "")),
    )


def profile_of(row: Row[Any]) -> BillingProfile:
    """A ``billing_accounts`` row (live or rebuilt)."""
    return BillingProfile(
        account=Account(row.account_type, int(row.account_id)),
        owner_user_id=row.owner_user_id,
        country=row.country,
        tax_id=row.tax_id,
        company_name=row.company_name,
        billing_email=row.billing_email,
        status=row.status,
    )


def invoice_of(row: Row[Any]) -> Invoice:
    return Invoice(
        id=int(row.id),
        invoice_number=row.invoice_number,
        account=Account(row.account_type, int(row.account_id)),
        user_id=int(row.user_id),
        status=row.status,
        currency=row.currency or "EUR",
        subtotal=row.subtotal,
        tax_rate=row.tax_rate,
        tax_amount=row.tax_amount,
        credits_applied=row.credits_applied or Decimal("0.00"),
        total=row.total,
        period_start=row.billing_period_start,
        period_end=row.billing_period_end,
        due_date=row.due_date,
        notes=row.notes,
        issued_at=as_utc(row.issued_at) if row.issued_at is not None else None,
        version=row.version,
        amount_paid=row.amount_paid,
        refunded_amount=row.refunded_amount or Decimal("0.00"),
    )


def credit_of(row: Row[Any]) -> Credit:
    created = as_utc(row.created_at)
    return Credit(
        id=int(row.id),
        user_id=int(row.user_id),
        organization_id=row.organization_id,
        type=row.type or "manual",
        amount=row.amount,
        balance=row.balance,
        currency=row.currency or "EUR",
        description=row.description,
        expires_at=as_utc(row.expires_at) if row.expires_at is not None else None,
        created_at=created,
        stored_balance=row.balance,
    )


def invoice_row(invoice: Invoice) -> dict[str, Any]:
    """A new invoice as its ``invoices`` row."""
    issued = naive(invoice.issued_at) if invoice.issued_at is not None else None
    return {
        "user_id": invoice.user_id,
        "organization_id": invoice.organization_id,
        "invoice_number": invoice.invoice_number,
        "status": invoice.status,
        "currency": invoice.currency,
        "subtotal": invoice.subtotal,
        "tax_rate": invoice.tax_rate,
        "tax_amount": invoice.tax_amount,
        "total": invoice.total,
        "credits_applied": invoice.credits_applied,
        "billing_period_start": invoice.period_start,
        "billing_period_end": invoice.period_end,
        "due_date": invoice.due_date,
        "notes": invoice.notes,
        "created_at": issued,
        "updated_at": issued,
        "account_type": invoice.account.account_type,
        "account_id": invoice.account.account_id,
        "issued_at": issued,
    }


def item_row(invoice_id: int, line: Line) -> dict[str, Any]:
    key = line.key
    return {
        "invoice_id": invoice_id,
        "resource_type": key.resource_type,
        "resource_id": key.resource_id,
        "description": line.description,
        "quantity": line.quantity,
        "unit_price": line.unit_price,
        "total": line.total,
        "usage_period_start": naive(line.period_start),
        "usage_period_end": naive(line.period_end),
        "metadata": {
            "product": key.product,
            "metric_type": key.metric_type,
            "month": f"{key.month:%Y-%m}",
            "location": line.location,
            "price_hourly_gross": str(key.price_hourly),
            "price_monthly_gross": None if key.price_monthly is None else str(key.price_monthly),
            "capped": line.capped,
            "adjustment": line.adjustment,
        },
    }


class _OnSession:
    """Core statements on the unit of work's session (its transaction)."""

    session: Session

    @property
    def _sql(self) -> Connection:
        return self.session.connection()

    def _row(self, table: sa.Table, row_id: int, what: str, *, lock: bool) -> Row[Any]:
        """The row of ``table`` with id ``row_id`` (locked until the commit with ``lock``); NotFound if none."""
        query = sa.select(table).where(table.c.id == row_id)
        row = self._sql.execute(query.with_for_update() if lock else query).first()
        if row is None:
            raise NotFound(f"{what} {row_id} does not exist")
        return row


class SqlInvoiceRepository(_OnSession, ports.InvoiceRepository):
    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session

    def invoiced_among(self, accounts: Sequence[Account], period: date) -> set[Account]:
        if not accounts:
            return set()
        rows = self._sql.execute(
            sa.select(invoices.c.account_type, invoices.c.account_id).where(
                sa.tuple_(invoices.c.account_type, invoices.c.account_id).in_(
                    [(a.account_type, a.account_id) for a in accounts]
                ),
                invoices.c.billing_period_start == period,
            )
        ).all()
        return {Account(r.account_type, int(r.account_id)) for r in rows}

    def periods_of(self, account: Account, before: date) -> set[date]:
        return set(
            self._sql.execute(
                sa.select(invoices.c.billing_period_start)
                .where(
                    invoices.c.account_type == account.account_type,
                    invoices.c.account_id == account.account_id,
                    invoices.c.billing_period_start < before,
                )
                .distinct()
            ).scalars()
        )

    def _add(self, invoice: Invoice) -> None:
        self._add_many([invoice])

    def _add_many(self, new: Sequence[Invoice]) -> None:
        """One INSERT … RETURNING for the invoices (ids in the order given), one for all their lines."""
        if not new:
            return
        ids = self._sql.execute(
            invoices.insert().returning(invoices.c.id, sort_by_parameter_order=True),
            [invoice_row(invoice) for invoice in new],
        ).scalars()
        for invoice, invoice_id in zip(new, ids, strict=True):
            invoice.id = int(invoice_id)
        items = [item_row(invoice.id, line) for invoice in new for line in invoice.lines]
        if items:
            self._sql.execute(invoice_items.insert(), items)

    def _get(self, invoice_id: int, *, lock: bool) -> Invoice:
        return invoice_of(self._row(invoices, invoice_id, "invoice", lock=lock))

    def flush(self) -> None:
        """Each pending transition as an UPDATE conditional on the status and version it started
        from: Conflict if the invoice changed since it was read (another transition won)."""
        for aggregate in self.seen:
            assert isinstance(aggregate, Invoice)
            for transition, when in aggregate.transitions:
                at = naive(when)
                changed = self._sql.execute(
                    invoices.update()
                    .where(
                        invoices.c.id == aggregate.id,
                        invoices.c.status == transition.from_status,
                        invoices.c.version == transition.invoice.version,
                    )
                    .values(
                        status=transition.to_status,
                        version=transition.version,
                        updated_at=at,
                        **{k: naive(v) if isinstance(v, datetime) else v for k, v in transition.values.items()},
                    )
                )
                if changed.rowcount != 1:
                    raise Conflict(f"invoice {aggregate.invoice_number} changed meanwhile; read it again")
                if transition.ledger is not None:
                    self._write_ledger(aggregate, transition.ledger, at)
            aggregate.transitions.clear()

    def _write_ledger(self, invoice: Invoice, entry: LedgerEntry, at: datetime) -> None:
        try:
            self._sql.execute(
                invoice_payments.insert().values(
                    invoice_id=invoice.id,
                    kind=entry.kind,
                    amount=entry.amount,
                    currency=invoice.currency,
                    method=entry.method,
                    reference=entry.reference,
                    credit_note_number=entry.credit_note_number,
                    credit_id=entry.credit_id,
                    occurred_at=naive(entry.occurred_at) if entry.occurred_at is not None else at,
                    created_at=at,
                )
            )
        except IntegrityError:
            raise Conflict(
                f"a {entry.kind} with reference {entry.reference!r} is already recorded for invoice "
                f"{invoice.invoice_number}"
            ) from None

    def pending_due_before(self, day: date) -> list[int]:
        due = self._sql.execute(
            sa.select(invoices.c.id)
            .where(invoices.c.status == "pending", invoices.c.due_date < day)
            .order_by(invoices.c.id)
        ).scalars()
        return [int(i) for i in due]

    def overdue_unrequested(self, due_before: date) -> list[int]:
        overdue = self._sql.execute(
            sa.select(invoices.c.id)
            .outerjoin(suspension_requests, suspension_requests.c.invoice_id == invoices.c.id)
            .where(
                invoices.c.status == "overdue",
                invoices.c.due_date < due_before,
                suspension_requests.c.invoice_id.is_(None),
            )
            .order_by(invoices.c.id)
        ).scalars()
        return [int(i) for i in overdue]

    def note_suspension_request(self, invoice: Invoice, at: datetime) -> bool:
        inserted = self._sql.execute(
            mysql.insert(suspension_requests)
            .values(
                invoice_id=invoice.id,
                account_type=invoice.account.account_type,
                account_id=invoice.account.account_id,
                requested_at=naive(at),
            )
            .prefix_with("IGNORE")
        )
        return int(inserted.rowcount) == 1

    def standing_suspension_requests(self, account: Account) -> list[int]:
        standing = self._sql.execute(
            sa.select(suspension_requests.c.invoice_id)
            .where(
                suspension_requests.c.account_type == account.account_type,
                suspension_requests.c.account_id == account.account_id,
                suspension_requests.c.lifted_at.is_(None),
            )
            .order_by(suspension_requests.c.invoice_id)
            .with_for_update()
        ).scalars()
        return [int(i) for i in standing]

    def has_overdue(self, account: Account) -> bool:
        overdue = {
            int(i)
            for i in self._sql.execute(
                sa.select(invoices.c.id).where(
                    invoices.c.account_type == account.account_type,
                    invoices.c.account_id == account.account_id,
                    invoices.c.status == "overdue",
                )
            ).scalars()
        }
        for aggregate in self.seen:  # changed in this transaction and not written yet
            if isinstance(aggregate, Invoice) and aggregate.account == account:
                if aggregate.status == "overdue":
                    overdue.add(aggregate.id)
                else:
                    overdue.discard(aggregate.id)
        return bool(overdue)

    def lift_suspension_requests(self, invoice_ids: Sequence[int], at: datetime) -> None:
        if invoice_ids:
            self._sql.execute(
                suspension_requests.update()
                .where(
                    suspension_requests.c.invoice_id.in_(list(invoice_ids)), suspension_requests.c.lifted_at.is_(None)
                )
                .values(lifted_at=naive(at))
            )


class SqlUsageRepository(_OnSession, ports.UsageRepository):
    def __init__(self, session: Session) -> None:
        self.session = session

    def accounts_with_unbilled(self, before: datetime) -> list[Account]:
        rows = self._sql.execute(
            sa.select(usage_records.c.organization_id, usage_records.c.user_id)
            .where(usage_records.c.billed.is_(False), usage_records.c.recorded_at < naive(before))
            .distinct()
        ).all()
        return sorted({Account.of(r.user_id, r.organization_id) for r in rows}, key=Account.sort_key)

    def lock_unbilled(self, accounts: Sequence[Account], before: datetime) -> dict[Account, list[UsageRecord]]:
        found: dict[Account, list[UsageRecord]] = {}
        if not accounts:
            return found
        rows = self._sql.execute(
            sa.select(usage_records)
            .where(
                accounts_filter(usage_records, accounts),
                usage_records.c.billed.is_(False),
                usage_records.c.recorded_at < naive(before),
            )
            .order_by(usage_records.c.id)
            .with_for_update()
        ).all()
        for r in rows:
            found.setdefault(Account.of(int(r.user_id), r.organization_id), []).append(
                UsageRecord(int(r.id), int(r.user_id), metered(r))
            )
        return found

    def billed_of(self, account: Account, late: Sequence[UsageRecord]) -> list[MeteredUsage]:
        months = {month_of(r.usage.period_start) for r in late}
        resources = {(r.usage.resource_type, r.usage.resource_id) for r in late}
        first = datetime.combine(min(months), datetime.min.time())
        last = datetime.combine(next_month(max(months)), datetime.min.time())
        rows = self._sql.execute(
            sa.select(usage_records).where(
                usage_filter(account),
                usage_records.c.billed.is_(True),
                usage_records.c.recorded_at >= first,
                usage_records.c.recorded_at < last,
                sa.tuple_(usage_records.c.resource_type, usage_records.c.resource_id).in_(sorted(resources)),
            )
        ).all()
        return [metered(r) for r in rows]

    def of_period(self, account: Account, start: datetime, end: datetime) -> list[UsageRecord]:
        rows = self._sql.execute(
            sa.select(usage_records)
            .where(
                usage_filter(account),
                usage_records.c.recorded_at >= naive(start),
                usage_records.c.recorded_at < naive(end),
            )
            .order_by(usage_records.c.id)
        ).all()
        return [UsageRecord(int(r.id), int(r.user_id), metered(r), r.total_cost or Decimal(0)) for r in rows]

    def mark_billed(self, billed: Mapping[Account, tuple[int, Sequence[int]]]) -> None:
        """One UPDATE for the run's whole batch: the records by id, each given its account's invoice."""
        ids = [record_id for _, records in billed.values() for record_id in records]
        if not ids:
            return
        invoice_of = sa.case(*((usage_filter(account), invoice_id) for account, (invoice_id, _) in billed.items()))
        marked = self._sql.execute(
            usage_records.update()
            .where(usage_records.c.id.in_(ids), usage_records.c.billed.is_(False))
            .values(billed=True, invoice_id=invoice_of)
        )
        if marked.rowcount != len(ids):
            raise RuntimeError(f"usage records {ids[:5]}… changed under the invoice run")

    def remove_billed(self, periods_ended_before: date, limit: int, at: datetime) -> int:
        rows = self._sql.execute(
            sa.select(
                usage_records.c.id, usage_records.c.event_id, usage_records.c.invoice_id, usage_records.c.period_end
            )
            .join(invoices, invoices.c.id == usage_records.c.invoice_id)
            .where(invoices.c.billing_period_end < periods_ended_before)
            .order_by(usage_records.c.id)
            .limit(limit)
            .with_for_update(of=usage_records)
        ).all()
        if not rows:
            return 0
        noted = mysql.insert(usage_records_removed).values(
            [
                {
                    "event_id": r.event_id,
                    "invoice_id": r.invoice_id,
                    "period_end": r.period_end,
                    "removed_at": naive(at),
                }
                for r in rows
            ]
        )
        self._sql.execute(noted.prefix_with("IGNORE"))
        self._sql.execute(usage_records.delete().where(usage_records.c.id.in_([int(r.id) for r in rows])))
        return len(rows)


class SqlCreditRepository(_OnSession, ports.CreditRepository):
    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session

    def _add(self, credit: Credit) -> None:
        inserted = self._sql.execute(
            credits.insert().values(
                user_id=credit.user_id,
                organization_id=credit.organization_id,
                amount=credit.amount,
                balance=credit.balance,
                currency=credit.currency,
                description=credit.description,
                type=credit.type,
                expires_at=naive(credit.expires_at) if credit.expires_at is not None else None,
                created_at=naive(credit.created_at),
            )
        )
        credit.id = int(inserted.lastrowid)
        credit.stored_balance = credit.balance

    def _get(self, credit_id: int, *, lock: bool) -> Credit:
        return credit_of(self._row(credits, credit_id, "credit", lock=lock))

    def _lock_usable(self, accounts: Sequence[Account]) -> dict[Account, list[Credit]]:
        found: dict[Account, list[Credit]] = {}
        if not accounts:
            return found
        rows = self._sql.execute(
            sa.select(credits)
            .where(accounts_filter(credits, accounts), credits.c.balance > 0)
            .order_by(credits.c.id)
            .with_for_update()
        ).all()
        for r in rows:
            credit = credit_of(r)
            found.setdefault(credit.account, []).append(credit)
        return found

    def of_account(self, account: Account) -> list[Credit]:
        rows = self._sql.execute(
            sa.select(credits)
            .where(credit_filter(account))
            .order_by(credits.c.expires_at.is_(None), credits.c.expires_at, credits.c.id)
        ).all()
        return [credit_of(r) for r in rows]

    def applications_to(self, invoice_id: int) -> list[tuple[int, Decimal]]:
        rows = self._sql.execute(
            sa.select(credit_applications).where(credit_applications.c.invoice_id == invoice_id).with_for_update()
        ).all()
        return [(int(r.credit_id), r.amount) for r in rows]

    def flush(self) -> None:
        """A changed balance is written only if it is still the one loaded (the row is locked
        when it was loaded to be spent); then its new and given-back applications."""
        for aggregate in self.seen:
            assert isinstance(aggregate, Credit)
            if aggregate.stored_balance is not None and aggregate.balance != aggregate.stored_balance:
                changed = self._sql.execute(
                    credits.update()
                    .where(credits.c.id == aggregate.id, credits.c.balance == aggregate.stored_balance)
                    .values(balance=aggregate.balance)
                )
                if changed.rowcount != 1:
                    raise RuntimeError(f"credit {aggregate.id} changed under this transaction")
                aggregate.stored_balance = aggregate.balance
            if aggregate.applied:
                self._sql.execute(
                    credit_applications.insert(),
                    [
                        {"credit_id": aggregate.id, "invoice_id": i, "amount": amount, "applied_at": naive(at)}
                        for i, amount, at in aggregate.applied
                    ],
                )
                aggregate.applied.clear()
            if aggregate.given_back:
                self._sql.execute(
                    credit_applications.delete().where(
                        credit_applications.c.credit_id == aggregate.id,
                        credit_applications.c.invoice_id.in_(aggregate.given_back),
                    )
                )
                aggregate.given_back.clear()


def plan_of(row: Row[Any]) -> PricingPlan:
    terms = PlanTerms(
        name=row.name,
        resource_type=row.resource_type,
        price_hourly=row.price_hourly,
        price_monthly=row.price_monthly,
        price_per_gb=row.price_per_gb,
        included_traffic_tb=row.included_traffic_tb or 0,
        overage_price_per_tb=row.overage_price_per_tb,
        currency=row.currency or "",
        active=bool(row.active),
        percentage=row.percentage,
    )
    updated = as_utc(row.updated_at) if row.updated_at is not None else None
    return PricingPlan(id=int(row.id), code=row.code, terms=terms, version=row.version, updated_at=updated)


def plan_values(plan: PricingPlan) -> dict[str, Any]:
    terms = plan.terms
    return {
        "name": terms.name,
        "resource_type": terms.resource_type,
        "price_hourly": terms.price_hourly,
        "price_monthly": terms.price_monthly,
        "price_per_gb": terms.price_per_gb,
        "included_traffic_tb": terms.included_traffic_tb,
        "overage_price_per_tb": terms.overage_price_per_tb,
        "currency": terms.currency,
        "active": terms.active,
        "percentage": terms.percentage,
        "version": plan.version,
        "updated_at": naive(plan.updated_at) if plan.updated_at is not None else None,
    }


class SqlPricingPlanRepository(_OnSession, ports.PricingPlanRepository):
    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session

    def _add(self, plan: PricingPlan) -> None:
        values = plan_values(plan)
        try:
            inserted = self._sql.execute(
                pricing_plans.insert().values(code=plan.code, created_at=values["updated_at"], **values)
            )
        except IntegrityError:  # the unique code: the unit of work rolls back on the way out
            raise AlreadyExists(f"a pricing plan with the code {plan.code!r} exists") from None
        plan.id = int(inserted.lastrowid)

    def _get(self, plan_id: int, *, lock: bool) -> PricingPlan:
        return plan_of(self._row(pricing_plans, plan_id, "pricing plan", lock=lock))

    def list(self, resource_type: str, include_inactive: bool) -> list[PricingPlan]:
        where: list[sa.ColumnElement[bool]] = []
        if resource_type:
            where.append(pricing_plans.c.resource_type == resource_type)
        if not include_inactive:
            where.append(pricing_plans.c.active.is_(True))
        rows = self._sql.execute(sa.select(pricing_plans).where(*where).order_by(pricing_plans.c.id)).all()
        return [plan_of(r) for r in rows]

    def flush(self) -> None:
        for aggregate in self.seen:
            assert isinstance(aggregate, PricingPlan)
            if aggregate.changed:
                self._sql.execute(
                    pricing_plans.update().where(pricing_plans.c.id == aggregate.id).values(**plan_values(aggregate))
                )
                aggregate.changed = False


def payment_method_filter(account: Account) -> sa.ColumnElement[bool]:
    if account.account_type == "organization":
        return payment_methods.c.organization_id == account.account_id
    return sa.and_(payment_methods.c.organization_id.is_(None), payment_methods.c.user_id == account.account_id)


def payment_method_of(row: Row[Any]) -> PaymentMethod:
    return PaymentMethod(
        id=int(row.id),
        user_id=int(row.user_id),
        organization_id=row.organization_id,
        type=row.type,
        is_default=bool(row.is_default),
        last_four=row.last_four,
        card_brand=row.card_brand,
        exp_month=row.exp_month,
        exp_year=row.exp_year,
        billing_name=row.billing_name,
        billing_address={str(k): str(v) for k, v in row.billing_address.items()} if row.billing_address else None,
        provider_reference=row.stripe_payment_method_id,
        paypal_email=row.paypal_email,
        created_at=as_utc(row.created_at) if row.created_at is not None else None,
        updated_at=as_utc(row.updated_at) if row.updated_at is not None else None,
        version=row.version,
    )


DEFAULT_TAKEN = "another default payment method was set at the same time; try again"


class SqlPaymentMethodRepository(_OnSession, ports.PaymentMethodRepository):
    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session

    def _add(self, method: PaymentMethod) -> None:
        created = naive(method.created_at) if method.created_at is not None else None
        try:
            inserted = self._sql.execute(
                payment_methods.insert().values(
                    user_id=method.user_id,
                    organization_id=method.organization_id,
                    type=method.type,
                    is_default=method.is_default,
                    last_four=method.last_four,
                    card_brand=method.card_brand,
                    exp_month=method.exp_month,
                    exp_year=method.exp_year,
                    billing_name=method.billing_name,
                    billing_address=method.billing_address,
                    stripe_payment_method_id=method.provider_reference,
                    paypal_email=method.paypal_email,
                    created_at=created,
                    updated_at=created,
                )
            )
        except IntegrityError:
            raise Conflict(DEFAULT_TAKEN) from None
        method.id = int(inserted.lastrowid)

    def _get(self, method_id: int, *, lock: bool) -> PaymentMethod:
        return payment_method_of(self._row(payment_methods, method_id, "payment method", lock=lock))

    def _lock_defaults(self, account: Account, besides: int) -> list[PaymentMethod]:
        rows = self._sql.execute(
            sa.select(payment_methods)
            .where(
                payment_method_filter(account),
                payment_methods.c.is_default.is_(True),
                payment_methods.c.id != besides,
            )
            .with_for_update()
        ).all()
        return [payment_method_of(r) for r in rows]

    def _lock_newest(self, account: Account) -> PaymentMethod | None:
        row = self._sql.execute(
            sa.select(payment_methods)
            .where(payment_method_filter(account))
            .order_by(payment_methods.c.id.desc())
            .limit(1)
            .with_for_update()
        ).first()
        return None if row is None else payment_method_of(row)

    def lock_count(self, account: Account) -> int:
        return int(
            self._sql.execute(
                sa.select(sa.func.count())
                .select_from(payment_methods)
                .where(payment_method_filter(account))
                .with_for_update()
            ).scalar_one()
        )

    def of_account(self, account: Account) -> list[PaymentMethod]:
        rows = self._sql.execute(
            sa.select(payment_methods)
            .where(payment_method_filter(account))
            .order_by(payment_methods.c.is_default.desc(), payment_methods.c.id)
        ).all()
        return [payment_method_of(r) for r in rows]

    def remove(self, method: PaymentMethod) -> None:
        self._sql.execute(payment_methods.delete().where(payment_methods.c.id == method.id))

    def flush(self) -> None:
        """Changed methods, those that stop being a default first: the account's one default is a
        unique key, so a default set at the same time elsewhere makes this a Conflict."""
        changed = [m for m in self.seen if isinstance(m, PaymentMethod) and m.changes and not m.removed]
        changed.sort(key=lambda m: m.changes.get("is_default", True) is not False)
        for method in changed:
            try:
                self._sql.execute(
                    payment_methods.update()
                    .where(payment_methods.c.id == method.id)
                    .values(
                        version=method.version,
                        updated_at=naive(method.updated_at) if method.updated_at is not None else None,
                        **method.changes,
                    )
                )
            except IntegrityError:
                raise Conflict(DEFAULT_TAKEN) from None
            method.changes = {}


class SqlAccountRepository(_OnSession, ports.AccountRepository):
    def __init__(self, session: Session) -> None:
        self.session = session

    def profile(self, account: Account) -> BillingProfile | None:
        row = self._sql.execute(
            sa.select(billing_accounts).where(
                billing_accounts.c.account_type == account.account_type,
                billing_accounts.c.account_id == account.account_id,
            )
        ).first()
        return None if row is None else profile_of(row)

    def profiles(self, accounts: Sequence[Account]) -> dict[Account, BillingProfile]:
        if not accounts:
            return {}
        rows = self._sql.execute(
            sa.select(billing_accounts).where(
                sa.tuple_(billing_accounts.c.account_type, billing_accounts.c.account_id).in_(
                    [(a.account_type, a.account_id) for a in accounts]
                )
            )
        ).all()
        return {Account(r.account_type, int(r.account_id)): profile_of(r) for r in rows}


class SqlNumberSequences(_OnSession, ports.NumberSequences):
    def __init__(self, session: Session) -> None:
        self.session = session

    def _next(self, table: sa.Table, month: date, count: int = 1) -> int:
        """The first of ``count`` numbers: the month's counter moved on by ``count`` (the row stays
        locked by this transaction until it ends)."""
        key = f"{month:%Y-%m}"
        upsert = mysql.insert(table).values(period=key, last_number=count)
        self._sql.execute(upsert.on_duplicate_key_update(last_number=table.c.last_number + count))
        last = int(self._sql.execute(sa.select(table.c.last_number).where(table.c.period == key)).scalar_one())
        return last - count + 1

    def reserve_invoice_numbers(self, period: date, count: int) -> int:
        return self._next(invoice_sequences, period, count)

    def next_credit_note_number(self, month: date) -> int:
        return self._next(credit_note_sequences, month)


class SqlScheduleRepository(_OnSession, ports.ScheduleRepository):
    def __init__(self, session: Session) -> None:
        self.session = session

    def setting(self, key: str) -> str | None:
        value = self._sql.execute(
            sa.select(billing_settings.c.value).where(billing_settings.c.setting_key == key)
        ).scalar()
        return None if value is None else str(value)

    def has_run(self, period: date) -> bool:
        key = f"{period:%Y-%m}"
        return (
            self._sql.execute(sa.select(scheduled_runs.c.period).where(scheduled_runs.c.period == key)).first()
            is not None
        )

    def note_run(self, period: date, cycle_day: int, issued: int, finished_at: datetime) -> None:
        self._sql.execute(
            mysql.insert(scheduled_runs)
            .values(period=f"{period:%Y-%m}", cycle_day=cycle_day, issued=issued, finished_at=naive(finished_at))
            .prefix_with("IGNORE")
        )
