"""The collector on in-memory fakes of its ports: which servers it asks upstream for, what it
does with upstream's answers and failures, and the deterministic ids of its samples."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Self

from cloudplatform.monitoring.v1 import events_pb2 as pb
from cpshared.events.envelope import PendingEvent
from monitoring_service.domain.metrics import MetricsQuery
from monitoring_service.domain.retention import DayPartition
from monitoring_service.domain.servers import MonitoredServer
from monitoring_service.domain.traffic import HourTraffic
from monitoring_service.service_layer import ports
from monitoring_service.service_layer.collection import Collector, look_back, sample_event_id, sample_of
from monitoring_service.service_layer.unit_of_work import MonitoringUnitOfWork

NOW = datetime(2026, 3, 10, 12, 0, 42, tzinfo=UTC)


class FakeServers(ports.MonitoredServerRepository):
    def __init__(self, servers: list[MonitoredServer]) -> None:
        self.servers = servers

    def get(self, server_id: int) -> MonitoredServer | None:
        return next((s for s in self.servers if s.server_id == server_id), None)

    def collectable(self) -> list[MonitoredServer]:
        return [s for s in self.servers if s.collectable]

    def of_ids(self, server_ids: Sequence[int]) -> dict[int, MonitoredServer]:
        return {s.server_id: s for s in self.servers if s.server_id in server_ids}


class NoMetrics(ports.MetricsStore):
    def aggregate(self, query: MetricsQuery) -> list[ports.Bucket]:
        raise AssertionError("not used")

    def day_partitions(self) -> list[DayPartition]:
        raise AssertionError("not used")

    def outgoing_by_hour(self, since: datetime, until: datetime) -> list[HourTraffic]:
        raise AssertionError("not used")

    def averages(self, since: datetime, until: datetime) -> dict[int, ports.Usage]:
        raise AssertionError("not used")

    def add_partitions(self, days: Sequence[DayPartition]) -> None:
        raise AssertionError("not used")

    def drop_partition(self, day: DayPartition) -> int:
        raise AssertionError("not used")


class FakeUow(MonitoringUnitOfWork):
    def __init__(self, servers: list[MonitoredServer], outbox: dict[str, PendingEvent]) -> None:
        self.servers = FakeServers(servers)
        self.metrics = NoMetrics()
        self.outbox = outbox
        self.pending: dict[str, PendingEvent] = {}

    def __enter__(self) -> Self:
        self.pending = {}
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.pending = {}

    def record(self, event: PendingEvent) -> None:
        raise AssertionError("samples are recorded once")

    def record_once(self, events: Sequence[PendingEvent]) -> list[PendingEvent]:
        fresh = [
            e for e in events if e.envelope.event_id not in self.outbox and e.envelope.event_id not in self.pending
        ]
        self.pending.update({e.envelope.event_id: e for e in fresh})
        return fresh

    def commit(self) -> None:
        self.outbox.update(self.pending)

    def rollback(self) -> None:
        self.pending = {}


class FakeUpstream(ports.UpstreamMetrics):
    def __init__(self) -> None:
        self.asked: list[tuple[int, datetime, datetime, int]] = []
        self.gone: set[int] = set()
        self.down: set[int] = set()
        self.labels: dict[int, int] = {}
        self.listed = 0

    def labelled_servers(self) -> dict[int, int]:
        self.listed += 1
        return dict(self.labels)

    def server_metrics(
        self, upstream_id: int, types: Sequence[str], start: datetime, end: datetime, step: int
    ) -> dict[str, list[ports.UpstreamPoint]]:
        self.asked.append((upstream_id, start, end, step))
        if upstream_id in self.gone:
            raise ports.UpstreamGone("gone")
        if upstream_id in self.down:
            raise ports.UpstreamUnavailable("down")
        instants = [start + timedelta(seconds=step * n) for n in range(int((end - start).total_seconds()) // step + 1)]
        return {
            "cpu": [ports.UpstreamPoint(at, f"{upstream_id}.5") for at in instants],
            "network.0.bandwidth.out": [ports.UpstreamPoint(at, "1000") for at in instants],
            "disk.0.unknown": [ports.UpstreamPoint(at, "1") for at in instants],
        }


def _server(server_id: int, upstream_id: int | None, status: str = "running", deleted: bool = False) -> MonitoredServer:
    return MonitoredServer(server_id, 10, None, upstream_id, status, deleted)


def test_a_pass_reads_every_running_server_and_records_each_instant_once() -> None:
    servers = [_server(1, 101), _server(2, 102, "off"), _server(3, None, "initializing"), _server(4, 104, deleted=True)]
    outbox: dict[str, PendingEvent] = {}
    upstream = FakeUpstream()
    collector = Collector(lambda: FakeUow(servers, outbox), upstream)
    report = collector.collect(NOW)
    minute = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    assert upstream.asked == [(101, minute - timedelta(minutes=2), minute, 60)]
    assert (report.servers, report.samples, report.repeated, report.failed) == (1, 3, 0, 0)
    assert set(outbox) == {sample_event_id(1, minute - timedelta(minutes=n)) for n in range(3)}
    event = outbox[sample_event_id(1, minute)]
    assert event.topic.name == "monitoring.metrics" and event.envelope.aggregate_id == "1"
    payload = pb.MetricSampled()
    event.envelope.payload.Unpack(payload)
    sample = sample_of(payload)
    assert sample.values == {"cpu": "101.5", "network.0.bandwidth.out": "1000"}
    assert sample.recorded_at == minute.replace(tzinfo=None)

    again = collector.collect(NOW + timedelta(minutes=1))
    assert (again.samples, again.repeated) == (1, 2) and len(outbox) == 4


def test_a_server_gone_upstream_is_skipped_and_an_unanswered_one_counted() -> None:
    servers = [_server(1, 101), _server(2, 102), _server(3, 103)]
    outbox: dict[str, PendingEvent] = {}
    upstream = FakeUpstream()
    upstream.gone, upstream.down = {101}, {102}
    report = Collector(lambda: FakeUow(servers, outbox), upstream).collect(NOW)
    assert (report.servers, report.samples, report.failed) == (3, 3, 1)
    assert {e.envelope.aggregate_id for e in outbox.values()} == {"3"}


def test_a_running_server_whose_events_did_not_carry_its_upstream_id_is_found_by_label() -> None:
    servers = [_server(1, 101), _server(2, None), _server(3, None)]
    outbox: dict[str, PendingEvent] = {}
    upstream = FakeUpstream()
    upstream.labels = {2: 202}
    report = Collector(lambda: FakeUow(servers, outbox), upstream).collect(NOW)
    assert upstream.listed == 1 and [asked[0] for asked in upstream.asked] == [101, 202]
    assert (report.servers, report.samples, report.failed) == (2, 6, 1)


def test_upstream_is_not_listed_when_every_upstream_id_is_known() -> None:
    upstream = FakeUpstream()
    Collector(lambda: FakeUow([_server(1, 101)], {}), upstream).collect(NOW)
    assert upstream.listed == 0


def test_a_pass_asks_far_enough_back_to_overlap_the_previous_one() -> None:
    assert look_back(60) == timedelta(minutes=2) and look_back(30) == timedelta(minutes=2)
    assert look_back(300) == timedelta(minutes=6)
    upstream = FakeUpstream()
    Collector(lambda: FakeUow([_server(1, 101)], {}), upstream, look_back=look_back(300)).collect(NOW)
    minute = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    assert upstream.asked == [(101, minute - timedelta(minutes=6), minute, 60)]
