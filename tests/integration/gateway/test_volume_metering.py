"""Volumes metered by the hour and invoiced by billing: a volume made through the gateway (the
``hcloud`` client), resized mid-way and deleted, on a controlled clock. Storage's worker (in a
thread) carries the actions out on the simulator; its meter prices each started hour from
billing's volume plan at the size in effect at the hour's end; the events go through billing's
real projection and invoice run, which bills each size on a line of its own."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from hcloud.locations import Location

from billing_service.adapters.tables import invoice_items
from billing_service.config import BillingRules
from cloudctl.infra.mariadb import MariaDB
from cloudctl.paths import LocalPaths
from cloudplatform.events.v1.envelope_pb2 import EventEnvelope
from cloudplatform.usage.v1 import events_pb2 as usage_pb
from cpshared.clock import ManualClock, set_clock
from cpshared.events.catalog import REGISTRY
from cpshared.events.envelope import PendingEvent
from cpshared.migrations import migrations_dir, upgrade
from cpshared.topics import USAGE_EVENTS
from tests.integration.billing.support import apply, run_invoices, user_created
from tests.integration.gateway.test_servers_api import _client, _token
from tests.integration.gateway.test_volumes_api import StorageWorker, _user_id
from tests.integration.live import LivePlatform, live_platform

START = datetime(2026, 3, 1, 10, 20, tzinfo=UTC)
RULES = BillingRules(billing_seller_country="DE", billing_included_tax_rate=Decimal(19), billing_payment_terms_days=14)


@pytest.fixture(scope="module")
def platform(paths: LocalPaths) -> Iterator[LivePlatform]:
    mariadb = MariaDB(paths.root)
    with (
        mariadb.scratch_database("cp_test_vm_id") as identity_url,
        mariadb.scratch_database("cp_test_vm_gw") as gateway_url,
        mariadb.scratch_database("cp_test_vm_cp") as compute_url,
        mariadb.scratch_database("cp_test_vm_st") as storage_url,
    ):
        upgrade("identity", migrations_dir("identity"), identity_url)
        upgrade("gateway", migrations_dir("gateway"), gateway_url)
        upgrade("compute", migrations_dir("compute"), compute_url)
        upgrade("storage", migrations_dir("storage"), storage_url)
        with live_platform(identity_url, gateway_url, compute_url=compute_url, storage_url=storage_url) as live:
            yield live


@pytest.fixture
def clock() -> Iterator[ManualClock]:
    manual = ManualClock(START)
    previous = set_clock(manual)
    try:
        yield manual
    finally:
        set_clock(previous)


def _usage_events(platform: LivePlatform) -> list[PendingEvent]:
    assert platform.storage is not None
    with platform.storage.engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT envelope FROM outbox WHERE event_type = 'usage.recorded' ORDER BY id")
        ).scalars()
        found = []
        for raw in rows:
            envelope = EventEnvelope.FromString(raw)
            found.append(PendingEvent(envelope, USAGE_EVENTS))
    return found


def test_a_volume_resized_and_deleted_is_invoiced_per_size_from_the_volume_plan(
    platform: LivePlatform, clock: ManualClock
) -> None:
    assert platform.storage is not None and platform.billing is not None
    worker = StorageWorker(platform)
    worker.thread.start()
    try:
        email = "metered@example.com"
        client = _client(platform, _token(platform, email), [])
        created = client.volumes.create(size=10, name="metered", location=Location(name="fsn1"))
        created.action.wait_until_finished(max_retries=400)
        clock.advance(timedelta(hours=2, minutes=20))  # 12:40
        client.volumes.resize(created.volume, 20).wait_until_finished(max_retries=400)
        clock.advance(timedelta(hours=2, minutes=30))  # 15:10
        client.volumes.delete(created.volume)
        deadline = 400
        while deadline:
            with platform.storage.engine.connect() as conn:
                gone = conn.execute(
                    sa.text("SELECT deleted_at IS NOT NULL FROM volumes WHERE id = :id"), {"id": created.volume.id}
                ).scalar_one()
            if gone:
                break
            deadline -= 1
            worker.stop_event.wait(0.05)
        assert gone
    finally:
        worker.stop()

    meter = platform.storage.meter()
    meter.run()
    assert meter.run().hours == 0  # every hour recorded once
    events = _usage_events(platform)
    payloads = [
        REGISTRY.decode_payload(e.envelope.event_type, e.envelope.schema_version, e.envelope.payload) for e in events
    ]
    assert all(isinstance(p, usage_pb.UsageRecorded) for p in payloads)
    hours = [
        (p.period_start.ToDatetime(tzinfo=UTC).hour, p.product, p.price_hourly, p.price_monthly)  # type: ignore[attr-defined]
        for p in payloads
    ]
    # 10:20 → 15:10: six started hours; each priced by the size at its end (the resize at 12:40).
    assert hours == [
        (10, "10 GB", "0.000603", "0.440000"),
        (11, "10 GB", "0.000603", "0.440000"),
        (12, "20 GB", "0.001205", "0.880000"),
        (13, "20 GB", "0.001205", "0.880000"),
        (14, "20 GB", "0.001205", "0.880000"),
        (15, "20 GB", "0.001205", "0.880000"),
    ]
    assert len({e.envelope.event_id for e in events}) == 6

    user_id = _user_id(platform, email)
    clock.set(datetime(2026, 4, 2, tzinfo=UTC))
    apply(platform.billing, [user_created(user_id), *events])
    report = run_invoices(platform.billing, date(2026, 3, 1), RULES)
    assert len(report.issued) == 1
    with platform.billing.connect() as conn:
        lines = conn.execute(
            sa.select(invoice_items)
            .where(invoice_items.c.invoice_id == report.issued[0].invoice_id)
            .order_by(invoice_items.c.id)
        ).all()
    volume_lines = [line for line in lines if line.resource_type == "volume"]
    assert [(line.resource_id, line.quantity) for line in volume_lines] == [
        (created.volume.id, 2),
        (created.volume.id, 4),
    ]
    assert all("metered" in line.description for line in volume_lines)
    assert {"10 GB" in line.description for line in volume_lines} == {True, False}
