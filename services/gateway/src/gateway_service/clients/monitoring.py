"""The gateway's calls to the monitoring service's MonitoringService (a server's stored metrics),
AlertRuleService (tenants' alert rules), AlertService (their alerts) and UptimeMonitorService
(tenants' uptime monitors).
Each call carries the request's principal; monitoring checks the tenant again from it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from grpc import aio

from cloudplatform.monitoring.v1 import alert_rule_service_pb2 as rules_pb
from cloudplatform.monitoring.v1 import alert_rule_service_pb2_grpc as rules_grpc
from cloudplatform.monitoring.v1 import alert_service_pb2 as alerts_pb
from cloudplatform.monitoring.v1 import alert_service_pb2_grpc as alerts_grpc
from cloudplatform.monitoring.v1 import monitoring_service_pb2 as pb
from cloudplatform.monitoring.v1 import monitoring_service_pb2_grpc as pb_grpc
from cloudplatform.monitoring.v1 import uptime_monitor_service_pb2 as uptime_pb
from cloudplatform.monitoring.v1 import uptime_monitor_service_pb2_grpc as uptime_grpc
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


class AlertRuleClient:
    """Monitoring's AlertRuleService: tenants' alert rules."""

    def __init__(self, channel: Callable[[], aio.Channel]) -> None:
        self._channel = channel

    def _rules(self) -> rules_grpc.AlertRuleServiceAsyncStub:
        return rules_grpc.AlertRuleServiceStub(self._channel())

    async def create(self, request: rules_pb.CreateAlertRuleRequest) -> rules_pb.AlertRule:
        return (await backend_call(BACKEND, self._rules().CreateAlertRule(request))).alert_rule

    async def list(self, user_id: int, organization_id: int, resource_type: str) -> list[rules_pb.AlertRule]:
        request = rules_pb.ListAlertRulesRequest(
            user_id=user_id, organization_id=organization_id, resource_type=resource_type
        )
        return list((await backend_call(BACKEND, self._rules().ListAlertRules(request))).alert_rules)

    async def get(self, rule_id: int, organization_id: int) -> rules_pb.AlertRule:
        request = rules_pb.GetAlertRuleRequest(alert_rule_id=rule_id, organization_id=organization_id)
        return (await backend_call(BACKEND, self._rules().GetAlertRule(request))).alert_rule

    async def update(self, request: rules_pb.UpdateAlertRuleRequest) -> rules_pb.AlertRule:
        return (await backend_call(BACKEND, self._rules().UpdateAlertRule(request))).alert_rule

    async def delete(self, rule_id: int, organization_id: int) -> None:
        request = rules_pb.DeleteAlertRuleRequest(alert_rule_id=rule_id, organization_id=organization_id)
        await backend_call(BACKEND, self._rules().DeleteAlertRule(request))


class AlertClient:
    """Monitoring's AlertService: tenants' alerts."""

    def __init__(self, channel: Callable[[], aio.Channel]) -> None:
        self._channel = channel

    def _alerts(self) -> alerts_grpc.AlertServiceAsyncStub:
        return alerts_grpc.AlertServiceStub(self._channel())

    async def list(self, user_id: int, organization_id: int, status: str, alert_rule_id: int) -> list[alerts_pb.Alert]:
        request = alerts_pb.ListAlertsRequest(
            user_id=user_id, organization_id=organization_id, status=status, alert_rule_id=alert_rule_id
        )
        return list((await backend_call(BACKEND, self._alerts().ListAlerts(request))).alerts)

    async def get(self, alert_id: int, organization_id: int) -> alerts_pb.Alert:
        request = alerts_pb.GetAlertRequest(alert_id=alert_id, organization_id=organization_id)
        return (await backend_call(BACKEND, self._alerts().GetAlert(request))).alert

    async def acknowledge(self, alert_id: int, user_id: int, organization_id: int) -> alerts_pb.Alert:
        request = alerts_pb.AcknowledgeAlertRequest(alert_id=alert_id, user_id=user_id, organization_id=organization_id)
        return (await backend_call(BACKEND, self._alerts().AcknowledgeAlert(request))).alert


class UptimeMonitorClient:
    """Monitoring's UptimeMonitorService: tenants' uptime monitors, their results and uptime."""

    def __init__(self, channel: Callable[[], aio.Channel]) -> None:
        self._channel = channel

    def _stub(self) -> uptime_grpc.UptimeMonitorServiceAsyncStub:
        return uptime_grpc.UptimeMonitorServiceStub(self._channel())

    async def create(self, request: uptime_pb.CreateUptimeMonitorRequest) -> uptime_pb.UptimeMonitor:
        return (await backend_call(BACKEND, self._stub().CreateUptimeMonitor(request))).uptime_monitor

    async def list(self, user_id: int, organization_id: int) -> list[uptime_pb.UptimeMonitor]:
        request = uptime_pb.ListUptimeMonitorsRequest(user_id=user_id, organization_id=organization_id)
        return list((await backend_call(BACKEND, self._stub().ListUptimeMonitors(request))).uptime_monitors)

    async def get(self, monitor_id: int, organization_id: int) -> uptime_pb.UptimeMonitor:
        request = uptime_pb.GetUptimeMonitorRequest(uptime_monitor_id=monitor_id, organization_id=organization_id)
        return (await backend_call(BACKEND, self._stub().GetUptimeMonitor(request))).uptime_monitor

    async def update(self, request: uptime_pb.UpdateUptimeMonitorRequest) -> uptime_pb.UptimeMonitor:
        return (await backend_call(BACKEND, self._stub().UpdateUptimeMonitor(request))).uptime_monitor

    async def delete(self, monitor_id: int, organization_id: int) -> None:
        request = uptime_pb.DeleteUptimeMonitorRequest(uptime_monitor_id=monitor_id, organization_id=organization_id)
        await backend_call(BACKEND, self._stub().DeleteUptimeMonitor(request))

    async def results(self, request: uptime_pb.ListUptimeResultsRequest) -> Sequence[uptime_pb.UptimeResult]:
        return list((await backend_call(BACKEND, self._stub().ListUptimeResults(request))).results)

    async def uptime(self, monitor_id: int, organization_id: int) -> Sequence[uptime_pb.UptimeWindow]:
        request = uptime_pb.GetUptimeRequest(uptime_monitor_id=monitor_id, organization_id=organization_id)
        return list((await backend_call(BACKEND, self._stub().GetUptime(request))).windows)
