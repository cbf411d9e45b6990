"""What billing's service layer needs of the outside world, as interfaces.

The adapters implement them on MariaDB (adapters/repositories.py, adapters/unit_of_work.py);
the unit tests on plain Python lists (tests/unit/billing/fakes.py). A repository hands out
aggregates and remembers the ones it saw; changes of a loaded aggregate are stored when the
unit of work commits (:meth:`Repository.flush`), and their events collected then.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from types import TracebackType
from typing import Self

from billing_service.domain.accounts import Account, BillingProfile
from billing_service.domain.credits import Credit
from billing_service.domain.events import Aggregate, DomainEvent
from billing_service.domain.invoices import Invoice
from billing_service.domain.payment_methods import PaymentMethod
from billing_service.domain.pricing import MeteredUsage, UsageRecord
from billing_service.domain.pricing_plans import PricingPlan


class Repository(abc.ABC):
    def __init__(self) -> None:
        self.seen: list[Aggregate] = []

    def _saw(self, aggregate: Aggregate) -> None:
        if not any(a is aggregate for a in self.seen):
            self.seen.append(aggregate)

    @abc.abstractmethod
    def flush(self) -> None:
        """Store the changes of the aggregates seen (called by the unit of work's commit)."""


class InvoiceRepository(Repository):
    @abc.abstractmethod
    def invoiced_among(self, accounts: Sequence[Account], period: date) -> set[Account]:
        """Which of ``accounts`` have an invoice for ``period`` (a month's first day)."""

    @abc.abstractmethod
    def periods_of(self, account: Account, before: date) -> set[date]:
        """The periods (months' first days) before ``before`` the account has an invoice of."""

    def add(self, invoice: Invoice) -> None:
        """Store a new invoice with its lines now; it gets its id."""
        self._add(invoice)
        self._saw(invoice)

    def add_many(self, new: Sequence[Invoice]) -> None:
        """Store new invoices with their lines now (at once where the store can); each gets its id."""
        self._add_many(new)
        for invoice in new:
            self._saw(invoice)

    def _add_many(self, new: Sequence[Invoice]) -> None:
        for invoice in new:
            self._add(invoice)

    def get(self, invoice_id: int, *, lock: bool = False) -> Invoice:
        """The invoice (NotFound if there is none), locked until the commit with ``lock``."""
        invoice = self._get(invoice_id, lock=lock)
        self._saw(invoice)
        return invoice

    @abc.abstractmethod
    def _add(self, invoice: Invoice) -> None: ...

    @abc.abstractmethod
    def _get(self, invoice_id: int, *, lock: bool) -> Invoice: ...

    @abc.abstractmethod
    def pending_due_before(self, day: date) -> list[int]:
        """Ids of the pending invoices due before ``day``, in order."""

    @abc.abstractmethod
    def overdue_unrequested(self, due_before: date) -> list[int]:
        """Ids of the overdue invoices due before ``due_before`` that no suspension was requested for."""

    @abc.abstractmethod
    def note_suspension_request(self, invoice: Invoice, at: datetime) -> bool:
        """Note that a suspension was requested for ``invoice``; False if it was already."""

    @abc.abstractmethod
    def standing_suspension_requests(self, account: Account) -> list[int]:
        """Ids of the invoices whose suspension requests for ``account`` are not lifted yet,
        locked until the commit (one clearing of the account at a time)."""

    @abc.abstractmethod
    def has_overdue(self, account: Account) -> bool:
        """Whether ``account`` still has an overdue invoice (as committed, or changed here)."""

    @abc.abstractmethod
    def lift_suspension_requests(self, invoice_ids: Sequence[int], at: datetime) -> None:
        """Mark the (locked, standing) requests of ``invoice_ids`` lifted at ``at``."""


class UsageRepository(abc.ABC):
    @abc.abstractmethod
    def accounts_with_unbilled(self, before: datetime) -> list[Account]:
        """Accounts with unbilled usage recorded before ``before`` (naive UTC), in a stable order."""

    @abc.abstractmethod
    def lock_unbilled(self, accounts: Sequence[Account], before: datetime) -> dict[Account, list[UsageRecord]]:
        """Each of ``accounts``' unbilled usage before ``before`` in id order (accounts without
        any left out), locked until the commit."""

    @abc.abstractmethod
    def billed_of(self, account: Account, late: Sequence[UsageRecord]) -> list[MeteredUsage]:
        """The account's already billed usage of the resources and months that ``late`` belongs to."""

    @abc.abstractmethod
    def of_period(self, account: Account, start: datetime, end: datetime) -> list[UsageRecord]:
        """The account's usage recorded in [start, end), billed or not, in id order (to read)."""

    @abc.abstractmethod
    def mark_billed(self, billed: Mapping[Account, tuple[int, Sequence[int]]]) -> None:
        """Mark the (locked, unbilled) records billed: account → (its invoice's id, its records'
        ids); RuntimeError if one changed."""

    @abc.abstractmethod
    def remove_billed(self, periods_ended_before: date, limit: int, at: datetime) -> int:
        """Delete at most ``limit`` records billed on invoices whose period ended before
        ``periods_ended_before``, each noted in ``usage_records_removed``; how many."""


class CreditRepository(Repository):
    def add(self, credit: Credit) -> None:
        """Store a new credit now; it gets its id."""
        self._add(credit)
        self._saw(credit)

    def get(self, credit_id: int, *, lock: bool = False) -> Credit:
        credit = self._get(credit_id, lock=lock)
        self._saw(credit)
        return credit

    def lock_usable(self, accounts: Sequence[Account]) -> dict[Account, list[Credit]]:
        """Each of ``accounts``' credits with a balance, by id, locked until the commit (accounts
        without any left out)."""
        found = self._lock_usable(accounts)
        for credits in found.values():
            for credit in credits:
                self._saw(credit)
        return found

    @abc.abstractmethod
    def _add(self, credit: Credit) -> None: ...

    @abc.abstractmethod
    def _get(self, credit_id: int, *, lock: bool) -> Credit: ...

    @abc.abstractmethod
    def _lock_usable(self, accounts: Sequence[Account]) -> dict[Account, list[Credit]]: ...

    @abc.abstractmethod
    def of_account(self, account: Account) -> list[Credit]:
        """The account's credits (to read), the soonest to expire first (never-expiring last), then by id."""

    @abc.abstractmethod
    def applications_to(self, invoice_id: int) -> list[tuple[int, Decimal]]:
        """(credit id, amount) of what credits paid of the invoice, locked until the commit."""


class PricingPlanRepository(Repository):
    def add(self, plan: PricingPlan) -> None:
        """Store a new plan now; it gets its id (AlreadyExists if its code is taken)."""
        self._add(plan)
        self._saw(plan)

    def get(self, plan_id: int, *, lock: bool = False) -> PricingPlan:
        """The plan (NotFound if there is none), locked until the commit with ``lock``."""
        plan = self._get(plan_id, lock=lock)
        self._saw(plan)
        return plan

    @abc.abstractmethod
    def _add(self, plan: PricingPlan) -> None: ...

    @abc.abstractmethod
    def _get(self, plan_id: int, *, lock: bool) -> PricingPlan: ...

    @abc.abstractmethod
    def list(self, resource_type: str, include_inactive: bool) -> list[PricingPlan]:
        """The plans (of ``resource_type`` if given; the active ones only unless ``include_inactive``), by id."""


class PaymentMethodRepository(Repository):
    def add(self, method: PaymentMethod) -> None:
        """Store a new method now; it gets its id."""
        self._add(method)
        self._saw(method)

    def get(self, method_id: int, *, lock: bool = False) -> PaymentMethod:
        """The method (NotFound if there is none), locked until the commit with ``lock``."""
        return self._seen(self._get(method_id, lock=lock))

    def lock_defaults(self, account: Account, *, besides: int) -> list[PaymentMethod]:
        """The account's default methods other than ``besides``, locked until the commit."""
        return [self._seen(m) for m in self._lock_defaults(account, besides)]

    def lock_newest(self, account: Account) -> PaymentMethod | None:
        """The account's newest method, locked until the commit."""
        newest = self._lock_newest(account)
        return None if newest is None else self._seen(newest)

    def _seen(self, method: PaymentMethod) -> PaymentMethod:
        self._saw(method)
        return method

    @abc.abstractmethod
    def _add(self, method: PaymentMethod) -> None: ...

    @abc.abstractmethod
    def _get(self, method_id: int, *, lock: bool) -> PaymentMethod: ...

    @abc.abstractmethod
    def _lock_defaults(self, account: Account, besides: int) -> list[PaymentMethod]: ...

    @abc.abstractmethod
    def _lock_newest(self, account: Account) -> PaymentMethod | None: ...

    @abc.abstractmethod
    def lock_count(self, account: Account) -> int:
        """How many methods the account has, locking them until the commit."""

    @abc.abstractmethod
    def of_account(self, account: Account) -> list[PaymentMethod]:
        """The account's methods (to read), the default first, then by id."""

    @abc.abstractmethod
    def remove(self, method: PaymentMethod) -> None:
        """Delete the method now."""


class AccountRepository(abc.ABC):
    @abc.abstractmethod
    def profile(self, account: Account) -> BillingProfile | None:
        """What identity's events told billing of the account; None if nothing yet."""

    @abc.abstractmethod
    def profiles(self, accounts: Sequence[Account]) -> dict[Account, BillingProfile]:
        """What billing knows of each of ``accounts`` (those it knows nothing of left out)."""


class NumberSequences(abc.ABC):
    """Gapless numbers per month: the month's counter stays locked until the commit, so a
    rollback gives its number back before anyone else can take it."""

    @abc.abstractmethod
    def reserve_invoice_numbers(self, period: date, count: int) -> int:
        """The first of ``count`` consecutive invoice numbers of the month, taken at once."""

    @abc.abstractmethod
    def next_credit_note_number(self, month: date) -> int: ...


class ScheduleRepository(abc.ABC):
    @abc.abstractmethod
    def setting(self, key: str) -> str | None:
        """A setting of identity's that billing follows (``billing_settings``), as it last heard it."""

    @abc.abstractmethod
    def has_run(self, period: date) -> bool:
        """Whether the scheduled invoice run of ``period`` is done."""

    @abc.abstractmethod
    def note_run(self, period: date, cycle_day: int, issued: int, finished_at: datetime) -> None: ...


class AbstractUnitOfWork(abc.ABC):
    """One transaction: ``with uow: ...; uow.commit()``; leaving without a commit rolls back.

    :meth:`commit` stores the changes of every aggregate the repositories saw, collects their
    recorded events (in the order they were recorded) and writes them with the change.
    """

    invoices: InvoiceRepository
    usage: UsageRepository
    credits: CreditRepository
    pricing_plans: PricingPlanRepository
    payment_methods: PaymentMethodRepository
    accounts: AccountRepository
    numbers: NumberSequences
    schedule: ScheduleRepository

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.rollback()

    def _repositories(self) -> Iterator[Repository]:
        yield self.invoices
        yield self.credits
        yield self.pricing_plans
        yield self.payment_methods

    def commit(self) -> None:
        for repository in self._repositories():
            repository.flush()
        events = sorted(
            (event for repository in self._repositories() for a in repository.seen for event in a.collect_events()),
            key=lambda e: e.sequence,
        )
        self._write_events(events)
        self._commit()

    @abc.abstractmethod
    def _write_events(self, events: Sequence[DomainEvent]) -> None:
        """Add ``events`` to the outbox, in this transaction."""

    @abc.abstractmethod
    def _commit(self) -> None: ...

    @abc.abstractmethod
    def rollback(self) -> None: ...
