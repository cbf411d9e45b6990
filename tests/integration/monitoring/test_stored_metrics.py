"""A server's metrics end to end on a controlled clock: compute's events tell monitoring the
server runs (its projection, with the real runner and inbox); the collector reads the
simulator's metrics through hcloud and writes samples to monitoring's outbox; the projection
stores them in bulk; the gateway answers ``GET /v1/servers/{id}/metrics`` from them, averaged in
SQL, equal to the simulator's own formula. A sample collected twice and delivered twice is
stored once; bad periods are 4xx; another tenant's server is 404."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, cast

import pytest
import sqlalchemy as sa
from hcloud import APIException, Client
from hcloud.images import Image
from hcloud.server_types import ServerType
from hcloud.servers import Server

from cloudctl.infra.mariadb import MariaDB
from cloudctl.paths import LocalPaths
from compute_service.adapters import tables as compute_tables
from compute_service.adapters.upstream_servers import HcloudServers, RetryPolicy
from compute_service.service_layer.provisioning import Provisioner
from cpshared.migrations import migrations_dir, upgrade
from identity_service.domain import commands
from identity_service.domain.model import UserStatus
from identity_service.service_layer import api_keys, users
from monitoring_service.adapters.upstream import HcloudMetrics
from monitoring_service.service_layer.collection import Collector
from tests.integration.live import SIMULATOR_TOKEN, LivePlatform, live_platform
from tests.integration.monitoring.support import outbox_records, project

# The instant the collector runs at: the test never reads the machine's calendar.
T0 = datetime(2026, 3, 10, 12, 0, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def platform(paths: LocalPaths) -> Iterator[LivePlatform]:
    mariadb = MariaDB(paths.root)
    with (
        mariadb.scratch_database("cp_test_mo_id") as identity_url,
        mariadb.scratch_database("cp_test_mo_gw") as gateway_url,
        mariadb.scratch_database("cp_test_mo_cp") as compute_url,
    ):
        upgrade("identity", migrations_dir("identity"), identity_url)
        upgrade("gateway", migrations_dir("gateway"), gateway_url)
        upgrade("compute", migrations_dir("compute"), compute_url)
        with live_platform(identity_url, gateway_url, compute_url=compute_url) as live:
            yield live


def _client(platform: LivePlatform, email: str) -> Client:
    user = users.create_user(
        commands.CreateUser(
            name="Metrics User", email=email, password="a long enough password", status=UserStatus.ACTIVE
        ),
        platform.identity.uow(),
    )
    _, secret = api_keys.create_api_key(
        commands.CreateApiKey(user_id=user.id, name="hcloud", scopes=("*:read", "*:write"), rate_limit=100_000),
        platform.identity.uow(),
    )
    return Client(token=secret, api_endpoint=f"{platform.gateway}/v1", poll_interval=0.05)


def _provision(platform: LivePlatform) -> None:
    assert platform.compute is not None and platform.simulator is not None
    upstream = HcloudServers(platform.simulator, SIMULATOR_TOKEN, retry=RetryPolicy(attempts=3, initial_seconds=0.05))
    provisioner = Provisioner(platform.compute.uow, upstream, platform.compute.quotas)
    for _ in range(50):
        if provisioner.run_once([]) is None:
            return
    raise AssertionError("the provisioner kept finding work")


def _upstream_id(platform: LivePlatform, server_id: int) -> int:
    assert platform.compute is not None
    with platform.compute.engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(compute_tables.servers.c.hetzner_id).where(compute_tables.servers.c.id == server_id)
            ).scalar_one()
        )


def _stored(platform: LivePlatform, server_id: int) -> list[tuple[datetime, Decimal]]:
    assert platform.monitoring is not None
    with platform.monitoring.engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT recorded_at, cpu_usage FROM server_metrics WHERE server_id = :s ORDER BY recorded_at"),
            {"s": server_id},
        ).all()
    return [(row[0], row[1]) for row in rows]


def _simulated(scale: float, moment: datetime, upstream_id: int) -> Decimal:
    """The simulator's value of a running server (tools/hetzner-sim state.metrics), as it writes it."""
    level = scale * (0.3 + 0.2 * math.sin(moment.timestamp() / 300.0 + upstream_id % 17))
    return Decimal(f"{level:.4f}")


def _points(values: Iterable[Sequence[object]]) -> list[tuple[object, ...]]:
    """A series' values as tuples (the JSON answer has lists)."""
    return [tuple(value) for value in values]


def _two(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def test_samples_are_collected_stored_once_and_served_through_the_gateway(platform: LivePlatform) -> None:
    assert platform.monitoring is not None and platform.compute is not None and platform.simulator is not None
    client = _client(platform, "metrics@example.com")
    created = client.servers.create("metrics-1", server_type=ServerType(name="cx22"), image=Image(name="ubuntu-24.04"))
    server_id = int(created.server.id or 0)
    _provision(platform)
    upstream_id = _upstream_id(platform, server_id)

    # Monitoring learns from compute's events that the server runs, and where upstream.
    applied = project(platform.monitoring.engine, outbox_records(platform.compute.engine))
    assert applied.applied >= 2 and applied.dead_lettered == 0

    collector = Collector(platform.monitoring.uow, HcloudMetrics(platform.simulator, SIMULATOR_TOKEN))
    first = collector.collect(T0)
    assert (first.servers, first.samples, first.repeated, first.failed) == (1, 3, 0, 0)
    # A minute later the pass asks for two minutes again: two samples it wrote already, one new.
    second = collector.collect(T0 + timedelta(minutes=1))
    assert (second.samples, second.repeated) == (1, 2)

    samples = outbox_records(platform.monitoring.engine)
    assert [r.topic for r in samples] == ["monitoring.metrics"] * 4
    stored = project(platform.monitoring.engine, samples)
    assert (stored.applied, stored.duplicates) == (4, 0)
    # Kafka delivers the same records again (a rebalance, a crash before the offset commit).
    again = project(platform.monitoring.engine, samples)
    assert (again.applied, again.duplicates) == (0, 4)

    minute = T0.replace(second=0)
    instants = [minute + timedelta(minutes=n) for n in (-2, -1, 0, 1)]
    assert _stored(platform, server_id) == [
        (at.replace(tzinfo=None), _two(_simulated(100.0, at, upstream_id))) for at in instants
    ]

    server = client.servers.get_by_id(server_id)
    answer = server.get_metrics(type=["cpu", "disk", "network"], start=instants[0], end=instants[-1], step=60).metrics
    assert answer.step == 60
    assert _points(answer.time_series["cpu"]["values"]) == [
        (at.timestamp(), f"{_two(_simulated(100.0, at, upstream_id)):.4f}") for at in instants
    ]
    # Bytes per second are stored as MB/s (two places) and served in bytes per second again.
    assert _points(answer.time_series["disk.0.bandwidth.read"]["values"]) == [
        (at.timestamp(), f"{_two(_simulated(4e6, at, upstream_id) / 1_000_000) * 1_000_000:.4f}") for at in instants
    ]
    assert len(answer.time_series["network.0.pps.out"]["values"]) == 4

    # A step of two minutes averages two samples per value, in SQL.
    wide = server.get_metrics(type=["cpu"], start=instants[0], end=instants[-1], step=120).metrics
    pairs = [instants[0:2], instants[2:4]]
    averages = [sum((_two(_simulated(100.0, at, upstream_id)) for at in pair), Decimal(0)) / 2 for pair in pairs]
    assert _points(wide.time_series["cpu"]["values"]) == [
        (pair[0].timestamp(), f"{average.quantize(Decimal('0.0001')):.4f}")
        for pair, average in zip(pairs, averages, strict=True)
    ]


def test_bad_periods_are_invalid_input_and_another_tenants_server_is_not_found(platform: LivePlatform) -> None:
    owner = _client(platform, "owner@example.com")
    created = owner.servers.create("mine-1", server_type=ServerType(name="cx22"), image=Image(name="ubuntu-24.04"))
    _provision(platform)
    assert platform.monitoring is not None and platform.compute is not None
    project(platform.monitoring.engine, outbox_records(platform.compute.engine))
    server = owner.servers.get_by_id(int(created.server.id or 0))
    start = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)

    for begin, end, step in (
        (start - timedelta(days=3650), start, 60 * 60 * 24),  # ten years
        (start, start - timedelta(minutes=5), 60),  # end before start
        (start - timedelta(days=1), start, 1),  # 86,400 values
    ):
        with pytest.raises(APIException) as refused:
            server.get_metrics(type=["cpu"], start=begin, end=end, step=step)
        assert refused.value.code == "invalid_input"
    with pytest.raises(APIException) as unknown:
        server.get_metrics(type=cast(Any, ["memory"]), start=start - timedelta(hours=1), end=start)
    assert unknown.value.code == "invalid_input"

    stranger = _client(platform, "stranger@example.com")
    with pytest.raises(APIException) as hidden:
        stranger.servers.get_metrics(
            Server(id=int(server.id or 0)), type=["cpu"], start=start - timedelta(hours=1), end=start
        )
    assert hidden.value.code == "not_found"
    # The owner reaches it: a period without samples answers empty series.
    empty = server.get_metrics(type=["cpu"], start=start - timedelta(hours=1), end=start).metrics
    assert empty.time_series == {"cpu": {"values": []}}


def test_a_server_known_without_its_upstream_id_is_found_upstream_by_its_label(platform: LivePlatform) -> None:
    """Events recorded before server.status_changed carried upstream_id: the collector finds the
    server upstream by the cp_server_id label compute gave it."""
    assert platform.monitoring is not None and platform.compute is not None and platform.simulator is not None
    client = _client(platform, "labelled@example.com")
    server_id = int(
        client.servers.create(
            "labelled-1", server_type=ServerType(name="cx22"), image=Image(name="ubuntu-24.04")
        ).server.id
        or 0
    )
    _provision(platform)
    project(platform.monitoring.engine, outbox_records(platform.compute.engine))
    with platform.monitoring.engine.begin() as conn:
        conn.execute(sa.text("UPDATE monitored_servers SET upstream_id = NULL WHERE server_id = :s"), {"s": server_id})
    collector = Collector(platform.monitoring.uow, HcloudMetrics(platform.simulator, SIMULATOR_TOKEN))
    at = T0 + timedelta(days=1)
    report = collector.collect(at)
    assert report.failed == 0
    project(platform.monitoring.engine, outbox_records(platform.monitoring.engine))
    upstream_id = _upstream_id(platform, server_id)
    minute = at.replace(second=0)
    assert _stored(platform, server_id) == [
        (moment.replace(tzinfo=None), _two(_simulated(100.0, moment, upstream_id)))
        for moment in (minute - timedelta(minutes=2), minute - timedelta(minutes=1), minute)
    ]
