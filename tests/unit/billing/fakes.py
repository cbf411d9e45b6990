"""billing's ports in memory: the repositories and the unit of work of the service layer on
plain Python data, with a transaction's semantics (a unit of work works on a copy of the data
and puts it back on commit; leaving without a commit forgets it; an invoice's conditional
update checks the latest committed row, as MariaDB's does). One unit of work at a time: no
locks are modelled. No I/O."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Self

from billing_service.domain.accounts import Account, BillingProfile
from billing_service.domain.credits import Credit
from billing_service.domain.events import DomainEvent
from billing_service.domain.invoices import Invoice
from billing_service.domain.payment_methods import PaymentMethod
from billing_service.domain.pricing import MeteredUsage, UsageRecord, month_of
from billing_service.domain.pricing_plans import PricingPlan
from billing_service.service_layer import ports
from cpshared.errors import AlreadyExists, Conflict, NotFound


@dataclass
class StoredUsage:
    record: UsageRecord
    account: Account
    billed: bool = False
    invoice_id: int | None = None


@dataclass
class Data:
    """What a billing database holds, as the service layer sees it."""

    invoices: dict[int, Invoice] = field(default_factory=dict)
    usage: dict[int, StoredUsage] = field(default_factory=dict)
    credits: dict[int, Credit] = field(default_factory=dict)
    applications: list[tuple[int, int, Decimal]] = field(default_factory=list)
    """(credit id, invoice id, amount)"""
    plans: dict[int, PricingPlan] = field(default_factory=dict)
    payment_methods: dict[int, PaymentMethod] = field(default_factory=dict)
    profiles: dict[Account, BillingProfile] = field(default_factory=dict)
    counters: dict[tuple[str, str], int] = field(default_factory=dict)
    settings: dict[str, str] = field(default_factory=dict)
    runs: dict[date, tuple[int, int]] = field(default_factory=dict)
    suspension_requests: set[int] = field(default_factory=set)
    lifted_requests: set[int] = field(default_factory=set)
    outbox: list[DomainEvent] = field(default_factory=list)
    last_ids: dict[str, int] = field(default_factory=dict)

    def next_id(self, table: str) -> int:
        self.last_ids[table] = self.last_ids.get(table, 0) + 1
        return self.last_ids[table]


def _stored_invoice(invoice: Invoice) -> Invoice:
    """A copy of ``invoice`` as a row holds it: no pending changes or events."""
    return dataclasses.replace(invoice, lines=list(invoice.lines), transitions=[])


def _stored_credit(credit: Credit) -> Credit:
    return dataclasses.replace(credit, applied=[], given_back=[], stored_balance=credit.balance)


class FakeInvoices(ports.InvoiceRepository):
    def __init__(self, data: Data, committed: Callable[[], Data]) -> None:
        super().__init__()
        self.data = data
        self.committed = committed
        """The data as last committed: a conditional UPDATE sees the latest committed row."""

    def invoiced_among(self, accounts: Sequence[Account], period: date) -> set[Account]:
        wanted = set(accounts)
        return {i.account for i in self.data.invoices.values() if i.account in wanted and i.period_start == period}

    def periods_of(self, account: Account, before: date) -> set[date]:
        return {i.period_start for i in self.data.invoices.values() if i.account == account and i.period_start < before}

    def _add(self, invoice: Invoice) -> None:
        invoice.id = self.data.next_id("invoices")
        self.data.invoices[invoice.id] = _stored_invoice(invoice)

    def _get(self, invoice_id: int, *, lock: bool) -> Invoice:
        if invoice_id not in self.data.invoices:
            raise NotFound(f"invoice {invoice_id} does not exist")
        return _stored_invoice(self.data.invoices[invoice_id])

    def flush(self) -> None:
        for aggregate in self.seen:
            assert isinstance(aggregate, Invoice)
            row = self.committed().invoices.get(aggregate.id, self.data.invoices[aggregate.id])
            for transition, _ in aggregate.transitions:
                if (row.status, row.version) != (transition.from_status, transition.invoice.version):
                    raise Conflict(f"invoice {aggregate.invoice_number} changed meanwhile; read it again")
                row = dataclasses.replace(row, status=transition.to_status, version=transition.version)
            if aggregate.transitions:
                self.data.invoices[aggregate.id] = _stored_invoice(aggregate)
            aggregate.transitions.clear()

    def pending_due_before(self, day: date) -> list[int]:
        return sorted(
            i.id
            for i in self.data.invoices.values()
            if i.status == "pending" and i.due_date is not None and i.due_date < day
        )

    def overdue_unrequested(self, due_before: date) -> list[int]:
        return sorted(
            i.id
            for i in self.data.invoices.values()
            if i.status == "overdue"
            and i.due_date is not None
            and i.due_date < due_before
            and i.id not in self.data.suspension_requests
        )

    def note_suspension_request(self, invoice: Invoice, at: datetime) -> bool:
        if invoice.id in self.data.suspension_requests:
            return False
        self.data.suspension_requests.add(invoice.id)
        return True

    def standing_suspension_requests(self, account: Account) -> list[int]:
        return sorted(
            i
            for i in self.data.suspension_requests - self.data.lifted_requests
            if self.data.invoices[i].account == account
        )

    def has_overdue(self, account: Account) -> bool:
        current = {i.id: i for i in self.data.invoices.values()} | {
            a.id: a for a in self.seen if isinstance(a, Invoice)
        }
        return any(i.account == account and i.status == "overdue" for i in current.values())

    def lift_suspension_requests(self, invoice_ids: Sequence[int], at: datetime) -> None:
        self.data.lifted_requests.update(invoice_ids)


class FakeUsage(ports.UsageRepository):
    def __init__(self, data: Data) -> None:
        self.data = data

    def add(self, account: Account, usage: MeteredUsage, user_id: int | None = None) -> int:
        """For the tests: usage as the projection would store it."""
        record_id = self.data.next_id("usage")
        record = UsageRecord(record_id, user_id or account.account_id, usage, usage.quantity * usage.price_hourly)
        self.data.usage[record_id] = StoredUsage(record, account)
        return record_id

    def accounts_with_unbilled(self, before: datetime) -> list[Account]:
        found = {u.account for u in self.data.usage.values() if not u.billed and u.record.usage.period_start < before}
        return sorted(found, key=Account.sort_key)

    def lock_unbilled(self, accounts: Sequence[Account], before: datetime) -> dict[Account, list[UsageRecord]]:
        wanted = set(accounts)
        found: dict[Account, list[UsageRecord]] = {}
        for _, u in sorted(self.data.usage.items()):
            if u.account in wanted and not u.billed and u.record.usage.period_start < before:
                found.setdefault(u.account, []).append(u.record)
        return found

    def billed_of(self, account: Account, late: Sequence[UsageRecord]) -> list[MeteredUsage]:
        months = {month_of(r.usage.period_start) for r in late}
        resources = {(r.usage.resource_type, r.usage.resource_id) for r in late}
        return [
            u.record.usage
            for u in self.data.usage.values()
            if u.account == account
            and u.billed
            and month_of(u.record.usage.period_start) in months
            and (u.record.usage.resource_type, u.record.usage.resource_id) in resources
        ]

    def of_period(self, account: Account, start: datetime, end: datetime) -> list[UsageRecord]:
        return [
            u.record
            for _, u in sorted(self.data.usage.items())
            if u.account == account and start <= u.record.usage.period_start < end
        ]

    def mark_billed(self, billed: Mapping[Account, tuple[int, Sequence[int]]]) -> None:
        if any(self.data.usage[i].billed for _, ids in billed.values() for i in ids):
            raise RuntimeError("usage changed under the invoice run")
        for invoice_id, ids in billed.values():
            for record_id in ids:
                self.data.usage[record_id].billed = True
                self.data.usage[record_id].invoice_id = invoice_id

    def remove_billed(self, periods_ended_before: date, limit: int, at: datetime) -> int:
        old = [
            record_id
            for record_id, u in sorted(self.data.usage.items())
            if u.invoice_id is not None and self.data.invoices[u.invoice_id].period_end < periods_ended_before
        ][:limit]
        for record_id in old:
            del self.data.usage[record_id]
        return len(old)


class FakeCredits(ports.CreditRepository):
    def __init__(self, data: Data) -> None:
        super().__init__()
        self.data = data

    def _add(self, credit: Credit) -> None:
        credit.id = self.data.next_id("credits")
        credit.stored_balance = credit.balance
        self.data.credits[credit.id] = _stored_credit(credit)

    def _get(self, credit_id: int, *, lock: bool) -> Credit:
        if credit_id not in self.data.credits:
            raise NotFound(f"credit {credit_id} does not exist")
        return _stored_credit(self.data.credits[credit_id])

    def _lock_usable(self, accounts: Sequence[Account]) -> dict[Account, list[Credit]]:
        wanted = set(accounts)
        found: dict[Account, list[Credit]] = {}
        for _, c in sorted(self.data.credits.items()):
            if c.account in wanted and c.balance > 0:
                found.setdefault(c.account, []).append(_stored_credit(c))
        return found

    def of_account(self, account: Account) -> list[Credit]:
        mine = [_stored_credit(c) for c in self.data.credits.values() if c.account == account]
        return sorted(mine, key=lambda c: (c.expires_at is None, c.expires_at or c.created_at, c.id))

    def applications_to(self, invoice_id: int) -> list[tuple[int, Decimal]]:
        return [(credit_id, amount) for credit_id, i, amount in self.data.applications if i == invoice_id]

    def flush(self) -> None:
        for aggregate in self.seen:
            assert isinstance(aggregate, Credit)
            stored = self.data.credits[aggregate.id]
            if aggregate.balance != aggregate.stored_balance:
                if stored.balance != aggregate.stored_balance:
                    raise RuntimeError(f"credit {aggregate.id} changed under this transaction")
                self.data.credits[aggregate.id] = _stored_credit(aggregate)
                aggregate.stored_balance = aggregate.balance
            self.data.applications += [(aggregate.id, i, amount) for i, amount, _ in aggregate.applied]
            self.data.applications = [
                a for a in self.data.applications if not (a[0] == aggregate.id and a[1] in aggregate.given_back)
            ]
            aggregate.applied.clear()
            aggregate.given_back.clear()


class FakePricingPlans(ports.PricingPlanRepository):
    def __init__(self, data: Data) -> None:
        super().__init__()
        self.data = data

    def _add(self, plan: PricingPlan) -> None:
        if any(p.code == plan.code for p in self.data.plans.values()):
            raise AlreadyExists(f"a pricing plan with the code {plan.code!r} exists")
        plan.id = self.data.next_id("plans")
        self.data.plans[plan.id] = dataclasses.replace(plan, changed=False)

    def _get(self, plan_id: int, *, lock: bool) -> PricingPlan:
        if plan_id not in self.data.plans:
            raise NotFound(f"pricing plan {plan_id} does not exist")
        return dataclasses.replace(self.data.plans[plan_id])

    def list(self, resource_type: str, include_inactive: bool) -> list[PricingPlan]:
        return [
            dataclasses.replace(p)
            for _, p in sorted(self.data.plans.items())
            if (not resource_type or p.terms.resource_type == resource_type) and (include_inactive or p.terms.active)
        ]

    def flush(self) -> None:
        for aggregate in self.seen:
            assert isinstance(aggregate, PricingPlan)
            if aggregate.changed:
                self.data.plans[aggregate.id] = dataclasses.replace(aggregate, changed=False)
                aggregate.changed = False


class FakePaymentMethods(ports.PaymentMethodRepository):
    """Payment methods in memory (the one-default rule is the database's; not modelled here)."""

    def __init__(self, data: Data) -> None:
        super().__init__()
        self.data = data

    def _copy(self, method: PaymentMethod) -> PaymentMethod:
        return dataclasses.replace(method, changes={})

    def _add(self, method: PaymentMethod) -> None:
        method.id = self.data.next_id("payment_methods")
        self.data.payment_methods[method.id] = self._copy(method)

    def _get(self, method_id: int, *, lock: bool) -> PaymentMethod:
        if method_id not in self.data.payment_methods:
            raise NotFound(f"payment method {method_id} does not exist")
        return self._copy(self.data.payment_methods[method_id])

    def _mine(self, account: Account) -> list[PaymentMethod]:
        return [self._copy(m) for _, m in sorted(self.data.payment_methods.items()) if m.account == account]

    def _lock_defaults(self, account: Account, besides: int) -> list[PaymentMethod]:
        return [m for m in self._mine(account) if m.is_default and m.id != besides]

    def _lock_newest(self, account: Account) -> PaymentMethod | None:
        mine = self._mine(account)
        return mine[-1] if mine else None

    def lock_count(self, account: Account) -> int:
        return len(self._mine(account))

    def of_account(self, account: Account) -> list[PaymentMethod]:
        return sorted(self._mine(account), key=lambda m: (not m.is_default, m.id))

    def remove(self, method: PaymentMethod) -> None:
        del self.data.payment_methods[method.id]

    def flush(self) -> None:
        for method in self.seen:
            assert isinstance(method, PaymentMethod)
            if method.changes and not method.removed:
                self.data.payment_methods[method.id] = self._copy(method)
                method.changes = {}


class FakeAccounts(ports.AccountRepository):
    def __init__(self, data: Data) -> None:
        self.data = data

    def profile(self, account: Account) -> BillingProfile | None:
        return self.data.profiles.get(account)

    def profiles(self, accounts: Sequence[Account]) -> dict[Account, BillingProfile]:
        return {a: self.data.profiles[a] for a in accounts if a in self.data.profiles}


class FakeNumbers(ports.NumberSequences):
    def __init__(self, data: Data) -> None:
        self.data = data

    def _next(self, kind: str, month: date) -> int:
        key = (kind, f"{month:%Y-%m}")
        self.data.counters[key] = self.data.counters.get(key, 0) + 1
        return self.data.counters[key]

    def reserve_invoice_numbers(self, period: date, count: int) -> int:
        first = self._next("invoice", period)
        for _ in range(count - 1):
            self._next("invoice", period)
        return first

    def next_credit_note_number(self, month: date) -> int:
        return self._next("credit_note", month)


class FakeSchedule(ports.ScheduleRepository):
    def __init__(self, data: Data) -> None:
        self.data = data

    def setting(self, key: str) -> str | None:
        return self.data.settings.get(key)

    def has_run(self, period: date) -> bool:
        return period in self.data.runs

    def note_run(self, period: date, cycle_day: int, issued: int, finished_at: datetime) -> None:
        self.data.runs.setdefault(period, (cycle_day, issued))


class FakeUnitOfWork(ports.AbstractUnitOfWork):
    """Works on a copy of ``database.data``; a commit puts the copy back."""

    usage: FakeUsage

    def __init__(self, database: FakeDatabase) -> None:
        self.database = database
        self.committed = False

    def __enter__(self) -> Self:
        self.work = copy.deepcopy(self.database.data)
        self.invoices = FakeInvoices(self.work, lambda: self.database.data)
        self.usage = FakeUsage(self.work)
        self.credits = FakeCredits(self.work)
        self.pricing_plans = FakePricingPlans(self.work)
        self.payment_methods = FakePaymentMethods(self.work)
        self.accounts = FakeAccounts(self.work)
        self.numbers = FakeNumbers(self.work)
        self.schedule = FakeSchedule(self.work)
        return self

    def _write_events(self, events: Sequence[DomainEvent]) -> None:
        self.work.outbox.extend(events)

    def _commit(self) -> None:
        self.database.data = copy.deepcopy(self.work)
        self.committed = True

    def rollback(self) -> None:
        self.work = copy.deepcopy(self.database.data)


@dataclass
class FakeDatabase:
    data: Data = field(default_factory=Data)

    def uow(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(self)


def usage_of(
    resource_id: int,
    start: datetime,
    hours: int,
    *,
    product: str = "cx22",
    hourly: str = "0.006",
    monthly: str = "3.79",
) -> MeteredUsage:
    """``hours`` of a server from ``start``, at prices like the seed's."""
    return MeteredUsage(
        resource_type="server",
        resource_id=resource_id,
        metric_type="compute_hours",
        product="cx22",
        period_start=start,
        period_end=start + timedelta(hours=hours),
        quantity=Decimal(hours),
        price_hourly=Decimal(hourly),
        price_monthly=Decimal(monthly),
        currency="EUR",
        resource_name=f"server-{resource_id}",
        location="fsn1",
    )
