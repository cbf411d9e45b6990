"""Outgoing traffic from the samples to an invoice line, on a controlled clock.

Samples of two servers go through monitoring's projection (the real runner, with its inbox)
into server_metrics; some arrive twice, ten of one hour only after that hour was recorded. The
traffic meter (service_layer/traffic.py) records each closed hour as ``usage.recorded`` in GB
(revision 0), and the late samples as the hour's next revision; the events, taken from
monitoring's outbox, reach billing's projection (twice) and the stream; the invoice run prices
them with billing's ``traffic`` plan on a line of their own. The line equals a reference
computed here from the samples' bytes alone (20 TB of 2^40 bytes included, 1.00 per TB beyond,
19 % VAT included); the server within its included traffic has a line of 0.00; reconciliation
finds no difference. The summaries the meter publishes set compute's servers' usage columns."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from billing_service.adapters.tables import invoice_items, usage_records
from billing_service.config import BillingRules
from billing_service.entrypoints.reconcile import reconcile
from cloudctl.infra.mariadb import MariaDB
from cloudctl.paths import LocalPaths
from compute_service.entrypoints.account_projection import AccountProjection
from cpshared.clock import ManualClock, set_clock
from cpshared.db import make_engine
from cpshared.events.envelope import HEADER_EVENT_TYPE, PendingEvent, parse_envelope
from cpshared.events.projection import ProjectionRunner, RawRecord
from cpshared.events.tables import outbox
from cpshared.migrations import migrations_dir, upgrade
from cpshared.topics import Topic
from monitoring_service.adapters.tables import monitored_servers, server_metrics
from monitoring_service.bootstrap import Monitoring
from monitoring_service.config import TrafficSettings
from monitoring_service.domain.metrics import Sample
from monitoring_service.service_layer.collection import sample_event
from tests.integration.backbone import KAFKA
from tests.integration.billing.support import apply, billing_db, run_invoices, server_hour, user_created
from tests.integration.monitoring.support import outbox_records, project
from tests.integration.test_consumer_crashes import produce

__all__ = ["billing_db"]

OCTOBER = datetime(2026, 10, 1, tzinfo=UTC)
DAY = datetime(2026, 10, 5, tzinfo=UTC)
RULES = BillingRules(billing_seller_country="DE", billing_included_tax_rate=Decimal(19), billing_payment_terms_days=14)
SETTINGS = TrafficSettings(traffic_meter_interval_seconds=300, traffic_close_after_seconds=600, traffic_late_hours=24)
HEAVY, LIGHT, USER = 7, 8, 10
HEAVY_MBPS = Decimal("10000.00")  # 10 Gbit/s out: 75 GB a minute
LIGHT_MBPS = Decimal("8.00")
LATE = [DAY + timedelta(hours=1, minutes=50 + n) for n in range(10)]
"""Samples of the hour 01:00 that reach monitoring only after that hour was recorded."""


@pytest.fixture
def clock() -> Iterator[ManualClock]:
    manual = ManualClock(DAY)
    previous = set_clock(manual)
    try:
        yield manual
    finally:
        set_clock(previous)


@pytest.fixture
def monitoring(paths: LocalPaths) -> Iterator[Monitoring]:
    with MariaDB(paths.root).scratch_database("cp_test_mo_traffic") as url:
        upgrade("monitoring", migrations_dir("monitoring"), url)
        service = Monitoring(make_engine(url, pool_size=3))
        try:
            yield service
        finally:
            service.close()


@pytest.fixture
def compute_db(paths: LocalPaths) -> Iterator[Engine]:
    with MariaDB(paths.root).scratch_database("cp_test_co_usage") as url:
        upgrade("compute", migrations_dir("compute"), url)
        engine = make_engine(url, pool_size=2)
        try:
            yield engine
        finally:
            engine.dispose()


def _servers(engine: Engine) -> None:
    with engine.begin() as conn:
        for server_id in (HEAVY, LIGHT):
            conn.execute(
                monitored_servers.insert().values(
                    server_id=server_id,
                    user_id=USER,
                    organization_id=None,
                    upstream_id=900 + server_id,
                    status="running",
                    deleted_at=None,
                    updated_at=DAY.replace(tzinfo=None),
                )
            )


def _samples(server_id: int, mbps: Decimal, instants: list[datetime]) -> list[PendingEvent]:
    """What the collector records: the upstream series in bytes per second (megabits x 125,000)."""
    out = str(mbps * 125_000)
    return [sample_event(Sample(server_id, at, {"network.0.bandwidth.out": out, "cpu": "40"})) for at in instants]


def _records(events: list[PendingEvent], first_offset: int) -> list[RawRecord]:
    return [
        RawRecord(e.topic.name, 0, first_offset + n, e.key, e.envelope.SerializeToString(), e.headers())
        for n, e in enumerate(events)
    ]


def _usage_events(engine: Engine, topic: Topic) -> list[PendingEvent]:
    """The usage.recorded in monitoring's outbox, as pending events on ``topic`` (to produce)."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(outbox).where(outbox.c.topic == "usage.events").order_by(outbox.c.id)).all()
    found = []
    for row in rows:
        envelope = parse_envelope(bytes(row.envelope))
        found.append(PendingEvent(envelope=envelope, topic=topic))
    return found


def _reference_net(total_bytes: int) -> Decimal:
    """Billing's traffic line computed independently: TB of 2^40 bytes, 20 included, 1.00 gross per TB beyond."""
    tb = Decimal(total_bytes) / Decimal(2**40)
    gross = max(tb - 20, Decimal(0)) * Decimal("1.00")
    return (gross / Decimal("1.19")).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def test_samples_to_a_traffic_overage_line_late_and_repeated_samples_counted_once(
    monitoring: Monitoring,
    billing_db: tuple[str, Engine],
    compute_db: Engine,
    scratch_stream: Topic,
    clock: ManualClock,
) -> None:
    _servers(monitoring.engine)
    minutes = [DAY + timedelta(minutes=n) for n in range(7 * 60)]  # 00:00 .. 06:59, one a minute
    on_time = [m for m in minutes if m not in LATE]
    heavy, light = _samples(HEAVY, HEAVY_MBPS, on_time), _samples(LIGHT, LIGHT_MBPS, minutes)
    assert project(monitoring.engine, _records(heavy + light, 1)).applied == len(heavy) + len(light)

    meter = monitoring.traffic_meter(SETTINGS)
    clock.set(DAY + timedelta(hours=3, minutes=5))  # 00:00 and 01:00 closed (10 minutes after their end)
    first = meter.meter(clock.now())
    assert (first.recorded, first.late) == (4, 0)

    # The late samples of 01:00, and a repeat of 00:00's (delivered again, and collected again).
    late = _samples(HEAVY, HEAVY_MBPS, LATE)
    again = _samples(HEAVY, HEAVY_MBPS, minutes[:60])
    result = project(monitoring.engine, _records(late + again, 100_000))
    assert (result.applied, result.duplicates) == (10, 60)
    with monitoring.engine.begin() as conn:  # a second collector's copy of a stored minute: one row
        conn.execute(
            sa.text(
                "INSERT IGNORE INTO server_metrics (server_id, network_out_mbps, recorded_at) VALUES (:s, 99999, :at)"
            ),
            {"s": HEAVY, "at": minutes[0].replace(tzinfo=None)},
        )

    clock.set(DAY + timedelta(hours=7))  # 02:00 .. 05:00 closed now; 01:00 raised by the late samples
    second = meter.meter(clock.now())
    assert (second.recorded, second.late) == (9, 1)
    assert meter.meter(clock.now()).recorded == 0  # a pass repeated records nothing

    with monitoring.engine.connect() as conn:
        stored = conn.execute(
            sa.select(sa.func.count()).select_from(server_metrics).where(server_metrics.c.server_id == HEAVY)
        ).scalar_one()
    assert stored == 420

    # To billing (each event twice: a redelivery) and the stream, beside a server hour of compute's.
    _, billing = billing_db
    usage = _usage_events(monitoring.engine, scratch_stream)
    assert len(usage) == 13 and len({e.envelope.event_id for e in usage}) == 13
    hour = dataclasses.replace(server_hour(HEAVY, DAY, user_id=USER), topic=scratch_stream)
    account = dataclasses.replace(user_created(USER), topic=scratch_stream)
    apply(billing, [account, hour, *usage])
    apply(billing, usage)
    asyncio.run(produce([account, hour, *usage]))
    with billing.connect() as conn:
        gb = conn.execute(
            sa.select(usage_records.c.resource_id, sa.func.count(), sa.func.sum(usage_records.c.quantity))
            .where(usage_records.c.metric_type == "bandwidth_gb")
            .group_by(usage_records.c.resource_id)
        ).all()
    heavy_bytes = 360 * int(HEAVY_MBPS * 7_500_000)
    light_bytes = 360 * int(LIGHT_MBPS * 7_500_000)
    by_server = {int(r[0]): (int(r[1]), Decimal(r[2])) for r in gb}
    assert by_server[HEAVY][0] == 7  # six hours and one late revision
    assert abs(by_server[HEAVY][1] - Decimal(heavy_bytes) / 2**30) < Decimal("0.00001")
    assert abs(by_server[LIGHT][1] - Decimal(light_bytes) / 2**30) < Decimal("0.00001")

    clock.set(datetime(2026, 11, 2, 3, 0, tzinfo=UTC))
    report = run_invoices(billing, date(2026, 10, 1), RULES)
    assert len(report.issued) == 1
    with billing.connect() as conn:
        lines = conn.execute(sa.select(invoice_items).order_by(invoice_items.c.id)).all()
    traffic = {
        int(line.resource_id): line for line in lines if (line.metadata or {}).get("metric_type") == "bandwidth_gb"
    }
    assert traffic[HEAVY].total == _reference_net(heavy_bytes) > 0
    assert traffic[HEAVY].quantity == (Decimal(heavy_bytes) / 2**40 - 20).quantize(Decimal("0.0001"))
    assert traffic[HEAVY].description.startswith("Outgoing traffic of server (#7), 2026-10:")
    assert traffic[LIGHT].total == Decimal("0.00") == _reference_net(light_bytes)
    assert len([line for line in lines if line.resource_id == HEAVY]) == 2  # its hour and its traffic, apart

    recon = asyncio.run(reconcile(billing, KAFKA, date(2026, 10, 1), RULES, topics=(scratch_stream,)))
    assert recon.differences == [] and recon.clean

    # Compute's usage columns, from the summaries (one per server and pass), not from samples.
    summaries = [r for r in outbox_records(monitoring.engine) if r.topic == "monitoring.metrics"]
    summarized = [r for r in summaries if dict(r.headers).get(HEADER_EVENT_TYPE) == b"metric.summarized"]
    assert summarized, "the meter publishes summaries"
    with compute_db.begin() as conn:
        conn.execute(sa.text("SET FOREIGN_KEY_CHECKS = 0"))
        for server_id in (HEAVY, LIGHT):
            conn.execute(
                sa.text(
                    "INSERT INTO servers (id, user_id, name, status, server_type_id, datacenter_id, "
                    "protection_delete, protection_rebuild) VALUES (:id, :user, :name, 'running', 1, 1, 0, 0)"
                ),
                {"id": server_id, "user": USER, "name": f"web-{server_id}"},
            )
    runner = ProjectionRunner(compute_db, AccountProjection())
    applied = runner.apply_batch(summaries)
    assert applied.applied == len(summarized) and applied.ignored == len(summaries) - len(summarized)
    with compute_db.connect() as conn:
        rows = {
            int(r.id): r
            for r in conn.execute(
                sa.text(
                    "SELECT id, bandwidth_used_gb, cpu_usage, memory_usage, disk_usage, usage_updated_at FROM servers"
                )
            )
        }
    # The 07:00 summary: the closed hours recorded and the open hour 06:00 (the month so far).
    heavy_gb = (Decimal(heavy_bytes) * 420 / 360 / 2**30).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    assert abs(rows[HEAVY].bandwidth_used_gb - heavy_gb) <= Decimal("0.01")
    assert rows[HEAVY].cpu_usage == Decimal("40.00")
    assert rows[HEAVY].memory_usage is None and rows[HEAVY].disk_usage is None
    # An older summary delivered later changes nothing.
    before = rows[HEAVY].usage_updated_at
    assert ProjectionRunner(compute_db, AccountProjection()).apply_batch(summarized[:1]).duplicates == 1
    with compute_db.connect() as conn:
        after = conn.execute(sa.text("SELECT usage_updated_at FROM servers WHERE id = :id"), {"id": HEAVY}).scalar_one()
    assert after == before
