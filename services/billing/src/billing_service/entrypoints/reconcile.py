"""Reconciliation: rebuild billing's state from the streams and check a period's invoices against it.

``reconcile`` replays every event of billing's streams (``usage.events``, ``identity.events``)
from offset 0 with cpshared's replay (the billing projection itself, under the consumer
identity ``billing-reconcile@replay``, into scratch tables ``usage_records__recon`` and
``billing_accounts__recon`` beside the live ones; dropped afterwards), recomputes the
period's invoices from them with the invoice run's own code (``domain.invoice.draft_invoice``)
and compares them with the issued invoices field by field and line by line.

The references, so that the recomputation is deterministic and a difference means something:

* **Usage: the whole stream.** An invoice of period P is expected to bill every usage event
  of its account that lies before P's end and that no invoice of an EARLIER period billed.
  "Billed by an earlier invoice" is read from the live links (``usage_records.invoice_id``
  of the event's row, matched by event id): that is the run's own record. So a usage event
  that reached billing only after P's run (late usage), or never, or whose row was deleted,
  is reported on P — even when a later invoice charged it correctly as an adjustment (the
  later invoice then reconciles clean: its adjustment is "everything minus what earlier
  invoices billed").
* **Late-usage adjustments** are recomputed exactly as the run prices them: the segment's
  charge over its rebuilt usage billed before plus the usage still owed, minus the charge
  of what was billed before.
* **The account's country and VAT id** are those of the rebuilt accounts, with identity's
  events after the period's last invoice was issued left out (a later change of country
  must not show as a tax difference).
* **Credits** are not in the streams (billing grants them): the reference is billing's own
  ledger. The balances an invoice found are today's balances plus every application made
  by this invoice or a later one (``credit_applications``), credits created after it was
  issued left out; they are applied at the invoice's ``issued_at`` (which also gives the
  due date), by the domain's rule (soonest to expire first).
* **Numbers**: the run takes a month's numbers in issue order without gaps, so the issued
  invoices of the period, in issue order (by id), must carry ``INV-YYYY-MM-0001`` onwards;
  an invoice that should exist but does not is given the next numbers, accounts in the
  run's order.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine, Row

from billing_service.adapters.repositories import metered, profile_of
from billing_service.adapters.tables import (
    credit_applications,
    credits,
    invoice_items,
    invoices,
    usage_records,
)
from billing_service.config import BillingRules
from billing_service.domain.accounts import Account
from billing_service.domain.credits import CreditBalance
from billing_service.domain.invoice import InvoiceDraft, draft_invoice, invoice_number, next_month
from billing_service.domain.pricing import Line, month_of
from billing_service.entrypoints.projection import BillingProjection, occurred
from cpshared.clock import utcnow
from cpshared.db import database_lock
from cpshared.events import replay as replaying
from cpshared.events.envelope import ReceivedEvent
from cpshared.events.projection import ApplyContext
from cpshared.events.tables import inbox
from cpshared.logging import get_logger
from cpshared.timestamps import as_utc
from cpshared.topics import IDENTITY_EVENTS, USAGE_EVENTS, Topic

log = get_logger(__name__)

SUFFIX = "__recon"
CONSUMER = "billing-reconcile"
LOCK = "billing_reconcile"
"""Prefix of reconcile's named lock; the name carries the database (named locks are server-wide)."""
QUANTITY = Decimal("0.0001")
UNIT_PRICE = Decimal("0.000001")
CENT = Decimal("0.01")
NONE = "—"


class ReconcileBusy(RuntimeError):
    """Another reconciliation holds the scratch tables."""


def reconcile_projection(topics: Sequence[Topic], identity_cutoff: datetime) -> BillingProjection:
    """The billing projection under the reconciliation's own name, over ``topics``, ignoring
    identity's events after ``identity_cutoff`` (naive UTC)."""

    class Reconciling(BillingProjection):
        def handlers(self) -> dict[str, Callable[[ApplyContext, ReceivedEvent], None]]:
            found = super().handlers()
            for event_type, handler in found.items():
                if event_type != "usage.recorded":
                    found[event_type] = _until(handler, identity_cutoff)
            return found

    Reconciling.name = CONSUMER
    Reconciling.topics = tuple(topics)
    return Reconciling()


def _until(
    handler: Callable[[ApplyContext, ReceivedEvent], None], cutoff: datetime
) -> Callable[[ApplyContext, ReceivedEvent], None]:
    def apply(ctx: ApplyContext, event: ReceivedEvent) -> None:
        if occurred(event) <= cutoff:
            handler(ctx, event)

    return apply


# -- the report ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Difference:
    account: str
    invoice_number: str
    line: str
    field: str
    issued: str
    recomputed: str


@dataclass
class ReconcileReport:
    period: date
    issued_invoices: int = 0
    recomputed_invoices: int = 0
    events_replayed: int = 0
    dead_lettered: int = 0
    replay_seconds: float = 0.0
    differences: list[Difference] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.differences and not self.dead_lettered


# -- the command -----------------------------------------------------------------------------


async def reconcile(
    engine: Engine,
    bootstrap: str,
    period: date,
    rules: BillingRules,
    *,
    topics: Sequence[Topic] = (USAGE_EVENTS, IDENTITY_EVENTS),
    keep_tables: bool = False,
) -> ReconcileReport:
    """Rebuild billing from ``topics`` and diff ``period``'s invoices; see the module docstring."""
    period = month_of(period)
    with _exclusive(engine):
        issued = await asyncio.to_thread(_issued_invoices, engine, period)
        cutoff = max((i.issued_at for i in issued if i.issued_at is not None), default=None)
        projection = reconcile_projection(topics, cutoff or _naive(utcnow()))
        result = await replaying.replay(engine, bootstrap, projection, suffix=SUFFIX)
        shadows = replaying.shadow_tables(projection, SUFFIX)
        try:
            report = await asyncio.to_thread(
                _compare, engine, period, rules, issued, shadows["usage_records"], shadows["billing_accounts"]
            )
        finally:
            if not keep_tables:
                await asyncio.to_thread(_clean_up, engine, shadows)
    report.events_replayed, report.dead_lettered, report.replay_seconds = (
        result.records,
        result.dead_lettered,
        result.seconds,
    )
    if result.dead_lettered:
        report.differences.append(
            Difference("—", "—", "—", "events", f"{result.dead_lettered} not applicable (dead-lettered)", "all applied")
        )
    log.info(
        "billing_reconciled",
        period=f"{period:%Y-%m}",
        issued=report.issued_invoices,
        recomputed=report.recomputed_invoices,
        differences=len(report.differences),
    )
    return report


@contextmanager
def _exclusive(engine: Engine) -> Iterator[None]:
    with database_lock(engine, LOCK) as held:
        if not held:
            raise ReconcileBusy("another reconciliation is running against this database")
        yield


def _clean_up(engine: Engine, shadows: dict[str, sa.Table]) -> None:
    quote = engine.dialect.identifier_preparer.quote
    consumer = f"{CONSUMER}@replay"
    with engine.begin() as conn:
        for table in shadows.values():
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {quote(table.name)}"))
        conn.execute(replaying.replay_positions.delete().where(replaying.replay_positions.c.consumer == consumer))
    while True:
        with engine.begin() as conn:
            deleted = conn.execute(
                inbox.delete().where(inbox.c.consumer == consumer).with_dialect_options(mysql_limit=50_000)
            ).rowcount
        if not deleted:
            break


# -- recomputation ---------------------------------------------------------------------------


def _naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def _issued_invoices(engine: Engine, period: date) -> list[Row[Any]]:
    with engine.connect() as conn:
        return list(
            conn.execute(sa.select(invoices).where(invoices.c.billing_period_start == period).order_by(invoices.c.id))
        )


def _account_of(row: Any) -> Account:
    return Account.of(int(row.user_id), row.organization_id)


def _compare(
    engine: Engine,
    period: date,
    rules: BillingRules,
    issued: list[Row[Any]],
    rebuilt_usage: sa.Table,
    rebuilt_accounts: sa.Table,
) -> ReconcileReport:
    end = datetime.combine(next_month(period), datetime.min.time())
    report = ReconcileReport(period, issued_invoices=len(issued))
    with engine.connect() as conn:
        rebuilt = conn.execute(
            sa.select(rebuilt_usage).where(rebuilt_usage.c.recorded_at < end).order_by(rebuilt_usage.c.id)
        ).all()
        # Every live usage row before the period's end: event id -> the invoice it is billed on (or None).
        links: dict[bytes, int | None] = {
            bytes(r.event_id): None if r.invoice_id is None else int(r.invoice_id)
            for r in conn.execute(
                sa.select(usage_records.c.event_id, usage_records.c.invoice_id).where(usage_records.c.recorded_at < end)
            )
        }
        linked: dict[int, set[bytes]] = defaultdict(set)
        if issued:
            for r in conn.execute(
                sa.select(usage_records.c.event_id, usage_records.c.invoice_id).where(
                    usage_records.c.invoice_id.in_([int(i.id) for i in issued])
                )
            ):
                linked[int(r.invoice_id)].add(bytes(r.event_id))
        invoice_periods: dict[int, date] = {}
        invoice_numbers: dict[int, str] = {}
        for inv in conn.execute(sa.select(invoices.c.id, invoices.c.billing_period_start, invoices.c.invoice_number)):
            invoice_periods[int(inv.id)] = inv.billing_period_start
            invoice_numbers[int(inv.id)] = str(inv.invoice_number)
        profiles = {
            (r.account_type, int(r.account_id)): profile_of(r) for r in conn.execute(sa.select(rebuilt_accounts))
        }
        issued_ids = [int(i.id) for i in issued]
        items: dict[int, list[Row[Any]]] = defaultdict(list)
        if issued_ids:
            for item in conn.execute(
                sa.select(invoice_items).where(invoice_items.c.invoice_id.in_(issued_ids)).order_by(invoice_items.c.id)
            ):
                items[int(item.invoice_id)].append(item)
        credit_rows = list(conn.execute(sa.select(credits).order_by(credits.c.id)))
        applications = list(conn.execute(sa.select(credit_applications)))

    def billed_earlier(row: Row[Any]) -> bool:
        invoice_id = links.get(bytes(row.event_id))
        return invoice_id is not None and invoice_periods.get(invoice_id, period) < period

    unbilled: dict[Account, list[Row[Any]]] = defaultdict(list)
    earlier: dict[Account, list[Row[Any]]] = defaultdict(list)
    for row in rebuilt:
        (earlier if billed_earlier(row) else unbilled)[_account_of(row)].append(row)

    by_account = {(i.account_type, int(i.account_id)): i for i in issued}
    accounts = sorted(
        set(unbilled) | {Account(t, a) for t, a in by_account}, key=lambda a: (a.account_type, a.account_id)
    )
    terms = rules.invoice_terms()
    expected_numbers = {int(i.id): invoice_number(period, n) for n, i in enumerate(issued, start=1)}
    next_free = len(issued) + 1
    for account in accounts:
        invoice = by_account.get((account.account_type, account.account_id))
        rows = unbilled.get(account, [])
        draft: InvoiceDraft | None = None
        if rows:
            at = as_utc(invoice.issued_at) if invoice is not None and invoice.issued_at else utcnow()
            draft = draft_invoice(
                period,
                [metered(r) for r in rows],
                _billed_before(period, rows, earlier.get(account, [])),
                profiles.get((account.account_type, account.account_id)),
                int(rows[0].user_id),
                str(rows[0].currency),
                _balances_before(account, invoice, str(rows[0].currency), credit_rows, applications, at),
                at,
                terms,
            )
            report.recomputed_invoices += 1
        if invoice is not None:
            number = str(invoice.invoice_number)
            expected = expected_numbers[int(invoice.id)]
        else:
            number = expected = invoice_number(period, next_free)
            next_free += 1
        if invoice is not None:
            report.differences += _diff_usage(
                f"{account.account_type} {account.account_id}",
                str(invoice.invoice_number),
                int(invoice.id),
                rows,
                linked.get(int(invoice.id), set()),
                links,
                invoice_numbers,
            )
        report.differences += _diff_invoice(
            f"{account.account_type} {account.account_id}",
            number,
            expected,
            period,
            invoice,
            items.get(int(invoice.id), []) if invoice is not None else [],
            draft,
        )
    return report


def _billed_before(period: date, unbilled: Sequence[Row[Any]], earlier: Sequence[Row[Any]]) -> list[Any]:
    """The account's usage billed by earlier periods' invoices, of the resources and months with late usage
    (as the run's ``_billed_usage_of`` reads it)."""
    start_of = {month_of(r.recorded_at) for r in unbilled} - {period}
    resources = {(r.resource_type, int(r.resource_id)) for r in unbilled}
    return [
        metered(r)
        for r in earlier
        if month_of(r.recorded_at) in start_of and (r.resource_type, int(r.resource_id)) in resources
    ]


def _balances_before(
    account: Account,
    invoice: Row[Any] | None,
    currency: str,
    credit_rows: Sequence[Row[Any]],
    applications: Sequence[Row[Any]],
    at: datetime,
) -> list[CreditBalance]:
    """The account's credits as ``invoice`` found them: today's balance plus what this and later invoices took."""
    since = int(invoice.id) if invoice is not None else None
    taken: dict[int, Decimal] = defaultdict(Decimal)
    if since is not None:
        for application in applications:
            if int(application.invoice_id) >= since:
                taken[int(application.credit_id)] += application.amount
    balances = []
    for credit in credit_rows:
        owner = _account_of(credit)
        if owner != account or (credit.currency or "EUR") != currency:
            continue
        created = as_utc(credit.created_at) if credit.created_at else at
        if created > at:
            continue
        balance = credit.balance + taken.get(int(credit.id), Decimal(0))
        expires = as_utc(credit.expires_at) if credit.expires_at else None
        balances.append(CreditBalance(int(credit.id), balance, expires, created))
    return balances


# -- the diff --------------------------------------------------------------------------------


def _diff_usage(
    account: str,
    number: str,
    invoice_id: int,
    recomputed: Sequence[Row[Any]],
    on_invoice: set[bytes],
    links: dict[bytes, int | None],
    numbers: dict[int, str],
) -> list[Difference]:
    """The usage the invoice should bill (rebuilt) against the live usage rows marked billed with it."""
    found = []
    expected = {bytes(r.event_id): r for r in recomputed}
    for event_id, row in expected.items():
        if event_id in on_invoice:
            continue
        if event_id not in links:
            where = "no usage row"
        elif links[event_id] is None:
            where = "usage row not billed"
        else:
            billed_on = links[event_id]
            where = f"billed on {numbers.get(billed_on, f'invoice {billed_on}') if billed_on else '?'}"
        label = f"usage {row.resource_type} #{row.resource_id} {_text(row.recorded_at)}"
        found.append(Difference(account, number, label, "usage row", where, f"{uuid.UUID(bytes=event_id)}"))
    for event_id in sorted(on_invoice - set(expected)):
        label = f"usage event {uuid.UUID(bytes=event_id)}"
        found.append(
            Difference(account, number, label, "usage row", f"billed with invoice {invoice_id}", "not in the streams")
        )
    return found


def _text(value: Any) -> str:
    if value is None:
        return NONE
    if isinstance(value, datetime):
        return _naive(value).isoformat(sep=" ")
    return str(value)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, Decimal) or isinstance(b, Decimal):
        try:
            return Decimal(a) == Decimal(b)
        except (TypeError, ValueError, ArithmeticError):
            return False
    return bool(a == b)


LineKey = tuple[str, str, int, str, str, Decimal, Decimal | None, bool]


def _label(key: LineKey) -> str:
    month, resource_type, resource_id, _metric, product, hourly, _cap, adjustment = key
    text = f"{resource_type} #{resource_id} {product} {month} @{hourly}"
    return f"{text} (adjustment)" if adjustment else text


def _issued_key(item: Row[Any]) -> LineKey:
    meta = item.metadata or {}
    cap = meta.get("price_monthly_gross")
    return (
        str(meta.get("month", "")),
        str(item.resource_type),
        int(item.resource_id or 0),
        str(meta.get("metric_type", "")),
        str(meta.get("product", "")),
        Decimal(str(meta.get("price_hourly_gross", "0"))),
        None if cap is None else Decimal(str(cap)),
        bool(meta.get("adjustment", False)),
    )


def _recomputed_key(line: Line) -> LineKey:
    k = line.key
    return (
        f"{k.month:%Y-%m}",
        k.resource_type,
        k.resource_id,
        k.metric_type,
        k.product,
        k.price_hourly,
        k.price_monthly,
        line.adjustment,
    )


def _line_fields(line: Line) -> dict[str, Any]:
    return {
        "description": line.description,
        "quantity": line.quantity.quantize(QUANTITY),
        "unit_price": line.unit_price.quantize(UNIT_PRICE),
        "total": line.total.quantize(CENT),
        "usage_period_start": _naive(line.period_start),
        "usage_period_end": _naive(line.period_end),
    }


def _diff_invoice(
    account: str,
    number: str,
    expected_number: str,
    period: date,
    invoice: Row[Any] | None,
    items: Sequence[Row[Any]],
    draft: InvoiceDraft | None,
) -> list[Difference]:
    found: list[Difference] = []

    def differ(line: str, name: str, issued: Any, recomputed: Any) -> None:
        if not _same(issued, recomputed):
            found.append(Difference(account, number, line, name, _text(issued), _text(recomputed)))

    if invoice is None and draft is None:
        return found
    if invoice is None:
        assert draft is not None
        differ("—", "invoice", "not issued", f"total {draft.totals.total} {draft.currency}")
    elif draft is None:
        differ("—", "invoice", f"total {invoice.total} {invoice.currency}", "nothing to bill")
    if invoice is None or draft is None:
        return found

    t = draft.totals
    expected: dict[str, Any] = {
        "invoice_number": expected_number,
        "user_id": draft.user_id,
        "currency": draft.currency,
        "subtotal": t.subtotal,
        "tax_rate": t.tax_rate,
        "tax_amount": t.tax_amount,
        "credits_applied": t.credits_applied,
        "total": t.total,
        "billing_period_end": next_month(period) - timedelta(days=1),
        "due_date": draft.due,
        "notes": t.note or None,
    }
    for name, value in expected.items():
        differ("—", name, invoice._mapping[name], value)

    issued_lines = {_issued_key(i): i for i in items}
    recomputed_lines = {_recomputed_key(line): line for line in draft.lines}
    for key in sorted(set(issued_lines) | set(recomputed_lines), key=lambda k: tuple(map(str, k))):
        label = _label(key)
        item, line = issued_lines.get(key), recomputed_lines.get(key)
        if item is None:
            assert line is not None
            differ(label, "line", None, f"{line.quantity.normalize()} x {line.unit_price} = {line.total}")
        elif line is None:
            differ(label, "line", f"{item.quantity.normalize()} x {item.unit_price} = {item.total}", None)
        else:
            for name, value in _line_fields(line).items():
                differ(label, name, item._mapping[name], value)
    return found
