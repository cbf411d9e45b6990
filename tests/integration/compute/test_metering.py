"""Metering on a real MariaDB: one usage.recorded per server per started clock hour, read back
from compute's outbox, with the clock driven by the test (cpshared.clock.ManualClock)."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from cloudplatform.usage.v1.events_pb2 import UsageRecorded
from compute_service.adapters import tables as t
from compute_service.adapters.metering_repository import MeteringRepository
from compute_service.bootstrap import Compute
from compute_service.domain.servers import Server
from compute_service.entrypoints import metering_loop
from compute_service.service_layer import catalog
from compute_service.service_layer.metering import Meter
from cpshared.clock import ManualClock, set_clock
from cpshared.events.catalog import REGISTRY
from cpshared.events.envelope import parse_envelope, usage_event_id
from cpshared.events.tables import outbox

DAY = datetime(2026, 3, 2, tzinfo=UTC)


def at(hour: int, minute: int = 0, second: int = 0) -> datetime:
    return DAY + timedelta(hours=hour, minutes=minute, seconds=second)


@pytest.fixture
def clock() -> Iterator[ManualClock]:
    manual = ManualClock(at(9))
    previous = set_clock(manual)
    try:
        yield manual
    finally:
        set_clock(previous)


@pytest.fixture
def metered(compute: Compute, clock: ManualClock) -> Compute:
    catalog.sync_catalog(compute.catalog_source(), compute.uow())
    return compute


def _type(compute: Compute, code: str) -> Any:
    with compute.engine.connect() as conn:
        return conn.execute(sa.select(t.server_types).where(t.server_types.c.code == code)).one()


def _create(
    compute: Compute,
    created_at: datetime,
    name: str = "web-1",
    organization_id: int | None = None,
    *,
    upstream: bool = True,
) -> int:
    """A server recorded at ``created_at``; ``upstream``: the worker has made it upstream."""
    with compute.uow() as uow:
        server_type, datacenter, image = uow.servers.catalog_choice("cx22", "fsn1", "ubuntu-24.04")
        server = Server(
            id=0,
            user_id=42,
            organization_id=organization_id,
            name=name,
            status="running",
            server_type_id=server_type.id,
            datacenter_id=datacenter.id,
            image_id=image.id,
        )
        uow.servers.add(server, created_at)
        if upstream:
            _made_upstream(uow.session, server.id)
        uow.commit()
    return server.id


def _made_upstream(session: Any, server_id: int) -> None:
    session.execute(sa.update(t.servers).where(t.servers.c.id == server_id).values(hetzner_id=900_000 + server_id))


def _change_type(compute: Compute, server_id: int, code: str, when: datetime) -> None:
    new_type = _type(compute, code)
    with compute.uow() as uow:
        uow.servers.open_type_period(server_id, new_type.id, when)
        uow.session.execute(sa.update(t.servers).where(t.servers.c.id == server_id).values(server_type_id=new_type.id))
        uow.commit()


def _delete(compute: Compute, server_id: int, when: datetime) -> None:
    with compute.engine.begin() as conn:
        conn.execute(sa.update(t.servers).where(t.servers.c.id == server_id).values(status="deleted", deleted_at=when))


def _usage(compute: Compute) -> list[tuple[Any, UsageRecorded]]:
    """Every usage.recorded in the outbox: (envelope, payload), in insertion order."""
    with compute.engine.connect() as conn:
        rows = conn.execute(
            sa.select(outbox.c.envelope).where(outbox.c.event_type == "usage.recorded").order_by(outbox.c.id)
        ).scalars()
        found = []
        for value in rows:
            envelope = parse_envelope(value)
            payload = REGISTRY.decode_payload(envelope.event_type, envelope.schema_version, envelope.payload)
            assert isinstance(payload, UsageRecorded)
            found.append((envelope, payload))
        return found


def _hours(compute: Compute, server_id: int | None = None) -> list[datetime]:
    return [
        payload.period_start.ToDatetime(tzinfo=UTC)
        for _, payload in _usage(compute)
        if server_id is None or payload.resource_id == server_id
    ]


def test_a_server_from_1020_to_1305_is_billed_for_the_four_hours_it_touched(
    metered: Compute, clock: ManualClock
) -> None:
    clock.set(at(10, 20))
    server_id = _create(metered, at(10, 20))
    meter = Meter(metered.uow)
    assert meter.run().hours == 0  # hour 10 has not ended yet
    clock.set(at(12, 10))
    assert meter.run().hours == 2  # 10 and 11 have ended; 12 runs
    _delete(metered, server_id, at(13, 5))
    clock.set(at(13, 6))
    assert meter.run().hours == 2  # 12, and 13 — the last partial hour
    clock.set(at(18))
    assert meter.run().hours == 0  # a deleted server is done
    cx22 = _type(metered, "cx22")
    usage = _usage(metered)
    assert [p.period_start.ToDatetime(tzinfo=UTC) for _, p in usage] == [at(10), at(11), at(12), at(13)]
    for envelope, payload in usage:
        start = payload.period_start.ToDatetime(tzinfo=UTC)
        epoch = int(start.timestamp())
        assert envelope.event_id == usage_event_id("server", server_id, "compute_hours", epoch)
        assert (envelope.aggregate_type, envelope.aggregate_id) == ("usage", f"server:{server_id}")
        assert envelope.aggregate_version == epoch // 3600
        assert payload.period_end.ToDatetime(tzinfo=UTC) == start + timedelta(hours=1)
        assert (payload.resource_type, payload.resource_id, payload.resource_name) == ("server", server_id, "web-1")
        assert (payload.user_id, payload.organization_id) == (42, 0)
        assert (payload.metric_type, payload.quantity, payload.currency) == ("compute_hours", "1", "EUR")
        assert (payload.product, payload.location) == ("cx22", "fsn1")
        assert Decimal(payload.price_hourly) == cx22.price_hourly
        assert Decimal(payload.price_monthly) == cx22.price_monthly


def test_only_a_server_made_upstream_is_billed_and_from_its_creation_here(metered: Compute, clock: ManualClock) -> None:
    clock.set(at(10, 20))
    failed = _create(metered, at(10, 20), name="failed", upstream=False)
    late = _create(metered, at(10, 20), name="late", upstream=False)
    meter = Meter(metered.uow)
    clock.set(at(12, 10))
    assert meter.run().hours == 0  # neither exists upstream yet: nothing is billed
    with metered.uow() as uow:  # the worker made "late" after an outage
        _made_upstream(uow.session, late)
        uow.commit()
    _delete(metered, failed, at(12, 30))  # "failed" never existed upstream and is deleted
    clock.set(at(13, 1))
    assert meter.run().hours == 3
    assert _hours(metered, late) == [at(10), at(11), at(12)]
    assert _hours(metered, failed) == []


def test_an_hour_is_priced_by_the_type_in_effect_at_its_end(metered: Compute, clock: ManualClock) -> None:
    clock.set(at(10, 20))
    server_id = _create(metered, at(10, 20), organization_id=9)
    _change_type(metered, server_id, "cx32", at(11, 30))
    clock.set(at(12, 0, 1))
    Meter(metered.uow).run()
    cx22, cx32 = _type(metered, "cx22"), _type(metered, "cx32")
    assert cx22.price_hourly != cx32.price_hourly
    products = [(p.product, Decimal(p.price_hourly), p.organization_id) for _, p in _usage(metered)]
    assert products == [("cx22", cx22.price_hourly, 9), ("cx32", cx32.price_hourly, 9)]


def test_a_deleted_servers_last_hour_is_priced_by_its_type_at_deletion(metered: Compute, clock: ManualClock) -> None:
    clock.set(at(10, 20))
    server_id = _create(metered, at(10, 20))
    _change_type(metered, server_id, "cx32", at(10, 40))
    _delete(metered, server_id, at(10, 50))
    clock.set(at(10, 51))
    Meter(metered.uow).run()
    assert [(p.product, p.period_start.ToDatetime(tzinfo=UTC)) for _, p in _usage(metered)] == [("cx32", at(10))]


def test_catching_up_after_five_hours_down_records_each_missed_hour_once_in_bounded_rounds(
    metered: Compute, clock: ManualClock
) -> None:
    clock.set(at(10, 20))
    ids = [_create(metered, at(10, 20), name=f"web-{n}") for n in range(3)]
    meter = Meter(metered.uow, max_servers=2, max_hours=4)
    clock.set(at(11, 0, 30))
    assert meter.run().hours == 3
    clock.set(at(16, 0, 30))  # the worker was down from 11:00 to 16:00
    rounds = []
    while (done := meter.run_once()).servers:
        rounds.append(done.hours)
        assert done.hours <= 4
    assert sum(rounds) == 15 and len(rounds) >= 4
    for server_id in ids:
        assert _hours(metered, server_id) == [at(h) for h in range(10, 16)]
    ids_seen = [envelope.event_id for envelope, _ in _usage(metered)]
    assert len(ids_seen) == len(set(ids_seen)) == 18


def test_a_failure_between_the_outbox_rows_and_the_cursor_leaves_no_duplicate_and_no_gap(
    metered: Compute, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock.set(at(10, 20))
    ids = [_create(metered, at(10, 20), name=f"web-{n}") for n in range(3)]
    clock.set(at(14, 1))
    advance = MeteringRepository.advance
    calls = {"n": 0}

    def crash_on_second_cursor(self: MeteringRepository, server_id: int, metered_until: datetime) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("killed between statements")
        advance(self, server_id, metered_until)

    monkeypatch.setattr(MeteringRepository, "advance", crash_on_second_cursor)
    with pytest.raises(RuntimeError):
        Meter(metered.uow).run()
    assert _usage(metered) == []  # the round's outbox rows went with its transaction
    monkeypatch.setattr(MeteringRepository, "advance", advance)
    assert Meter(metered.uow).run().hours == 12
    for server_id in ids:
        assert _hours(metered, server_id) == [at(h) for h in range(10, 14)]


def test_recording_hours_again_adds_nothing_and_does_not_fail(metered: Compute, clock: ManualClock) -> None:
    clock.set(at(10, 20))
    server_id = _create(metered, at(10, 20))
    clock.set(at(13, 1))
    assert Meter(metered.uow).run().hours == 3
    with metered.engine.begin() as conn:  # the cursor set back, as by hand
        conn.execute(sa.update(t.servers).where(t.servers.c.id == server_id).values(metered_until=None))
    again = Meter(metered.uow).run()
    assert (again.hours, again.duplicates) == (0, 3)
    assert _hours(metered, server_id) == [at(10), at(11), at(12)]
    with metered.engine.connect() as conn:
        cursor = conn.execute(sa.select(t.servers.c.metered_until).where(t.servers.c.id == server_id)).scalar_one()
    assert cursor.replace(tzinfo=UTC) == at(13)


def test_the_metering_thread_outlives_database_errors_and_loses_no_hour(
    metered: Compute, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock.set(at(10, 20))
    server_id = _create(metered, at(10, 20))
    clock.set(at(15, 1))
    claim_due = MeteringRepository.claim_due
    failures = {"left": 2}

    def flaky(self: MeteringRepository, now: datetime, limit: int) -> Any:
        if failures["left"]:
            failures["left"] -= 1
            raise sa_exc.OperationalError("SELECT ...", {}, Exception(2013, "Lost connection to server during query"))
        return claim_due(self, now, limit)

    monkeypatch.setattr(MeteringRepository, "claim_due", flaky)
    failed_before = metering_loop.PASSES_FAILED._value.get()
    metered_before = metering_loop.HOURS_METERED._value.get()
    stop = threading.Event()
    passes = {"n": 0}

    def count() -> None:
        passes["n"] += 1
        if passes["n"] >= 3:
            stop.set()

    metering_loop.run_metering(Meter(metered.uow, max_hours=2), 0.01, stop, after_pass=count)
    assert metering_loop.PASSES_FAILED._value.get() - failed_before == 2
    assert metering_loop.HOURS_METERED._value.get() - metered_before == 5
    assert _hours(metered, server_id) == [at(h) for h in range(10, 15)]


_METER_IN_A_PROCESS = """
import sys
from datetime import datetime

from compute_service.service_layer.metering import Meter
from compute_service.adapters.unit_of_work import SqlAlchemyComputeUnitOfWork
from cpshared.clock import ManualClock, set_clock
from cpshared.db import make_engine, make_session_factory

set_clock(ManualClock(datetime.fromisoformat(sys.argv[2])))
sessions = make_session_factory(make_engine(sys.argv[1], pool_size=1))
Meter(lambda: SqlAlchemyComputeUnitOfWork(sessions), max_servers=2, max_hours=3).run()
"""


def test_a_metering_process_killed_mid_run_leaves_no_duplicate_and_no_gap(
    metered: Compute, compute_url: str, clock: ManualClock
) -> None:
    clock.set(at(0, 20))
    ids = [_create(metered, at(0, 20), name=f"web-{n}") for n in range(24)]
    now = at(47, 30)  # 47 hours of 24 servers due: hundreds of rounds of 3 hours
    process = subprocess.Popen([sys.executable, "-c", _METER_IN_A_PROCESS, compute_url, now.isoformat()])
    try:
        deadline = time.monotonic() + 60
        while len(_usage(metered)) < 20:  # some rounds committed, many to go
            assert process.poll() is None and time.monotonic() < deadline, "the metering process ended too soon"
            time.sleep(0.005)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    recorded_before = len(_usage(metered))
    assert 20 <= recorded_before < 24 * 47
    clock.set(now)
    again = Meter(metered.uow).run()
    assert again.duplicates == 0 and again.hours == 24 * 47 - recorded_before
    for server_id in ids:
        assert _hours(metered, server_id) == [at(h) for h in range(47)]


# -- backups -------------------------------------------------------------------------------------


def _set_backup(
    compute: Compute, server_id: int, enabled: bool, when: datetime, percent: Decimal = Decimal(20)
) -> None:
    """What enable_backup/disable_backup do when they finish (and creation with backups)."""
    with compute.uow() as uow:
        uow.servers.set_backup_period(server_id, enabled, when, percent if enabled else None)
        uow.session.execute(sa.update(t.servers).where(t.servers.c.id == server_id).values(backup_enabled=enabled))
        uow.commit()


def _backup_usage(compute: Compute, server_id: int) -> list[tuple[Any, UsageRecorded]]:
    return [(e, p) for e, p in _usage(compute) if p.resource_type == "backup" and p.resource_id == server_id]


def test_every_started_hour_with_backups_enabled_is_a_backup_hour_at_a_fifth_of_the_price(
    metered: Compute, clock: ManualClock
) -> None:
    clock.set(at(10, 20))
    server_id = _create(metered, at(10, 20))
    _set_backup(metered, server_id, True, at(10, 40))
    _set_backup(metered, server_id, False, at(12, 10))
    _set_backup(metered, server_id, True, at(14, 0))  # from 14:00 exactly: hour 13 has none
    _change_type(metered, server_id, "cx32", at(14, 30))
    clock.set(at(15, 0, 1))
    done = Meter(metered.uow).run()
    assert done.hours == 5 + 4  # server hours 10-14, backup hours 10, 11, 12 and 14
    backups = _backup_usage(metered, server_id)
    assert [p.period_start.ToDatetime(tzinfo=UTC) for _, p in backups] == [at(10), at(11), at(12), at(14)]
    cx22, cx32 = _type(metered, "cx22"), _type(metered, "cx32")
    for envelope, payload in backups:
        start = payload.period_start.ToDatetime(tzinfo=UTC)
        kind = cx32 if start == at(14) else cx22
        assert envelope.event_id == usage_event_id("backup", server_id, "compute_hours", int(start.timestamp()))
        assert (envelope.aggregate_type, envelope.aggregate_id) == ("usage", f"backup:{server_id}")
        assert (payload.resource_id, payload.resource_name, payload.product) == (server_id, "web-1", kind.code)
        assert (payload.metric_type, payload.quantity, payload.currency) == ("compute_hours", "1", "EUR")
        hourly, monthly = Decimal(payload.price_hourly), Decimal(payload.price_monthly)
        assert hourly <= kind.price_hourly / 5 < hourly + Decimal("0.000001")
        assert monthly <= kind.price_monthly / 5 < monthly + Decimal("0.01")
        assert hourly > 0 and monthly > 0
    server_ids = {e.event_id for e, p in _usage(metered) if p.resource_type == "server"}
    assert len(server_ids) == 5 and not server_ids & {e.event_id for e, _ in backups}


def test_each_backup_period_is_priced_at_the_percentage_it_was_enabled_at(metered: Compute, clock: ManualClock) -> None:
    """Billing's backup plan changed between two enablings: each period keeps its own share."""
    clock.set(at(10, 20))
    server_id = _create(metered, at(10, 20))
    _set_backup(metered, server_id, True, at(10, 30), Decimal(20))
    _set_backup(metered, server_id, False, at(11, 30))
    _set_backup(metered, server_id, True, at(13, 0), Decimal("37.5"))
    clock.set(at(14, 0, 1))
    Meter(metered.uow).run()
    cx22 = _type(metered, "cx22")
    priced = {
        p.period_start.ToDatetime(tzinfo=UTC): Decimal(p.price_monthly) for _, p in _backup_usage(metered, server_id)
    }
    cent = Decimal("0.01")
    assert priced == {
        at(10): (cx22.price_monthly * Decimal("0.2")).quantize(cent, rounding="ROUND_DOWN"),
        at(11): (cx22.price_monthly * Decimal("0.2")).quantize(cent, rounding="ROUND_DOWN"),
        at(13): (cx22.price_monthly * Decimal("0.375")).quantize(cent, rounding="ROUND_DOWN"),
    }


def test_a_server_without_backups_has_no_backup_hour(metered: Compute, clock: ManualClock) -> None:
    clock.set(at(10, 20))
    plain = _create(metered, at(10, 20), name="plain")
    switched = _create(metered, at(10, 20), name="switched")
    _set_backup(metered, switched, True, at(11, 0))
    _set_backup(metered, switched, False, at(12, 0))  # enabled exactly during hour 11
    clock.set(at(13, 1))
    Meter(metered.uow).run()
    assert _backup_usage(metered, plain) == []
    assert [p.period_start.ToDatetime(tzinfo=UTC) for _, p in _backup_usage(metered, switched)] == [at(11)]
    assert len(_hours(metered, plain)) == 3


def test_a_deleted_servers_last_hour_has_backups_if_they_were_on(metered: Compute, clock: ManualClock) -> None:
    clock.set(at(10, 20))
    with metered.uow() as uow:
        server_type, datacenter, image = uow.servers.catalog_choice("cx22", "fsn1", "ubuntu-24.04")
        server = Server(
            id=0,
            user_id=42,
            organization_id=None,
            name="saved",
            status="running",
            server_type_id=server_type.id,
            datacenter_id=datacenter.id,
            image_id=image.id,
            backup_enabled=True,
        )
        uow.servers.add(server, at(10, 20))  # created with backups: a period from its creation
        uow.servers.set_backup_period(server.id, True, at(10, 20), Decimal(20))
        _made_upstream(uow.session, server.id)
        uow.commit()
    _delete(metered, server.id, at(11, 5))
    clock.set(at(11, 6))
    Meter(metered.uow).run()
    assert [p.period_start.ToDatetime(tzinfo=UTC) for _, p in _backup_usage(metered, server.id)] == [at(10), at(11)]


def test_backup_hours_survive_a_crash_and_a_rerun_without_a_duplicate(
    metered: Compute, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock.set(at(10, 20))
    ids = [_create(metered, at(10, 20), name=f"web-{n}") for n in range(3)]
    for server_id in ids:
        _set_backup(metered, server_id, True, at(10, 30))
    clock.set(at(14, 1))
    advance = MeteringRepository.advance

    def crash_on_second_cursor(self: MeteringRepository, server_id: int, metered_until: datetime) -> None:
        if server_id == ids[1]:
            raise RuntimeError("killed between statements")
        advance(self, server_id, metered_until)

    monkeypatch.setattr(MeteringRepository, "advance", crash_on_second_cursor)
    with pytest.raises(RuntimeError):
        Meter(metered.uow).run()
    assert _usage(metered) == []
    monkeypatch.setattr(MeteringRepository, "advance", advance)
    assert Meter(metered.uow).run().hours == 3 * (4 + 4)
    with metered.engine.begin() as conn:  # every cursor set back: the rerun records the same ids
        conn.execute(sa.update(t.servers).where(t.servers.c.id.in_(ids)).values(metered_until=None))
    again = Meter(metered.uow).run()
    assert (again.hours, again.duplicates) == (0, 24)
    for server_id in ids:
        assert [p.period_start.ToDatetime(tzinfo=UTC) for _, p in _backup_usage(metered, server_id)] == [
            at(h) for h in range(10, 14)
        ]
    event_ids = [e.event_id for e, _ in _usage(metered)]
    assert len(event_ids) == len(set(event_ids)) == 24
