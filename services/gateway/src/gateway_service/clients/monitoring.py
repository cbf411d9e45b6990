"""The gateway's calls to the monitoring service's MonitoringService: a server's stored metrics.
Each call carries the request's principal; monitoring checks the tenant again from it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from grpc import aio

from cloudplatform.monitoring.v1 import monitoring_service_pb2 as pb
from cloudplatform.monitoring.v1 import monitoring_service_pb2_grpc as pb_grpc
from gateway_service.clients.calls import backend_call

BACKEND = "monitoring"


class MonitoringClient:
    def __init__(self, channel: Callable[[], aio.Channel]) -> None:
        self._channel = channel

    def _monitoring(self) -> pb_grpc.MonitoringServiceAsyncStub:
        return pb_grpc.MonitoringServiceStub(self._channel())

    async def server_metrics(
        self, server_id: int, organization_id: int, *, types: Sequence[str], start: datetime, end: datetime, step: int
    ) -> pb.GetServerMetricsResponse:
        request = pb.GetServerMetricsRequest(
            server_id=server_id, organization_id=organization_id, types=types, step=step
        )
        request.start.FromDatetime(start)
        request.end.FromDatetime(end)
        return await backend_call(BACKEND, self._monitoring().GetServerMetrics(request))
