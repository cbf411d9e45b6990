"""The MonitoringService gRPC API: protobuf in, a use case on a worker thread, protobuf out."""

from __future__ import annotations

import asyncio
from datetime import UTC
from typing import Any

from grpc import aio

from cloudplatform.monitoring.v1 import monitoring_service_pb2 as pb
from cloudplatform.monitoring.v1 import monitoring_service_pb2_grpc as pb_grpc
from cpshared.errors import Conflict, InvalidInput
from cpshared.timestamps import to_timestamp
from monitoring_service.adapters import authorization as authz
from monitoring_service.bootstrap import Monitoring
from monitoring_service.config import RetentionSettings
from monitoring_service.entrypoints.retention_keeper import retention_pass
from monitoring_service.service_layer import metrics

Context = aio.ServicerContext[Any, Any]


class MonitoringServicer(pb_grpc.MonitoringServiceServicer):
    def __init__(self, monitoring: Monitoring, retention: RetentionSettings) -> None:
        self._monitoring = monitoring
        self._retention = retention

    async def GetServerMetrics(  # noqa: N802
        self, request: pb.GetServerMetricsRequest, context: Context
    ) -> pb.GetServerMetricsResponse:
        if not request.HasField("start") or not request.HasField("end"):
            raise InvalidInput("start and end are required", details={"fields": [{"name": "start"}, {"name": "end"}]})
        answer = await asyncio.to_thread(
            metrics.server_metrics,
            request.server_id,
            list(request.types),
            request.start.ToDatetime(UTC),
            request.end.ToDatetime(UTC),
            request.step,
            authz.reach(request.organization_id, f"server {request.server_id}"),
            self._monitoring.uow(),
        )
        return pb.GetServerMetricsResponse(
            start=to_timestamp(answer.start),
            end=to_timestamp(answer.end),
            step=answer.step,
            time_series={
                name: pb.MetricsSeries(values=[pb.MetricsPoint(timestamp=at, value=value) for at, value in points])
                for name, points in answer.time_series.items()
            },
        )

    async def RunRetention(  # noqa: N802
        self, request: pb.RunRetentionRequest, context: Context
    ) -> pb.RunRetentionResponse:
        authz.require_admin("RunRetention")
        report = await asyncio.to_thread(retention_pass, self._monitoring, self._retention)
        if report is None:
            raise Conflict("a retention run of server_metrics is in progress elsewhere; try again when it ends")
        return pb.RunRetentionResponse(
            partitions_dropped=len(report.dropped),
            rows_removed=report.rows_removed,
            partitions_created=len(report.created),
            kept_from=to_timestamp(report.kept_from.replace(tzinfo=UTC)),
        )


def add_monitoring_servicer(server: aio.Server, monitoring: Monitoring, retention: RetentionSettings) -> list[str]:
    pb_grpc.add_MonitoringServiceServicer_to_server(MonitoringServicer(monitoring, retention), server)
    return [pb.DESCRIPTOR.services_by_name["MonitoringService"].full_name]
