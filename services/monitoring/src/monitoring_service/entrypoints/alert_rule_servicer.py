"""The AlertRuleService gRPC API: protobuf in, a use case on a worker thread, protobuf out."""

from __future__ import annotations

import asyncio
from typing import Any

from grpc import aio

from cloudplatform.monitoring.v1 import alert_rule_service_pb2 as pb
from cloudplatform.monitoring.v1 import alert_rule_service_pb2_grpc as pb_grpc
from cpshared.errors import InvalidInput
from cpshared.timestamps import to_timestamp
from monitoring_service.adapters import authorization as authz
from monitoring_service.bootstrap import Monitoring
from monitoring_service.domain.alert_rules import AlertRule
from monitoring_service.service_layer import alert_rules

Context = aio.ServicerContext[Any, Any]


def alert_rule_message(rule: AlertRule) -> pb.AlertRule:
    return pb.AlertRule(
        id=rule.id,
        user_id=rule.user_id,
        organization_id=rule.organization_id or 0,
        name=rule.name,
        resource_type=rule.resource_type,
        resource_id=rule.resource_id or 0,
        metric=rule.metric,
        operator=rule.operator,
        threshold=str(rule.threshold),
        duration_minutes=rule.duration_minutes,
        enabled=rule.enabled,
        channels=[pb.NotificationChannel(type=c.type, target=c.target) for c in rule.channels],
        created_at=to_timestamp(rule.created_at),
        updated_at=to_timestamp(rule.updated_at),
    )


def _channels(channels: Any) -> list[tuple[str, str]]:
    return [(c.type, c.target) for c in channels]


class AlertRuleServicer(pb_grpc.AlertRuleServiceServicer):
    def __init__(self, monitoring: Monitoring) -> None:
        self._monitoring = monitoring

    async def CreateAlertRule(  # noqa: N802
        self, request: pb.CreateAlertRuleRequest, context: Context
    ) -> pb.CreateAlertRuleResponse:
        authz.check_tenant(request.user_id, request.organization_id)
        if request.user_id <= 0:
            raise InvalidInput("user_id must name the user creating the alert rule")
        new = alert_rules.NewAlertRule(
            user_id=request.user_id,
            organization_id=request.organization_id or None,
            name=request.name,
            resource_type=request.resource_type,
            resource_id=request.resource_id or None,
            metric=request.metric,
            operator=request.operator,
            threshold=request.threshold,
            duration_minutes=request.duration_minutes if request.HasField("duration_minutes") else None,
            enabled=request.enabled if request.HasField("enabled") else None,
            channels=_channels(request.channels),
        )
        rule = await asyncio.to_thread(alert_rules.create, new, self._monitoring.uow())
        return pb.CreateAlertRuleResponse(alert_rule=alert_rule_message(rule))

    async def ListAlertRules(  # noqa: N802
        self, request: pb.ListAlertRulesRequest, context: Context
    ) -> pb.ListAlertRulesResponse:
        authz.check_tenant(request.user_id, request.organization_id)
        rules = await asyncio.to_thread(
            alert_rules.list_rules,
            request.user_id,
            request.organization_id or None,
            request.resource_type,
            self._monitoring.uow(),
        )
        return pb.ListAlertRulesResponse(alert_rules=[alert_rule_message(rule) for rule in rules])

    async def GetAlertRule(self, request: pb.GetAlertRuleRequest, context: Context) -> pb.GetAlertRuleResponse:  # noqa: N802
        reach = authz.reach(request.organization_id, f"alert rule {request.alert_rule_id}")
        rule = await asyncio.to_thread(alert_rules.get, request.alert_rule_id, reach, self._monitoring.uow())
        return pb.GetAlertRuleResponse(alert_rule=alert_rule_message(rule))

    async def UpdateAlertRule(  # noqa: N802
        self, request: pb.UpdateAlertRuleRequest, context: Context
    ) -> pb.UpdateAlertRuleResponse:
        reach = authz.reach(request.organization_id, f"alert rule {request.alert_rule_id}")
        what = alert_rules.AlertRuleChange(
            name=request.name if request.HasField("name") else None,
            metric=request.metric if request.HasField("metric") else None,
            operator=request.operator if request.HasField("operator") else None,
            threshold=request.threshold if request.HasField("threshold") else None,
            duration_minutes=request.duration_minutes if request.HasField("duration_minutes") else None,
            enabled=request.enabled if request.HasField("enabled") else None,
            channels=_channels(request.channels.channels) if request.HasField("channels") else None,
        )
        rule = await asyncio.to_thread(alert_rules.change, request.alert_rule_id, what, reach, self._monitoring.uow())
        return pb.UpdateAlertRuleResponse(alert_rule=alert_rule_message(rule))

    async def DeleteAlertRule(  # noqa: N802
        self, request: pb.DeleteAlertRuleRequest, context: Context
    ) -> pb.DeleteAlertRuleResponse:
        reach = authz.reach(request.organization_id, f"alert rule {request.alert_rule_id}")
        await asyncio.to_thread(alert_rules.delete, request.alert_rule_id, reach, self._monitoring.uow())
        return pb.DeleteAlertRuleResponse()


def add_alert_rule_servicer(server: aio.Server, monitoring: Monitoring) -> list[str]:
    pb_grpc.add_AlertRuleServiceServicer_to_server(AlertRuleServicer(monitoring), server)
    return [pb.DESCRIPTOR.services_by_name["AlertRuleService"].full_name]
