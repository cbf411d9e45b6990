"""The AlertService gRPC API: protobuf in, a use case on a worker thread, protobuf out."""

from __future__ import annotations

import asyncio
from typing import Any

from grpc import aio

from cloudplatform.monitoring.v1 import alert_service_pb2 as pb
from cloudplatform.monitoring.v1 import alert_service_pb2_grpc as pb_grpc
from cpshared.timestamps import to_timestamp
from monitoring_service.adapters import authorization as authz
from monitoring_service.bootstrap import Monitoring
from monitoring_service.domain.alerts import Alert
from monitoring_service.service_layer import alerts

Context = aio.ServicerContext[Any, Any]


def alert_message(alert: Alert) -> pb.Alert:
    return pb.Alert(
        id=alert.id,
        alert_rule_id=alert.alert_rule_id,
        user_id=alert.user_id,
        organization_id=alert.organization_id or 0,
        rule_name=alert.rule_name,
        resource_type=alert.resource_type,
        resource_id=alert.resource_id or 0,
        metric=alert.metric,
        operator=alert.operator,
        threshold=str(alert.threshold),
        duration_minutes=alert.duration_minutes,
        status=alert.status,
        value=str(alert.value) if alert.value is not None else "",
        message=alert.message,
        triggered_at=to_timestamp(alert.triggered_at),
        resolved_at=to_timestamp(alert.resolved_at),
        acknowledged_at=to_timestamp(alert.acknowledged_at),
        acknowledged_by=alert.acknowledged_by or 0,
    )


class AlertServicer(pb_grpc.AlertServiceServicer):
    def __init__(self, monitoring: Monitoring) -> None:
        self._monitoring = monitoring

    async def ListAlerts(self, request: pb.ListAlertsRequest, context: Context) -> pb.ListAlertsResponse:  # noqa: N802
        authz.check_tenant(request.user_id, request.organization_id)
        found = await asyncio.to_thread(
            alerts.list_alerts,
            request.user_id,
            request.organization_id or None,
            request.status,
            request.alert_rule_id,
            self._monitoring.uow(),
        )
        return pb.ListAlertsResponse(alerts=[alert_message(alert) for alert in found])

    async def GetAlert(self, request: pb.GetAlertRequest, context: Context) -> pb.GetAlertResponse:  # noqa: N802
        reach = authz.reach(request.organization_id, f"alert {request.alert_id}")
        alert = await asyncio.to_thread(alerts.get, request.alert_id, reach, self._monitoring.uow())
        return pb.GetAlertResponse(alert=alert_message(alert))

    async def AcknowledgeAlert(  # noqa: N802
        self, request: pb.AcknowledgeAlertRequest, context: Context
    ) -> pb.AcknowledgeAlertResponse:
        authz.check_tenant(request.user_id, request.organization_id)
        reach = authz.reach(request.organization_id, f"alert {request.alert_id}")
        alert = await asyncio.to_thread(
            alerts.acknowledge, request.alert_id, request.user_id, reach, self._monitoring.uow()
        )
        return pb.AcknowledgeAlertResponse(alert=alert_message(alert))


def add_alert_servicer(server: aio.Server, monitoring: Monitoring) -> list[str]:
    pb_grpc.add_AlertServiceServicer_to_server(AlertServicer(monitoring), server)
    return [pb.DESCRIPTOR.services_by_name["AlertService"].full_name]
