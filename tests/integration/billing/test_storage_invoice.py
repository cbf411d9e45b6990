"""A month of storage on one invoice, equal to a reference computed here from Hetzner's rules:
a volume resized mid-month (a line per size), a volume deleted after 100 hours, a server with
backups enabled for seven days (seven daily backups: 20 % of the server's prices, compute's
rule), and a server snapshot of 2.50 GB (per GB-month from the snapshot plan). The usage events
are the services' own builders' (storage's volume and snapshot hours, compute's server and
backup hours), applied by billing's real projection and invoiced by the real invoice run; the
period then reconciles clean against the stream (``cloudctl billing reconcile``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from billing_service.adapters.tables import invoice_items, invoices
from compute_service.adapters.metering_repository import TypePrice
from compute_service.domain.metering import BackupPeriod, MeteredServer
from compute_service.service_layer.metering import _backup_event, _usage_event
from cpshared.clock import ManualClock, set_clock
from cpshared.events.envelope import PendingEvent
from cpshared.topics import Topic
from storage_service.domain.metering import MeteredVolume
from storage_service.domain.snapshots import MeteredSnapshot
from storage_service.service_layer.metering import snapshot_usage_event, usage_event
from tests.integration.billing.support import OCTOBER, run_invoices, user_created
from tests.integration.billing.test_reconcile import RULES, check, cli, live_and_stream

VOLUME_PER_GB = Decimal("0.044")  # billing's seeded volume plan
SNAPSHOT_PER_GB = Decimal("0.0119")  # billing's seeded snapshot plan (billing_0009)
CX22 = TypePrice("cx22", Decimal("0.007400"), Decimal("4.59"))
USER = 10
HOURS = 744  # October


@pytest.fixture
def clock() -> Iterator[ManualClock]:
    manual = ManualClock(datetime(2026, 11, 2, 3, 0, tzinfo=UTC))
    previous = set_clock(manual)
    try:
        yield manual
    finally:
        set_clock(previous)


def _on(topic: Topic, events: list[PendingEvent]) -> list[PendingEvent]:
    return [dataclasses.replace(e, topic=topic) for e in events]


def _month(topic: Topic) -> list[PendingEvent]:
    at = [OCTOBER + timedelta(hours=n) for n in range(HOURS)]
    resized = OCTOBER + timedelta(hours=360)
    kept = MeteredVolume(1, USER, None, "data", "fsn1", 20, OCTOBER, None, None)
    gone = MeteredVolume(2, USER, None, "scratch", "fsn1", 20, at[200], at[200] + timedelta(hours=100), None)
    snapshot_made = OCTOBER + timedelta(days=4)
    snapshot = MeteredSnapshot(31, USER, None, 5, Decimal("2.50"), snapshot_made, None, None)
    server = MeteredServer(5, USER, None, "web-1", "fsn1", 1, OCTOBER, None, None)
    backups = BackupPeriod(OCTOBER + timedelta(days=24), None, Decimal(20))
    events = [user_created(USER, topic=topic)]
    for hour in at:
        events.append(usage_event(kept, hour, 10 if hour < resized else 20, VOLUME_PER_GB, "EUR"))
        if gone.created_at <= hour < gone.deleted_at:  # type: ignore[operator]
            events.append(usage_event(gone, hour, 20, VOLUME_PER_GB, "EUR"))
        if hour >= snapshot_made:
            events.append(snapshot_usage_event(snapshot, hour, SNAPSHOT_PER_GB, "EUR"))
        events.append(_usage_event(server, hour, CX22))
        if hour >= backups.started_at:  # the last seven days: seven daily backups
            events.append(_backup_event(server, hour, CX22, backups))
    return _on(topic, events)


def _cents(amount: Decimal) -> Decimal:
    return amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _reference() -> dict[tuple[str, int, str], tuple[int, Decimal]]:
    """Each line's (hours, net total), from the rules themselves: per GB and month for volumes and
    snapshots, by the hour at a 730th of it (to the micro-euro), capped at the month; backups at
    20 % of the server's hourly and monthly prices (monthly cut to the cent); net = gross / 1.19."""

    def per_gb(size: Decimal, price: Decimal, hours: int) -> Decimal:
        monthly = size * price
        hourly = (monthly / 730).quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)
        return _cents(min(hours * hourly, monthly) / Decimal("1.19"))

    def hourly_capped(hourly: Decimal, monthly: Decimal, hours: int) -> Decimal:
        return _cents(min(hours * hourly, monthly) / Decimal("1.19"))

    backup_monthly = (Decimal("4.59") / 5).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
    return {
        ("volume", 1, "10 GB"): (360, per_gb(Decimal(10), VOLUME_PER_GB, 360)),
        ("volume", 1, "20 GB"): (384, per_gb(Decimal(20), VOLUME_PER_GB, 384)),
        ("volume", 2, "20 GB"): (100, per_gb(Decimal(20), VOLUME_PER_GB, 100)),
        ("snapshot", 31, "2.50 GB"): (648, per_gb(Decimal("2.50"), SNAPSHOT_PER_GB, 648)),
        ("server", 5, "cx22"): (744, hourly_capped(Decimal("0.0074"), Decimal("4.59"), 744)),
        ("backup", 5, "cx22"): (168, hourly_capped(Decimal("0.00148"), backup_monthly, 168)),
    }


def test_a_month_of_volumes_backups_and_a_snapshot_is_invoiced_as_the_reference_and_reconciles(
    billing_db: tuple[str, Engine], scratch_stream: Topic, clock: ManualClock
) -> None:
    url, engine = billing_db
    with engine.connect() as conn:  # the plans the storage worker prices from
        plans: dict[str, Decimal] = dict(
            conn.execute(sa.text("SELECT code, price_per_gb FROM pricing_plans WHERE active")).all()
        )
    assert (plans["volume"], plans["snapshot"]) == (VOLUME_PER_GB, SNAPSHOT_PER_GB)
    live_and_stream(engine, _month(scratch_stream))
    report = run_invoices(engine, date(2026, 10, 1), RULES)
    assert len(report.issued) == 1
    with engine.connect() as conn:
        lines = conn.execute(
            sa.select(invoice_items).where(invoice_items.c.invoice_id == report.issued[0].invoice_id)
        ).all()
        invoice = conn.execute(sa.select(invoices)).one()
    found = {
        (line.resource_type, line.resource_id, line.description.split(") ", 1)[1].split(", 2026-10")[0]): (
            int(line.quantity),
            line.total,
        )
        for line in lines
    }
    reference = _reference()
    assert found == reference
    assert invoice.subtotal == sum((total for _, total in reference.values()), Decimal(0))
    snapshot_line = next(line for line in lines if line.resource_type == "snapshot")
    assert snapshot_line.description.startswith("snapshot of server #5 (#31) 2.50 GB, 2026-10")

    assert check(engine, scratch_stream, OCTOBER.date()).clean
    code, output = cli(url, scratch_stream, "2026-10")
    assert code == 0 and "no difference" in output, output
