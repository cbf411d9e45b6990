"""The FirewallService gRPC API: protobuf in, a use case on a worker thread, protobuf out.

Tenancy as in :mod:`network_service.entrypoints.floating_ip_servicer`: a user reaches its own
firewalls and those of the organization its request names (if it is a member); admins and
services every one; another tenant's answers NOT_FOUND. Applying to a server checks the server
with compute (the caller must reach it too)."""

from __future__ import annotations

import asyncio
from typing import Any

from grpc import aio

from cloudplatform.network.v1 import network_service_pb2 as pb
from cloudplatform.network.v1 import network_service_pb2_grpc as pb_grpc
from cpshared.errors import InvalidInput
from cpshared.timestamps import to_timestamp as _ts
from network_service.adapters import authorization as authz
from network_service.bootstrap import Network as Service
from network_service.domain.firewalls import Firewall, Rule
from network_service.entrypoints.floating_ip_servicer import (
    ACTION_SORTABLE,
    _per_page,
    _reach,
    action_message,
    sort_order,
)
from network_service.service_layer import firewalls

Context = aio.ServicerContext[Any, Any]


def rule_message(rule: Rule) -> pb.FirewallRule:
    message = pb.FirewallRule(
        direction=rule.direction,
        protocol=rule.protocol,
        port=rule.port or "",
        source_ips=list(rule.source_ips),
        destination_ips=list(rule.destination_ips),
    )
    if rule.description is not None:
        message.description = rule.description
    return message


def _rule(message: pb.FirewallRule) -> dict[str, Any]:
    return {
        "direction": message.direction,
        "protocol": message.protocol,
        "port": message.port or None,
        "source_ips": list(message.source_ips),
        "destination_ips": list(message.destination_ips),
        "description": message.description if message.HasField("description") else None,
    }


def _targets(message: pb.FirewallTargets) -> firewalls.Targets:
    return firewalls.Targets(servers=list(message.server_ids), selectors=list(message.label_selectors))


def firewall_message(firewall: Firewall, matched: dict[tuple[int, str], list[int]]) -> pb.Firewall:
    return pb.Firewall(
        id=firewall.id,
        user_id=firewall.user_id,
        organization_id=firewall.organization_id or 0,
        name=firewall.name,
        rules=[rule_message(r) for r in firewall.rules],
        applied_to=pb.FirewallTargets(server_ids=firewall.servers, label_selectors=firewall.selectors),
        selector_servers=[
            pb.SelectorServers(label_selector=s, server_ids=matched.get((firewall.id, s), []))
            for s in firewall.selectors
        ],
        labels=firewall.labels,
        created_at=_ts(firewall.created_at),
        blocked=firewall.blocked,
        locked=firewall.locked,
        synced=firewall.synced,
    )


class FirewallServicer(pb_grpc.FirewallServiceServicer):
    def __init__(self, service: Service) -> None:
        self._service = service

    def _what(self, firewall_id: int) -> str:
        return f"firewall {firewall_id}"

    async def _messages(self, found: list[Firewall]) -> list[pb.Firewall]:
        matched = await asyncio.to_thread(firewalls.selector_servers, found, self._service.uow())
        return [firewall_message(f, matched) for f in found]

    async def CreateFirewall(self, request: pb.CreateFirewallRequest, context: Context) -> pb.CreateFirewallResponse:  # noqa: N802
        authz.check_tenant(request.user_id, request.organization_id)
        if request.user_id <= 0:
            raise InvalidInput("user_id must name the user creating the firewall")
        cmd = firewalls.NewFirewall(
            user_id=request.user_id,
            organization_id=request.organization_id or None,
            name=request.name,
            rules=[_rule(r) for r in request.rules],
            labels=dict(request.labels),
            apply_to=_targets(request.apply_to),
        )
        reach = _reach(request.organization_id, "server")
        service = self._service
        firewall, actions = await asyncio.to_thread(
            lambda: firewalls.create(cmd, reach, service.uow(), service.firewall_quotas, service.compute)
        )
        (message,) = await self._messages([firewall])
        return pb.CreateFirewallResponse(firewall=message, actions=[action_message(a) for a in actions])

    async def ListFirewalls(self, request: pb.ListFirewallsRequest, context: Context) -> pb.ListFirewallsResponse:  # noqa: N802
        user_id, organization_id = authz.list_scope(
            request.all_tenants,
            request.user_id,
            request.organization_id,
            (r.operator for r in request.label_selector),
            "ListFirewalls",
        )
        query = firewalls.Search(
            user_id=user_id,
            organization_id=organization_id,
            name=request.name,
            requirements=list(request.label_selector),
            order=sort_order(list(request.sort)),
            page=max(request.page, 1),
            per_page=_per_page(request.per_page),
        )
        found, total = await asyncio.to_thread(firewalls.search, query, self._service.uow())
        return pb.ListFirewallsResponse(firewalls=await self._messages(found), total_entries=total)

    async def GetFirewall(self, request: pb.GetFirewallRequest, context: Context) -> pb.GetFirewallResponse:  # noqa: N802
        reach = _reach(request.organization_id, self._what(request.firewall_id))
        firewall = await asyncio.to_thread(firewalls.get, request.firewall_id, reach, self._service.uow())
        (message,) = await self._messages([firewall])
        return pb.GetFirewallResponse(firewall=message)

    async def UpdateFirewall(self, request: pb.UpdateFirewallRequest, context: Context) -> pb.UpdateFirewallResponse:  # noqa: N802
        reach = _reach(request.organization_id, self._what(request.firewall_id))
        firewall = await asyncio.to_thread(
            firewalls.update,
            request.firewall_id,
            request.name if request.HasField("name") else None,
            dict(request.labels) if request.set_labels else None,
            reach,
            self._service.uow(),
        )
        (message,) = await self._messages([firewall])
        return pb.UpdateFirewallResponse(firewall=message)

    async def DeleteFirewall(self, request: pb.DeleteFirewallRequest, context: Context) -> pb.DeleteFirewallResponse:  # noqa: N802
        reach = _reach(request.organization_id, self._what(request.firewall_id))
        service = self._service
        await asyncio.to_thread(
            lambda: firewalls.delete(request.firewall_id, reach, service.uow(), service.firewall_quotas)
        )
        return pb.DeleteFirewallResponse()

    async def SetFirewallRules(  # noqa: N802
        self, request: pb.SetFirewallRulesRequest, context: Context
    ) -> pb.SetFirewallRulesResponse:
        reach = _reach(request.organization_id, self._what(request.firewall_id))
        rules = [_rule(r) for r in request.rules]
        action = await asyncio.to_thread(firewalls.set_rules, request.firewall_id, rules, reach, self._service.uow())
        return pb.SetFirewallRulesResponse(action=action_message(action))

    async def ApplyFirewall(self, request: pb.ApplyFirewallRequest, context: Context) -> pb.ApplyFirewallResponse:  # noqa: N802
        reach = _reach(request.organization_id, self._what(request.firewall_id))
        service = self._service
        action = await asyncio.to_thread(
            lambda: firewalls.apply_to_resources(
                request.firewall_id, _targets(request.apply_to), reach, service.uow(), service.compute
            )
        )
        return pb.ApplyFirewallResponse(action=action_message(action))

    async def RemoveFirewall(self, request: pb.RemoveFirewallRequest, context: Context) -> pb.RemoveFirewallResponse:  # noqa: N802
        reach = _reach(request.organization_id, self._what(request.firewall_id))
        action = await asyncio.to_thread(
            firewalls.remove_from_resources,
            request.firewall_id,
            _targets(request.remove_from),
            reach,
            self._service.uow(),
        )
        return pb.RemoveFirewallResponse(action=action_message(action))

    async def ServerFirewalls(  # noqa: N802
        self, request: pb.ServerFirewallsRequest, context: Context
    ) -> pb.ServerFirewallsResponse:
        def reach(user_id: int, organization_id: int | None) -> None:
            authz.ensure_reaches(user_id, organization_id, organization_id or 0, "firewall")

        found = await asyncio.to_thread(firewalls.of_servers, list(request.server_ids), reach, self._service.uow())
        return pb.ServerFirewallsResponse(
            firewalls=[
                pb.ServerFirewall(
                    server_id=server_id,
                    firewall_id=f.id,
                    status="applied" if f.synced and not f.locked else "pending",
                )
                for server_id, covering in sorted(found.items())
                for f in covering
            ]
        )

    async def GetFirewallAction(  # noqa: N802
        self, request: pb.GetFirewallActionRequest, context: Context
    ) -> pb.GetFirewallActionResponse:
        reach = _reach(request.organization_id, f"action {request.action_id}")
        action = await asyncio.to_thread(firewalls.action, request.action_id, reach, self._service.uow())
        return pb.GetFirewallActionResponse(action=action_message(action))

    async def ListFirewallActions(  # noqa: N802
        self, request: pb.ListFirewallActionsRequest, context: Context
    ) -> pb.ListFirewallActionsResponse:
        user_id, organization_id = authz.list_scope(
            False, request.user_id, request.organization_id, (), "ListFirewallActions"
        )
        for status in request.status:
            if status not in ("running", "success", "error"):
                raise InvalidInput(
                    f"status {status!r} is unknown; use running, success or error",
                    details={"fields": [{"name": "status", "messages": ["unknown status"]}]},
                )
        query = firewalls.ActionSearch(
            user_id=user_id,
            organization_id=organization_id,
            firewall_id=request.firewall_id,
            ids=list(request.ids),
            statuses=list(request.status),
            order=sort_order(list(request.sort), ACTION_SORTABLE),
            page=max(request.page, 1),
            per_page=_per_page(request.per_page),
        )
        reach = _reach(request.organization_id, self._what(request.firewall_id))
        found, total = await asyncio.to_thread(firewalls.actions, query, reach, self._service.uow())
        return pb.ListFirewallActionsResponse(actions=[action_message(a) for a in found], total_entries=total)


def add_firewall_servicer(server: aio.Server, service: Service) -> list[str]:
    pb_grpc.add_FirewallServiceServicer_to_server(FirewallServicer(service), server)
    return [pb.DESCRIPTOR.services_by_name["FirewallService"].full_name]
