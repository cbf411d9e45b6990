"""Reconciliation: rebuild billing's state from the streams and check a period's invoices against it.

``reconcile`` replays every event of billing's streams (``usage.events``, ``identity.events``)
from offset 0 with cpshared's replay (the billing projection itself, under the consumer
identity ``billing-reconcile@replay``, into scratch tables ``usage_records__recon`` and
``billing_accounts__recon`` beside the live ones; dropped afterwards), recomputes the
period's invoices from them with the invoice run's own code (``domain.invoice.draft_invoice``)
and compares them with the issued invoices field by field and line by line. This module is
the command (lock, replay, clean-up); what is read is ``adapters/reconciliation.py``, the
comparison ``service_layer/reconciliation.py``, the rules of a difference
``domain/reconciliation.py``.

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
* **An open period** (no invoice of it issued yet: the current month, or one whose run has not
  happened) has no invoice to diff: the usage billing ingested for it is compared with the
  usage in the streams record by record, and the report says the period is open.
* **Traffic** is priced by today's active ``traffic`` plan, as the run prices it (a plan changed
  since a period was invoiced shows on that period's traffic lines).
* **Usage the retention removed** (billed on invoices of periods that ended more than
  CP_USAGE_RETENTION_DAYS ago) is neither in billing's rows nor rebuilt (the projection skips
  the events ``usage_records_removed`` lists): such a period's invoices are checked on their own
  figures (``domain.reconciliation.diff_invoice_alone``), and a later period is not charged
  with it (it is billed, by an older invoice).
* **Numbers**: the run takes a month's numbers in issue order without gaps, so the issued
  invoices of the period, in issue order (by id), must carry ``INV-YYYY-MM-0001`` onwards;
  an invoice that should exist but does not is given the next numbers, accounts in the
  run's order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from billing_service.adapters import reconciliation as reads
from billing_service.config import BillingRules
from billing_service.domain.pricing import month_of
from billing_service.domain.reconciliation import Difference, ReconcileReport, naive
from billing_service.entrypoints.projection import BillingProjection, occurred
from billing_service.service_layer import reconciliation
from cpshared.clock import utcnow
from cpshared.db import database_lock
from cpshared.events import replay as replaying
from cpshared.events.envelope import ReceivedEvent
from cpshared.events.projection import ApplyContext
from cpshared.events.tables import inbox
from cpshared.logging import get_logger
from cpshared.topics import IDENTITY_EVENTS, USAGE_EVENTS, Topic

log = get_logger(__name__)

SUFFIX = "__recon"
CONSUMER = "billing-reconcile"
LOCK = "billing_reconcile"
"""Prefix of reconcile's named lock; the name carries the database (named locks are server-wide)."""


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
        issued = await asyncio.to_thread(reads.issued_invoices, engine, period)
        cutoff = max((i.issued_at for i in issued if i.issued_at is not None), default=None)
        projection = reconcile_projection(topics, cutoff or naive(utcnow()))
        result = await replaying.replay(engine, bootstrap, projection, suffix=SUFFIX)
        shadows = replaying.shadow_tables(projection, SUFFIX)
        try:
            records = await asyncio.to_thread(
                reads.read_period, engine, period, issued, shadows["usage_records"], shadows["billing_accounts"]
            )
            traffic = await asyncio.to_thread(reads.traffic_plan, engine)
            terms = replace(rules.invoice_terms(), traffic=traffic)
            report = reconciliation.compare(period, issued, records, terms, utcnow())
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
        open=report.open,
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
