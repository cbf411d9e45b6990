"""Where a monitoring notice goes, asked of monitoring over gRPC (``AlertRuleService.GetAlertRule``)
as support itself: a rule's channels with their targets (addresses, URLs) stay in monitoring's
database and never travel in events."""

from __future__ import annotations

from collections.abc import Callable

import grpc
from grpc import aio

from cloudplatform.monitoring.v1 import alert_rule_service_pb2 as rpb
from cloudplatform.monitoring.v1 import alert_rule_service_pb2_grpc as rpb_grpc
from cpshared.errors import Unavailable
from cpshared.grpc.service_client import ServiceChannel
from support_service import SERVICE_NAME
from support_service.domain.monitoring_notices import Channel
from support_service.service_layer.ports import NoChannelLookup


class MonitoringChannelSources:
    def __init__(self, address: str, service_key_file: str) -> None:
        self._client = ServiceChannel(address, service_key_file, caller=SERVICE_NAME, callee="monitoring")
        self._lookups: dict[str, Callable[[int], list[Channel] | None]] = {"alert_rule": self._alert_rule}
        """How to ask for each source's channels (an uptime monitor's: one entry more)."""

    def channels(self, source: str, source_id: int) -> list[Channel] | None:
        lookup = self._lookups.get(source)
        if lookup is None:
            raise NoChannelLookup(source)
        return lookup(source_id)

    def _alert_rule(self, rule_id: int) -> list[Channel] | None:
        request = rpb.GetAlertRuleRequest(alert_rule_id=rule_id)
        try:
            answer = self._client.call(
                lambda ch, md: rpb_grpc.AlertRuleServiceStub(ch).GetAlertRule(request, metadata=md)
            )
        except aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise Unavailable(f"monitoring could not answer: {exc.code().name} {exc.details()}") from None
        return [Channel(c.type, c.target) for c in answer.alert_rule.channels]

    def close(self) -> None:
        self._client.close()
