"""The invoice aggregate: issued by the invoice run, then paid, cancelled, refunded or marked overdue.

:meth:`Invoice.issue` makes a new invoice of a priced draft (``domain.invoice.draft_invoice``)
and records ``invoice.issued``; its life after that goes through the transitions of
``domain.invoice_life`` (which status may follow which, and what each says): each method checks
its transition, changes the invoice, raises its version and records the event. The repository
writes each pending transition with an UPDATE conditional on the status and version the
transition started from, so two concurrent changes of one invoice cannot both win.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from billing_service.domain import invoice_life
from billing_service.domain.accounts import Account
from billing_service.domain.events import Aggregate
from billing_service.domain.invoice import InvoiceDraft, next_month
from billing_service.domain.invoice_life import InvoiceSnapshot, Transition
from billing_service.domain.pricing import Line
from cloudplatform.billing.v1 import events_pb2 as billing_events
from cpshared.events import catalog
from cpshared.timestamps import to_timestamp


@dataclass(eq=False)
class Invoice(Aggregate):
    id: int
    invoice_number: str
    account: Account
    user_id: int
    status: str
    currency: str
    subtotal: Decimal
    tax_rate: Decimal
    tax_amount: Decimal
    credits_applied: Decimal
    total: Decimal
    period_start: date
    period_end: date
    due_date: date | None
    notes: str | None = None
    issued_at: datetime | None = None
    version: int = 1
    amount_paid: Decimal = Decimal("0.00")
    """What its payments add up to."""
    refunded_amount: Decimal = Decimal("0.00")
    """What its refunds add up to."""
    lines: list[Line] = field(default_factory=list)
    """A new invoice's lines (a loaded invoice's stay in the database: its life never changes them)."""
    credit_applications: tuple[tuple[int, Decimal], ...] = ()
    """A new invoice's (credit id, amount) pairs: what the credits pay of it."""
    transitions: list[tuple[Transition, datetime]] = field(default_factory=list)
    """Changes made since it was loaded and when, not yet stored."""

    @property
    def organization_id(self) -> int | None:
        return self.account.organization_id

    @classmethod
    def issue(
        cls, account: Account, period: date, number: str, draft: InvoiceDraft, usage_record_count: int, now: datetime
    ) -> Invoice:
        """A new ``pending`` invoice of ``draft`` for ``period`` (a month's first day), numbered
        ``number``, billing ``usage_record_count`` usage records; records ``invoice.issued``."""
        totals = draft.totals
        invoice = cls(
            id=0,
            invoice_number=number,
            account=account,
            user_id=draft.user_id,
            status="pending",
            currency=draft.currency,
            subtotal=totals.subtotal,
            tax_rate=totals.tax_rate,
            tax_amount=totals.tax_amount,
            credits_applied=totals.credits_applied,
            total=totals.total,
            period_start=period,
            period_end=next_month(period) - timedelta(days=1),
            due_date=draft.due,
            notes=totals.note or None,
            issued_at=now,
            lines=list(draft.lines),
            credit_applications=totals.credit_applications,
        )

        def issued() -> billing_events.InvoiceIssued:
            start = datetime.combine(period, datetime.min.time(), tzinfo=UTC)
            end = datetime.combine(next_month(period), datetime.min.time(), tzinfo=UTC)
            return billing_events.InvoiceIssued(
                invoice_id=invoice.id,
                invoice_number=number,
                account_type=account.account_type,
                account_id=account.account_id,
                user_id=invoice.user_id,
                organization_id=account.organization_id or 0,
                period_start=to_timestamp(start),
                period_end=to_timestamp(end),
                currency=invoice.currency,
                subtotal=str(totals.subtotal),
                tax_rate=str(totals.tax_rate),
                tax_amount=str(totals.tax_amount),
                credits_applied=str(totals.credits_applied),
                total=str(totals.total),
                due_date=to_timestamp(datetime.combine(draft.due, datetime.min.time(), tzinfo=UTC)),
                line_count=len(draft.lines),
                usage_record_count=usage_record_count,
            )

        invoice.record(catalog.INVOICE_ISSUED, 1, issued)
        return invoice

    def snapshot(self) -> InvoiceSnapshot:
        return InvoiceSnapshot(
            invoice_id=self.id,
            invoice_number=self.invoice_number,
            account_type=self.account.account_type,
            account_id=self.account.account_id,
            user_id=self.user_id,
            organization_id=self.organization_id,
            status=self.status,
            currency=self.currency,
            total=self.total,
            credits_applied=self.credits_applied,
            due_date=self.due_date,
            version=self.version,
            amount_paid=self.amount_paid,
            refunded_amount=self.refunded_amount,
        )

    def _apply(self, transition: Transition, now: datetime) -> Transition:
        self.status = transition.to_status
        self.version = transition.version
        self.amount_paid = transition.values.get("amount_paid", self.amount_paid)
        self.refunded_amount = transition.values.get("refunded_amount", self.refunded_amount)
        self.transitions.append((transition, now))
        payload = transition.payload
        self.record(transition.spec, transition.version, lambda: payload)
        return transition

    def mark_overdue(self, now: datetime) -> bool:
        """``pending`` past its due date -> ``overdue``; False (nothing changes) if it is not."""
        transition = invoice_life.mark_overdue(self.snapshot(), now)
        if transition is None:
            return False
        self._apply(transition, now)
        return True

    def pay(self, amount: str, method: str, reference: str, paid_at: datetime, now: datetime) -> Transition:
        """A payment of all or part of what is due (see ``invoice_life.record_payment``); the
        transition says what it paid beyond the total (``overpayment``)."""
        return self._apply(invoice_life.record_payment(self.snapshot(), amount, method, reference, paid_at), now)

    def cancel(self, reason: str, now: datetime) -> Transition:
        """Voided; the transition says the credits it used go back (``restore_credits``)."""
        return self._apply(invoice_life.cancel(self.snapshot(), reason), now)

    def check_refund(self, reason: str, refunded_to: str, amount: str = "") -> Decimal:
        """Refuse a refund before anything is written for it (a credit note number is not taken);
        the amount it will refund."""
        checked = invoice_life.refund(self.snapshot(), reason, refunded_to, "", amount=amount)
        assert checked.ledger is not None
        return checked.ledger.amount

    def refund(
        self, reason: str, refunded_to: str, credit_note_number: str, credit_id: int, now: datetime, amount: str = ""
    ) -> Transition:
        """A credit note ``credit_note_number`` of ``amount`` (all that was paid and not refunded
        when empty); ``credit_id`` the compensation credit it became (``account_credit``), else 0."""
        return self._apply(
            invoice_life.refund(self.snapshot(), reason, refunded_to, credit_note_number, credit_id, amount), now
        )

    def request_suspension(self, now: datetime, grace_days: int) -> None:
        """Records ``billing.suspension_requested`` for the invoice's account (keyed by the account)."""
        ref = self.snapshot().ref()
        due = self.due_date
        assert due is not None, "an overdue invoice has a due date"
        self.record(
            catalog.SUSPENSION_REQUESTED,
            1,
            lambda: billing_events.SuspensionRequested(
                invoice=ref,
                account_type=self.account.account_type,
                account_id=self.account.account_id,
                due_date=to_timestamp(datetime.combine(due, datetime.min.time(), tzinfo=UTC)),
                grace_days=grace_days,
                requested_at=to_timestamp(now),
            ),
            aggregate_id=f"{self.account.account_type}:{self.account.account_id}",
        )

    def suspension_lifted(self, requested_invoice_ids: Sequence[int], now: datetime) -> None:
        """Records ``billing.suspension_lifted`` for the invoice's account (keyed by the account):
        this invoice's payment or cancellation left the account, whose suspension billing had
        requested for ``requested_invoice_ids``, with no overdue invoice."""
        ref = self.snapshot().ref()
        self.record(
            catalog.SUSPENSION_LIFTED,
            1,
            lambda: billing_events.SuspensionLifted(
                account_type=self.account.account_type,
                account_id=self.account.account_id,
                cleared_by=ref,
                requested_invoice_ids=list(requested_invoice_ids),
                lifted_at=to_timestamp(now),
            ),
            aggregate_id=f"{self.account.account_type}:{self.account.account_id}",
        )
