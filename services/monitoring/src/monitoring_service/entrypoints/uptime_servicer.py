"""The UptimeMonitorService gRPC API: protobuf in, a use case on a worker thread, protobuf out."""

from __future__ import annotations

import asyncio
from datetime import UTC
from typing import Any

from grpc import aio

from cloudplatform.monitoring.v1 import alert_rule_service_pb2 as rules_pb
from cloudplatform.monitoring.v1 import uptime_monitor_service_pb2 as pb
from cloudplatform.monitoring.v1 import uptime_monitor_service_pb2_grpc as pb_grpc
from cpshared.errors import InvalidInput
from cpshared.timestamps import to_timestamp
from monitoring_service.adapters import authorization as authz
from monitoring_service.bootstrap import Monitoring
from monitoring_service.domain.uptime_monitors import CheckResult, UptimeMonitor
from monitoring_service.service_layer import uptime

Context = aio.ServicerContext[Any, Any]
DEFAULT_RESULTS = 100


def uptime_monitor_message(m: UptimeMonitor) -> pb.UptimeMonitor:
    return pb.UptimeMonitor(
        id=m.id,
        user_id=m.user_id,
        organization_id=m.organization_id or 0,
        name=m.name,
        type=m.type,
        target=m.target,
        port=m.port or 0,
        interval_seconds=m.interval_seconds,
        timeout_seconds=m.timeout_seconds,
        regions=list(m.regions),
        enabled=m.enabled,
        channels=[rules_pb.NotificationChannel(type=c.type, target=c.target) for c in m.channels],
        status=m.status,
        consecutive_failures=m.consecutive_failures,
        down_since=to_timestamp(m.down_since),
        last_checked_at=to_timestamp(m.last_checked_at),
        next_check_at=to_timestamp(m.next_check_at),
        certificate_expires_at=to_timestamp(m.certificate_expires_at),
        created_at=to_timestamp(m.created_at),
        updated_at=to_timestamp(m.updated_at),
    )


def result_message(r: CheckResult) -> pb.UptimeResult:
    return pb.UptimeResult(
        region=r.region,
        checked_at=to_timestamp(r.checked_at),
        success=r.success,
        latency_ms=r.latency_ms,
        status_code=r.status_code,
        error=r.error,
        certificate_expires_at=to_timestamp(r.certificate_expires_at),
    )


def _channels(channels: Any) -> list[tuple[str, str]]:
    return [(c.type, c.target) for c in channels]


class UptimeMonitorServicer(pb_grpc.UptimeMonitorServiceServicer):
    def __init__(self, monitoring: Monitoring, regions: tuple[str, ...]) -> None:
        self._monitoring = monitoring
        self._regions = regions

    def _reach(self, request: Any) -> Any:
        return authz.reach(request.organization_id, f"uptime monitor {request.uptime_monitor_id}")

    async def CreateUptimeMonitor(  # noqa: N802
        self, request: pb.CreateUptimeMonitorRequest, context: Context
    ) -> pb.CreateUptimeMonitorResponse:
        authz.check_tenant(request.user_id, request.organization_id)
        if request.user_id <= 0:
            raise InvalidInput("user_id must name the user creating the uptime monitor")
        new = uptime.NewUptimeMonitor(
            user_id=request.user_id,
            organization_id=request.organization_id or None,
            name=request.name,
            type=request.type,
            target=request.target,
            port=request.port or None,
            interval_seconds=request.interval_seconds if request.HasField("interval_seconds") else None,
            timeout_seconds=request.timeout_seconds if request.HasField("timeout_seconds") else None,
            regions=list(request.regions),
            enabled=request.enabled if request.HasField("enabled") else None,
            channels=_channels(request.channels),
        )
        monitor = await asyncio.to_thread(uptime.create, new, self._regions, self._monitoring.uow())
        return pb.CreateUptimeMonitorResponse(uptime_monitor=uptime_monitor_message(monitor))

    async def ListUptimeMonitors(  # noqa: N802
        self, request: pb.ListUptimeMonitorsRequest, context: Context
    ) -> pb.ListUptimeMonitorsResponse:
        authz.check_tenant(request.user_id, request.organization_id)
        monitors = await asyncio.to_thread(
            uptime.list_monitors, request.user_id, request.organization_id or None, self._monitoring.uow()
        )
        return pb.ListUptimeMonitorsResponse(uptime_monitors=[uptime_monitor_message(m) for m in monitors])

    async def GetUptimeMonitor(  # noqa: N802
        self, request: pb.GetUptimeMonitorRequest, context: Context
    ) -> pb.GetUptimeMonitorResponse:
        monitor = await asyncio.to_thread(
            uptime.get, request.uptime_monitor_id, self._reach(request), self._monitoring.uow()
        )
        return pb.GetUptimeMonitorResponse(uptime_monitor=uptime_monitor_message(monitor))

    async def UpdateUptimeMonitor(  # noqa: N802
        self, request: pb.UpdateUptimeMonitorRequest, context: Context
    ) -> pb.UpdateUptimeMonitorResponse:
        what = uptime.UptimeMonitorChange(
            name=request.name if request.HasField("name") else None,
            target=request.target if request.HasField("target") else None,
            port=request.port if request.HasField("port") else None,
            interval_seconds=request.interval_seconds if request.HasField("interval_seconds") else None,
            timeout_seconds=request.timeout_seconds if request.HasField("timeout_seconds") else None,
            regions=list(request.regions.regions) if request.HasField("regions") else None,
            enabled=request.enabled if request.HasField("enabled") else None,
            channels=_channels(request.channels.channels) if request.HasField("channels") else None,
        )
        monitor = await asyncio.to_thread(
            uptime.change, request.uptime_monitor_id, what, self._regions, self._reach(request), self._monitoring.uow()
        )
        return pb.UpdateUptimeMonitorResponse(uptime_monitor=uptime_monitor_message(monitor))

    async def DeleteUptimeMonitor(  # noqa: N802
        self, request: pb.DeleteUptimeMonitorRequest, context: Context
    ) -> pb.DeleteUptimeMonitorResponse:
        await asyncio.to_thread(uptime.delete, request.uptime_monitor_id, self._reach(request), self._monitoring.uow())
        return pb.DeleteUptimeMonitorResponse()

    async def ListUptimeResults(  # noqa: N802
        self, request: pb.ListUptimeResultsRequest, context: Context
    ) -> pb.ListUptimeResultsResponse:
        since = request.since.ToDatetime(UTC) if request.HasField("since") else None
        results = await asyncio.to_thread(
            uptime.results,
            request.uptime_monitor_id,
            since,
            request.limit or DEFAULT_RESULTS,
            self._reach(request),
            self._monitoring.uow(),
        )
        return pb.ListUptimeResultsResponse(results=[result_message(r) for r in results])

    async def GetUptime(self, request: pb.GetUptimeRequest, context: Context) -> pb.GetUptimeResponse:  # noqa: N802
        answer = await asyncio.to_thread(
            uptime.uptime, request.uptime_monitor_id, self._reach(request), self._monitoring.uow()
        )
        return pb.GetUptimeResponse(
            windows=[
                pb.UptimeWindow(window=name, percent=percent, checks=answer.checks[name])
                for name, percent in answer.percent.items()
            ]
        )


def add_uptime_servicer(server: aio.Server, monitoring: Monitoring, regions: tuple[str, ...]) -> list[str]:
    pb_grpc.add_UptimeMonitorServiceServicer_to_server(UptimeMonitorServicer(monitoring, regions), server)
    return [pb.DESCRIPTOR.services_by_name["UptimeMonitorService"].full_name]
