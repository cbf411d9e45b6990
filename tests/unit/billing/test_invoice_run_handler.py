"""The invoice run's handler on in-memory fakes of its ports: which accounts are billed, in
which order they are numbered, what the credits pay, what is recorded — no database."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from billing_service.config import BillingRules
from billing_service.domain.accounts import Account, BillingProfile
from billing_service.domain.commands import RunInvoices
from billing_service.domain.credits import Credit, CreditGrant
from billing_service.domain.invoice import InvoiceTerms
from billing_service.service_layer.invoice_run import run_invoices
from cloudplatform.billing.v1 import events_pb2 as billing_events
from cpshared.clock import ManualClock, set_clock
from tests.unit.billing.fakes import FakeDatabase, usage_of

OCTOBER = datetime(2026, 10, 1, tzinfo=UTC)
NOVEMBER = datetime(2026, 11, 1, tzinfo=UTC)
TERMS: InvoiceTerms = BillingRules(billing_payment_terms_days=14).invoice_terms()
ORG, ALICE, BOB = Account("organization", 7), Account("user", 10), Account("user", 11)


@pytest.fixture(autouse=True)
def clock() -> Iterator[ManualClock]:
    manual = ManualClock(datetime(2026, 11, 2, 3, 0, tzinfo=UTC))
    previous = set_clock(manual)
    try:
        yield manual
    finally:
        set_clock(previous)


def credit(db: FakeDatabase, account: Account, amount: str, expires: datetime | None) -> int:
    with db.uow() as uow:
        grant = CreditGrant("promotional", Decimal(amount), "EUR", expires, "")
        new = Credit.grant(account.account_id, account.organization_id, grant, datetime(2026, 9, 1, tzinfo=UTC))
        uow.credits.add(new)
        uow.commit()
    return new.id


def test_each_account_gets_one_invoice_numbered_without_gaps_in_account_order() -> None:
    db = FakeDatabase()
    with db.uow() as uow:
        uow.usage.add(BOB, usage_of(3, OCTOBER, 24))
        uow.usage.add(ORG, usage_of(1, OCTOBER, 744), user_id=42)
        uow.usage.add(ALICE, usage_of(2, OCTOBER, 24))
        november = uow.usage.add(ALICE, usage_of(2, NOVEMBER, 2))
        uow.commit()
    db.data.profiles[ORG] = BillingProfile(ORG, owner_user_id=42, country="DE")

    report = run_invoices(RunInvoices(date(2026, 10, 17)), TERMS, db.uow)

    assert report.period == date(2026, 10, 1) and report.already_invoiced == 0
    assert [(i.invoice_number, i.account, i.total) for i in report.issued] == [
        ("INV-2026-10-0001", ORG, Decimal("3.78")),  # 744 h capped at 3.79 gross: 3.18 net + 0.60 VAT
        ("INV-2026-10-0002", ALICE, Decimal("0.14")),  # 24 x 0.006 = 0.144 gross: 0.12 net + 0.02 VAT
        ("INV-2026-10-0003", BOB, Decimal("0.14")),
    ]
    invoices = db.data.invoices
    org_invoice = invoices[report.issued[0].invoice_id]
    assert (org_invoice.user_id, org_invoice.status, org_invoice.due_date) == (42, "pending", date(2026, 11, 16))
    assert (org_invoice.subtotal, org_invoice.tax_rate, org_invoice.tax_amount) == (
        Decimal("3.18"),
        Decimal(19),
        Decimal("0.60"),
    )
    assert [line.capped for line in org_invoice.lines] == [True]
    billed = {u.record.id: u.invoice_id for u in db.data.usage.values() if u.billed}
    assert len(billed) == 3 and november not in billed
    assert set(billed.values()) == set(invoices)

    issued = [e for e in db.data.outbox if e.spec.event_type == "invoice.issued"]
    assert [(e.aggregate_id, e.version) for e in issued] == [(i.invoice_id, 1) for i in report.issued]
    payload = issued[0].payload
    assert isinstance(payload, billing_events.InvoiceIssued)
    assert (payload.invoice_id, payload.invoice_number, payload.organization_id, payload.total) == (
        org_invoice.id,
        "INV-2026-10-0001",
        7,
        "3.78",
    )
    assert (payload.line_count, payload.usage_record_count) == (1, 1)


def test_running_a_period_again_changes_nothing() -> None:
    db = FakeDatabase()
    with db.uow() as uow:
        uow.usage.add(ALICE, usage_of(2, OCTOBER, 24))
        uow.commit()
    first = run_invoices(RunInvoices(date(2026, 10, 1)), TERMS, db.uow)
    before = (dict(db.data.invoices), list(db.data.outbox), dict(db.data.counters))

    again = run_invoices(RunInvoices(date(2026, 10, 1)), TERMS, db.uow)

    assert len(first.issued) == 1 and again.issued == [] and again.already_invoiced == 0
    assert (dict(db.data.invoices), list(db.data.outbox), dict(db.data.counters)) == before


def test_late_usage_of_an_invoiced_month_is_an_adjustment_on_the_next_invoice() -> None:
    db = FakeDatabase()
    with db.uow() as uow:
        uow.usage.add(ALICE, usage_of(2, OCTOBER, 600))
        uow.commit()
    (october,) = run_invoices(RunInvoices(date(2026, 10, 1)), TERMS, db.uow).issued
    with db.uow() as uow:  # October's last hours arrive after October was invoiced
        uow.usage.add(ALICE, usage_of(2, datetime(2026, 10, 26, tzinfo=UTC), 144))
        uow.commit()

    rerun = run_invoices(RunInvoices(date(2026, 10, 1)), TERMS, db.uow)
    assert rerun.issued == [] and rerun.already_invoiced == 1  # the month has its invoice: skipped

    (november,) = run_invoices(RunInvoices(date(2026, 11, 1)), TERMS, db.uow).issued
    assert november.invoice_number == "INV-2026-11-0001"
    (line,) = db.data.invoices[november.invoice_id].lines
    # 600 h were 3.60 gross (3.03 net); 744 h reach the 3.79 cap (3.18 net): 0.15 still owed.
    assert (line.adjustment, line.capped, line.total) == (True, True, Decimal("0.15"))
    assert db.data.invoices[october.invoice_id].total == Decimal("3.61")


def test_credits_pay_the_soonest_to_expire_first_and_keep_what_is_left() -> None:
    db = FakeDatabase()
    with db.uow() as uow:
        uow.usage.add(ALICE, usage_of(2, OCTOBER, 744))
        uow.commit()
    later = credit(db, ALICE, "1.00", datetime(2026, 12, 31, tzinfo=UTC))
    never = credit(db, ALICE, "5.00", None)
    soonest = credit(db, ALICE, "2.00", datetime(2026, 11, 30, tzinfo=UTC))
    expired = credit(db, ALICE, "9.00", datetime(2026, 10, 31, tzinfo=UTC))
    others = credit(db, BOB, "9.00", None)

    (issued,) = run_invoices(RunInvoices(date(2026, 10, 1)), TERMS, db.uow).issued

    invoice = db.data.invoices[issued.invoice_id]
    assert (invoice.credits_applied, invoice.total) == (Decimal("3.78"), Decimal("0.00"))
    assert sorted(db.data.applications) == sorted(
        [
            (soonest, invoice.id, Decimal("2.00")),
            (later, invoice.id, Decimal("1.00")),
            (never, invoice.id, Decimal("0.78")),
        ]
    )
    balances = {c.id: c.balance for c in db.data.credits.values()}
    assert balances == {
        later: Decimal("0.00"),
        never: Decimal("4.22"),
        soonest: Decimal("0.00"),
        expired: Decimal("9.00"),
        others: Decimal("9.00"),
    }
    payload = db.data.outbox[-1].payload
    assert isinstance(payload, billing_events.InvoiceIssued)
    assert (payload.credits_applied, payload.total) == ("3.78", "0.00")


def test_usage_of_a_month_never_invoiced_is_billed_under_its_own_month_not_as_an_adjustment() -> None:
    """Alice's September was never invoiced (its usage arrived after the run, or no run was made
    for it): October's invoice bills September's hours in a line of its own month. Bob's September
    was invoiced, so his September hour that arrived late is an adjustment."""
    september = datetime(2026, 9, 1, tzinfo=UTC)
    db = FakeDatabase()
    with db.uow() as uow:
        uow.usage.add(BOB, usage_of(3, september, 10))
        uow.commit()
    set_clock(ManualClock(datetime(2026, 10, 2, 3, 0, tzinfo=UTC)))
    assert [i.account for i in run_invoices(RunInvoices(date(2026, 9, 1)), TERMS, db.uow).issued] == [BOB]
    with db.uow() as uow:
        uow.usage.add(ALICE, usage_of(2, september, 5))
        uow.usage.add(ALICE, usage_of(2, OCTOBER, 24))
        uow.usage.add(BOB, usage_of(3, september + timedelta(hours=10), 1))
        uow.usage.add(BOB, usage_of(3, OCTOBER, 24))
        uow.commit()
    set_clock(ManualClock(datetime(2026, 11, 2, 3, 0, tzinfo=UTC)))

    report = run_invoices(RunInvoices(date(2026, 10, 1)), TERMS, db.uow)

    lines = {i.account: db.data.invoices[i.invoice_id].lines for i in report.issued}
    assert [(line.key.month, line.adjustment, line.quantity) for line in lines[ALICE]] == [
        (date(2026, 9, 1), False, Decimal(5)),
        (date(2026, 10, 1), False, Decimal(24)),
    ]
    assert not any("Adjustment" in line.description for line in lines[ALICE])
    assert "2026-09" in lines[ALICE][0].description
    bob = sorted(lines[BOB], key=lambda line: line.key.month)
    assert [(line.key.month, line.adjustment, line.quantity) for line in bob] == [
        (date(2026, 9, 1), True, Decimal(1)),
        (date(2026, 10, 1), False, Decimal(24)),
    ]
    assert bob[0].description.startswith("Adjustment for late usage")


def test_batches_number_without_gaps_and_a_failing_account_rolls_back_only_its_own_invoice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Accounts are billed in batches (here of two), numbers taken per batch from the counter;
    an account that cannot be billed makes its batch roll back (numbers given back) and be
    billed again one account per unit of work: the accounts before it get their invoices, the
    failure surfaces as before, and no number is lost."""
    carol = Account("user", 12)
    db = FakeDatabase()
    with db.uow() as uow:
        for account in (ALICE, BOB, carol, ORG):
            user_id = 42 if account == ORG else account.account_id
            uow.usage.add(account, usage_of(account.account_id, OCTOBER, 24), user_id=user_id)
        uow.commit()

    from billing_service.domain.invoice import draft_invoice as real
    from billing_service.service_layer import invoice_run

    def draft(*args: object, **kwargs: object) -> object:
        if args[4] == carol.account_id:  # first_user_id
            raise RuntimeError("carol's invoice cannot be drafted")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(invoice_run, "draft_invoice", draft)
    with pytest.raises(RuntimeError, match="carol"):
        run_invoices(RunInvoices(date(2026, 10, 1)), TERMS, db.uow, batch=2)
    # the org and alice in the first batch; bob (billed alone after his batch failed) before carol
    assert sorted((i.invoice_number, i.account.account_id) for i in db.data.invoices.values()) == [
        ("INV-2026-10-0001", ORG.account_id),
        ("INV-2026-10-0002", ALICE.account_id),
        ("INV-2026-10-0003", BOB.account_id),
    ]

    monkeypatch.setattr(invoice_run, "draft_invoice", real)
    report = run_invoices(RunInvoices(date(2026, 10, 1)), TERMS, db.uow, batch=2)
    assert [(i.invoice_number, i.account) for i in report.issued] == [("INV-2026-10-0004", carol)]
    assert report.already_invoiced == 0
