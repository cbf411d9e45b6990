"""The traffic meter's use case (``domain/traffic.py`` says the rules): every pass, the closed
hours' outgoing traffic of every server as ``usage.recorded`` (GB, for billing's traffic line)
and each active server's summary as ``metric.summarized`` (compute keeps its servers' usage
columns from it: a write per server and pass, not per sample), with what was recorded stored in
``traffic_hours`` in the same transaction as the events."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from cloudplatform.monitoring.v1 import events_pb2 as pb
from cpshared.events import catalog
from cpshared.events.envelope import PendingEvent, deterministic_event_id, new_event
from cpshared.metering import usage_recorded
from cpshared.timestamps import to_timestamp
from monitoring_service import SERVICE_NAME
from monitoring_service.domain.servers import MonitoredServer
from monitoring_service.domain.traffic import (
    METRIC,
    PRODUCT,
    RESOURCE,
    MeteredHour,
    MeterWindow,
    TrafficDue,
    due,
    gigabytes,
)
from monitoring_service.service_layer.ports import Usage
from monitoring_service.service_layer.unit_of_work import UnitOfWorkFactory

PERCENT_PLACES = Decimal("0.01")


@dataclass
class MeterReport:
    recorded: int = 0
    """usage.recorded events new to the outbox (an hour closed, or raised by late samples)."""
    late: int = 0
    """Of those, the revisions of hours recorded before (late samples)."""
    gigabytes: Decimal = Decimal(0)
    """The GB they add."""
    summaries: int = 0
    unknown_servers: int = 0
    """Hours with traffic of servers monitoring does not know (not billed)."""


def traffic_event(owed: TrafficDue, owner: MonitoredServer) -> PendingEvent:
    return usage_recorded(
        producer=SERVICE_NAME,
        resource_type=RESOURCE,
        resource_id=owed.server_id,
        resource_name="",
        user_id=owner.user_id,
        organization_id=owner.organization_id,
        metric=METRIC,
        hour=owed.hour,
        product=PRODUCT,
        location="",
        price_hourly=Decimal(0),  # billing prices traffic by its traffic plan, per month
        price_monthly=None,
        currency="",
        quantity=owed.quantity_gb,
        revision=owed.revision,
    )


def _percent(value: Decimal | None) -> str:
    return "" if value is None else str(value.quantize(PERCENT_PLACES, rounding=ROUND_HALF_UP))


def summary_event(server_id: int, at: datetime, since: datetime, usage: Usage, month_gb: Decimal) -> PendingEvent:
    stamp = int(at.timestamp())
    return new_event(
        catalog.METRICS_SUMMARIZED,
        producer=SERVICE_NAME,
        aggregate_id=server_id,
        aggregate_version=stamp,
        event_id=deterministic_event_id("metric.summarized", server_id, stamp),
        payload=pb.MetricsSummarized(
            server_id=server_id,
            summarized_at=to_timestamp(at),
            window_start=to_timestamp(since),
            cpu_usage=_percent(usage.cpu),
            memory_usage=_percent(usage.memory),
            disk_usage="",
            outgoing_traffic_gb=str(month_gb),
        ),
    )


class TrafficMeter:
    def __init__(
        self, uow: UnitOfWorkFactory, *, close_after: timedelta, late_hours: int, summary_window: timedelta
    ) -> None:
        self._uow = uow
        self._close_after = close_after
        self._late_hours = late_hours
        self._summary_window = summary_window

    def meter(self, now: datetime) -> MeterReport:
        """One pass at ``now`` (UTC): the closed hours' traffic owed, then the summaries."""
        window = MeterWindow(now, self._close_after, self._late_hours)
        month = window.month_start()
        report = MeterReport()
        with self._uow() as uow:
            measured = uow.metrics.outgoing_by_hour(window.first, now)
            metered = uow.traffic.metered(window.first)
            owners = uow.servers.of_ids([m.server_id for m in measured])
            open_bytes: dict[int, int] = defaultdict(int)
            owed: list[tuple[TrafficDue, MonitoredServer]] = []
            for traffic in sorted(measured, key=lambda m: (m.server_id, m.hour)):
                if traffic.hour >= window.closed_before:
                    if traffic.hour >= month:
                        open_bytes[traffic.server_id] += traffic.bytes_out
                    continue
                found = due(traffic, metered.get((traffic.server_id, traffic.hour)))
                if found is None:
                    continue
                owner = owners.get(traffic.server_id)
                if owner is None:
                    report.unknown_servers += 1
                    continue
                owed.append((found, owner))
            events = [traffic_event(d, o) for d, o in owed]
            written = {e.envelope.event_id for e in uow.record_once(events)}
            uow.traffic.save(
                [(MeteredHour(d.server_id, d.hour, d.bytes_out, d.total_gb, d.revision), o) for d, o in owed], now
            )
            for (d, _), event in zip(owed, events, strict=True):
                if event.envelope.event_id in written:
                    report.recorded += 1
                    report.late += d.revision > 0
                    report.gigabytes += d.quantity_gb
            at = now.replace(second=0, microsecond=0)
            since = at - self._summary_window
            usage = uow.metrics.averages(since, at)
            recorded = uow.traffic.recorded_since(month, list(usage))
            summaries = [
                summary_event(
                    server_id,
                    at,
                    since,
                    use,
                    recorded.get(server_id, Decimal(0)) + gigabytes(open_bytes.get(server_id, 0)),
                )
                for server_id, use in sorted(usage.items())
            ]
            report.summaries = len(uow.record_once(summaries))
            uow.traffic.forget_before(min(window.first, month))
            uow.commit()
        return report
