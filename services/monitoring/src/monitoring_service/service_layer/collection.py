"""The collector's use case: every minute, what upstream measured of each running server, as
``metric.sampled`` records on monitoring.metrics.

Each pass asks upstream for the last two minutes (or the interval between passes and a minute,
if longer) at a one-minute step, so a minute a pass missed (a restart, a slow upstream) is still
collected by the next one; a sample's event id is a
function of its server and instant, so the minute collected twice is written to the outbox once
and counted once by every consumer's inbox."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from cloudplatform.monitoring.v1 import events_pb2 as pb
from cpshared.events import catalog
from cpshared.events.envelope import PendingEvent, deterministic_event_id, new_event
from cpshared.logging import get_logger
from cpshared.timestamps import to_timestamp
from monitoring_service import SERVICE_NAME
from monitoring_service.domain.metrics import COLUMNS, METRIC_TYPES, Sample
from monitoring_service.domain.servers import MonitoredServer
from monitoring_service.service_layer.ports import UpstreamGone, UpstreamMetrics, UpstreamUnavailable
from monitoring_service.service_layer.unit_of_work import UnitOfWorkFactory

log = get_logger(__name__)

STEP_SECONDS = 60
LOOK_BACK = timedelta(seconds=2 * STEP_SECONDS)
CHUNK = 200
"""Servers whose samples go to the outbox in one transaction."""


def sample_event_id(server_id: int, recorded_at: datetime) -> str:
    return deterministic_event_id("metric.sampled", server_id, int(recorded_at.timestamp()))


def sample_event(sample: Sample) -> PendingEvent:
    payload = pb.MetricSampled(
        server_id=sample.server_id,
        recorded_at=to_timestamp(sample.recorded_at),
        source="upstream",
        **{_field(column.series): sample.values.get(column.series, "") for column in COLUMNS},
    )
    return new_event(
        catalog.METRIC_SAMPLED,
        producer=SERVICE_NAME,
        aggregate_id=sample.server_id,
        aggregate_version=int(sample.recorded_at.timestamp()),
        payload=payload,
        event_id=sample_event_id(sample.server_id, sample.recorded_at),
    )


PAYLOAD_FIELDS = {
    "cpu": "cpu_usage",
    "disk.0.iops.read": "disk_read_iops",
    "disk.0.iops.write": "disk_write_iops",
    "disk.0.bandwidth.read": "disk_read_bytes_per_second",
    "disk.0.bandwidth.write": "disk_write_bytes_per_second",
    "network.0.bandwidth.in": "network_in_bytes_per_second",
    "network.0.bandwidth.out": "network_out_bytes_per_second",
    "network.0.pps.in": "network_packets_in",
    "network.0.pps.out": "network_packets_out",
}
"""Upstream's series name → the field of MetricSampled that carries it."""


def _field(series: str) -> str:
    return PAYLOAD_FIELDS[series]


def sample_of(payload: pb.MetricSampled) -> Sample:
    """The sample a ``metric.sampled`` payload carries."""
    values = {series: getattr(payload, name) for series, name in PAYLOAD_FIELDS.items() if getattr(payload, name)}
    return Sample(payload.server_id, payload.recorded_at.ToDatetime(), values)


@dataclass
class CollectionReport:
    servers: int = 0
    samples: int = 0
    """Samples new to the outbox."""
    repeated: int = 0
    """Samples a previous pass had written already."""
    failed: int = 0
    """Servers upstream did not answer for."""


def look_back(interval_seconds: float) -> timedelta:
    """How far back a pass asks: two steps, or the interval between passes and a step, whichever
    is longer, so that consecutive passes overlap and a pass missed or late loses no sample."""
    return max(LOOK_BACK, timedelta(seconds=math.ceil(interval_seconds) + STEP_SECONDS))


class Collector:
    def __init__(self, uow: UnitOfWorkFactory, upstream: UpstreamMetrics, *, look_back: timedelta = LOOK_BACK) -> None:
        self._uow = uow
        self._upstream = upstream
        self._look_back = look_back

    def collect(self, now: datetime) -> CollectionReport:
        """One pass at ``now``: the samples of every running server up to the minute ``now`` is in."""
        end = now.replace(second=0, microsecond=0)
        start = end - self._look_back
        report = CollectionReport()
        with self._uow() as uow:
            servers = uow.servers.collectable()
        servers = self._with_upstream_ids(servers, report)
        for first in range(0, len(servers), CHUNK):
            events: list[PendingEvent] = []
            for server in servers[first : first + CHUNK]:
                report.servers += 1
                events += [sample_event(s) for s in self._samples(server, start, end, report)]
            self._write(events, report)
        return report

    def _with_upstream_ids(self, servers: list[MonitoredServer], report: CollectionReport) -> list[MonitoredServer]:
        """``servers`` with their upstream ids; those whose events did not say are found by label."""
        if all(server.upstream_id is not None for server in servers):
            return servers
        try:
            labelled = self._upstream.labelled_servers()
        except UpstreamUnavailable as exc:
            log.warning("collect_upstream_unavailable", error=str(exc)[:300])
            labelled = {}
        found = []
        for server in servers:
            if server.upstream_id is None:
                upstream_id = labelled.get(server.server_id)
                if upstream_id is None:
                    report.failed += 1
                    continue
                server = replace(server, upstream_id=upstream_id)
            found.append(server)
        return found

    def _samples(
        self, server: MonitoredServer, start: datetime, end: datetime, report: CollectionReport
    ) -> list[Sample]:
        assert server.upstream_id is not None
        try:
            series = self._upstream.server_metrics(server.upstream_id, METRIC_TYPES, start, end, STEP_SECONDS)
        except UpstreamGone:
            log.info("collect_server_gone_upstream", server_id=server.server_id, upstream_id=server.upstream_id)
            return []
        except UpstreamUnavailable as exc:
            report.failed += 1
            log.warning("collect_upstream_unavailable", server_id=server.server_id, error=str(exc)[:300])
            return []
        by_instant: dict[datetime, dict[str, str]] = {}
        for name, points in series.items():
            if name not in PAYLOAD_FIELDS:
                continue
            for point in points:
                if start <= point.at <= end:
                    by_instant.setdefault(point.at, {})[name] = point.value
        return [Sample(server.server_id, at, values) for at, values in sorted(by_instant.items())]

    def _write(self, events: Sequence[PendingEvent], report: CollectionReport) -> None:
        if not events:
            return
        with self._uow() as uow:
            written = uow.record_once(events)
            uow.commit()
        report.samples += len(written)
        report.repeated += len(events) - len(written)
