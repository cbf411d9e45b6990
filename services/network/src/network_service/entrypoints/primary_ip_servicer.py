"""The PrimaryIpService gRPC API: protobuf in, a use case on a worker thread, protobuf out.

A user reaches its own primary IPs and those of the organization its request names (if it is a
member); admins and services every one; another tenant's answers NOT_FOUND."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from grpc import aio

from cloudplatform.network.v1 import network_service_pb2 as pb
from cloudplatform.network.v1 import network_service_pb2_grpc as pb_grpc
from cpshared.errors import InvalidInput
from cpshared.timestamps import to_timestamp as _ts
from network_service.adapters import authorization as authz
from network_service.bootstrap import Network
from network_service.domain.actions import RUNNING
from network_service.domain.primary_ips import PrimaryIp
from network_service.entrypoints.floating_ip_servicer import (
    ACTION_SORTABLE,
    DEADLINE_MARGIN,
    POLL_SECONDS,
    _per_page,
    _reach,
    action_message,
    sort_order,
)
from network_service.service_layer import floating_ips, primary_ips

Context = aio.ServicerContext[Any, Any]


def primary_ip_message(pip: PrimaryIp) -> pb.PrimaryIp:
    return pb.PrimaryIp(
        id=pip.id,
        user_id=pip.user_id,
        organization_id=pip.organization_id or 0,
        name=pip.name,
        type=pip.type,
        ip=pip.ip_address or "",
        location=pip.location,
        datacenter_id=pip.datacenter_id,
        assignee_id=pip.assignee_id or 0,
        auto_delete=pip.auto_delete,
        dns_ptr=[pb.DnsPtr(ip=ip, dns_ptr=ptr) for ip, ptr in sorted(pip.dns_ptrs.items())],
        protection_delete=pip.protection_delete,
        blocked=pip.blocked,
        locked=pip.locked,
        labels=pip.labels,
        created_at=_ts(pip.created_at),
        hetzner_id=pip.hetzner_id or 0,
        status=pip.status,
        adopted=pip.adopted,
    )


class PrimaryIpServicer(pb_grpc.PrimaryIpServiceServicer):
    def __init__(self, network: Network, create_wait_seconds: float = 30.0) -> None:
        self._network = network
        self._create_wait = create_wait_seconds

    async def CreatePrimaryIp(  # noqa: N802
        self, request: pb.CreatePrimaryIpRequest, context: Context
    ) -> pb.CreatePrimaryIpResponse:
        authz.check_tenant(request.user_id, request.organization_id)
        if request.user_id <= 0:
            raise InvalidInput("user_id must name the user creating the primary IP")
        cmd = primary_ips.NewPrimaryIp(
            user_id=request.user_id,
            organization_id=request.organization_id or None,
            type=request.type,
            name=request.name,
            location=request.location,
            assignee_id=request.assignee_id,
            assignee_type=request.assignee_type or "server",
            auto_delete=request.auto_delete,
            labels=dict(request.labels),
        )
        network = self._network
        pip, action = await asyncio.to_thread(
            lambda: primary_ips.create(cmd, network.uow(), network.compute, network.primary_ip_quotas)
        )
        # Hetzner answers a primary IP with its address: wait (bounded) for the worker to make it.
        remaining = context.time_remaining()
        wait = self._create_wait if remaining is None else min(self._create_wait, remaining - DEADLINE_MARGIN)
        deadline = time.monotonic() + wait
        while action.status == RUNNING and time.monotonic() < deadline:
            await asyncio.sleep(POLL_SECONDS)
            action = await asyncio.to_thread(floating_ips.action, action.id, lambda *_: None, network.uow())
        current = await asyncio.to_thread(_any, network, pip.id)
        return pb.CreatePrimaryIpResponse(primary_ip=primary_ip_message(current or pip), action=action_message(action))

    async def ListPrimaryIps(  # noqa: N802
        self, request: pb.ListPrimaryIpsRequest, context: Context
    ) -> pb.ListPrimaryIpsResponse:
        user_id, organization_id = authz.list_scope(
            request.all_tenants,
            request.user_id,
            request.organization_id,
            (r.operator for r in request.label_selector),
            "ListPrimaryIps",
        )
        query = primary_ips.Search(
            user_id=user_id,
            organization_id=organization_id,
            name=request.name,
            ip=request.ip,
            requirements=list(request.label_selector),
            order=sort_order(list(request.sort)),
            page=max(request.page, 1),
            per_page=_per_page(request.per_page),
        )
        found, total = await asyncio.to_thread(primary_ips.search, query, self._network.uow())
        return pb.ListPrimaryIpsResponse(primary_ips=[primary_ip_message(p) for p in found], total_entries=total)

    async def GetPrimaryIp(self, request: pb.GetPrimaryIpRequest, context: Context) -> pb.GetPrimaryIpResponse:  # noqa: N802
        reach = _reach(request.organization_id, f"primary IP {request.primary_ip_id}")
        pip = await asyncio.to_thread(primary_ips.get, request.primary_ip_id, reach, self._network.uow())
        return pb.GetPrimaryIpResponse(primary_ip=primary_ip_message(pip))

    async def UpdatePrimaryIp(  # noqa: N802
        self, request: pb.UpdatePrimaryIpRequest, context: Context
    ) -> pb.UpdatePrimaryIpResponse:
        reach = _reach(request.organization_id, f"primary IP {request.primary_ip_id}")
        pip = await asyncio.to_thread(
            primary_ips.update,
            request.primary_ip_id,
            request.name if request.HasField("name") else None,
            dict(request.labels) if request.set_labels else None,
            request.auto_delete if request.HasField("auto_delete") else None,
            reach,
            self._network.uow(),
        )
        return pb.UpdatePrimaryIpResponse(primary_ip=primary_ip_message(pip))

    async def DeletePrimaryIp(  # noqa: N802
        self, request: pb.DeletePrimaryIpRequest, context: Context
    ) -> pb.DeletePrimaryIpResponse:
        reach = _reach(request.organization_id, f"primary IP {request.primary_ip_id}")
        network = self._network
        await asyncio.to_thread(
            lambda: primary_ips.delete(request.primary_ip_id, reach, network.uow(), network.compute)
        )
        return pb.DeletePrimaryIpResponse()

    async def AssignPrimaryIp(  # noqa: N802
        self, request: pb.AssignPrimaryIpRequest, context: Context
    ) -> pb.AssignPrimaryIpResponse:
        reach = _reach(request.organization_id, f"primary IP {request.primary_ip_id}")
        network = self._network
        action = await asyncio.to_thread(
            lambda: primary_ips.assign(
                request.primary_ip_id,
                request.assignee_id,
                request.assignee_type or "server",
                reach,
                network.uow(),
                network.compute,
            )
        )
        return pb.AssignPrimaryIpResponse(action=action_message(action))

    async def UnassignPrimaryIp(  # noqa: N802
        self, request: pb.UnassignPrimaryIpRequest, context: Context
    ) -> pb.UnassignPrimaryIpResponse:
        reach = _reach(request.organization_id, f"primary IP {request.primary_ip_id}")
        network = self._network
        action = await asyncio.to_thread(
            lambda: primary_ips.unassign(request.primary_ip_id, reach, network.uow(), network.compute)
        )
        return pb.UnassignPrimaryIpResponse(action=action_message(action))

    async def ChangePrimaryIpDnsPtr(  # noqa: N802
        self, request: pb.ChangePrimaryIpDnsPtrRequest, context: Context
    ) -> pb.ChangePrimaryIpDnsPtrResponse:
        reach = _reach(request.organization_id, f"primary IP {request.primary_ip_id}")
        action = await asyncio.to_thread(
            primary_ips.change_dns_ptr,
            request.primary_ip_id,
            request.ip,
            request.dns_ptr if request.HasField("dns_ptr") else None,
            reach,
            self._network.uow(),
        )
        return pb.ChangePrimaryIpDnsPtrResponse(action=action_message(action))

    async def ChangePrimaryIpProtection(  # noqa: N802
        self, request: pb.ChangePrimaryIpProtectionRequest, context: Context
    ) -> pb.ChangePrimaryIpProtectionResponse:
        reach = _reach(request.organization_id, f"primary IP {request.primary_ip_id}")
        action = await asyncio.to_thread(
            primary_ips.change_protection,
            request.primary_ip_id,
            request.delete if request.HasField("delete") else None,
            reach,
            self._network.uow(),
        )
        return pb.ChangePrimaryIpProtectionResponse(action=action_message(action))

    async def ListPrimaryIpActions(  # noqa: N802
        self, request: pb.ListPrimaryIpActionsRequest, context: Context
    ) -> pb.ListPrimaryIpActionsResponse:
        user_id, organization_id = authz.list_scope(
            False, request.user_id, request.organization_id, (), "ListPrimaryIpActions"
        )
        for status in request.status:
            if status not in ("running", "success", "error"):
                raise InvalidInput(
                    f"status {status!r} is unknown; use running, success or error",
                    details={"fields": [{"name": "status", "messages": ["unknown status"]}]},
                )
        query = primary_ips.ActionSearch(
            user_id=user_id,
            organization_id=organization_id,
            primary_ip_id=request.primary_ip_id,
            ids=list(request.ids),
            statuses=list(request.status),
            order=sort_order(list(request.sort), ACTION_SORTABLE),
            page=max(request.page, 1),
            per_page=_per_page(request.per_page),
        )
        reach = _reach(request.organization_id, f"primary IP {request.primary_ip_id}")
        found, total = await asyncio.to_thread(primary_ips.actions, query, reach, self._network.uow())
        return pb.ListPrimaryIpActionsResponse(actions=[action_message(a) for a in found], total_entries=total)

    async def ServerPrimaryIps(  # noqa: N802
        self, request: pb.ServerPrimaryIpsRequest, context: Context
    ) -> pb.ServerPrimaryIpsResponse:
        def reach(user_id: int, organization_id: int | None) -> None:
            # A server's primary IPs are its tenant's: the caller sees those it reaches.
            authz.ensure_reaches(user_id, organization_id, organization_id or 0, "primary IP")

        found = await asyncio.to_thread(primary_ips.of_servers, list(request.server_ids), reach, self._network.uow())
        return pb.ServerPrimaryIpsResponse(
            servers=[
                pb.ServerPrimaryIps(server_id=s, primary_ips=[primary_ip_message(p) for p in pips])
                for s, pips in sorted(found.items())
            ]
        )


def _any(network: Network, primary_ip_id: int) -> PrimaryIp | None:
    with network.uow() as uow:
        return uow.primary_ips.get_any(primary_ip_id)


def add_primary_ip_servicer(server: aio.Server, network: Network, create_wait_seconds: float = 30.0) -> list[str]:
    pb_grpc.add_PrimaryIpServiceServicer_to_server(PrimaryIpServicer(network, create_wait_seconds), server)
    return [pb.DESCRIPTOR.services_by_name["PrimaryIpService"].full_name]
