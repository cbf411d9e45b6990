"""The FloatingIpService gRPC API: protobuf in, a use case on a worker thread, protobuf out.

A user reaches its own floating IPs and those of the organization its request names (if it is a
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
from hetzner_conventions.sorting import parse_sort
from network_service.adapters import authorization as authz
from network_service.bootstrap import Network
from network_service.domain.actions import RUNNING, Action
from network_service.domain.floating_ips import FloatingIp
from network_service.service_layer import floating_ips
from network_service.service_layer.floating_ips import Reach

Context = aio.ServicerContext[Any, Any]
MAX_PER_PAGE = 50
SORTABLE = ("id", "name", "created")
ACTION_SORTABLE = ("id", "command", "status", "started", "finished")
POLL_SECONDS = 0.05
DEADLINE_MARGIN = 1.0
"""Seconds of the caller's deadline kept for answering after the wait."""


def sort_order(sort: list[str], sortable: tuple[str, ...] = SORTABLE) -> list[tuple[str, bool]]:
    """The (field, descending) pairs of a request's ``sort`` (Hetzner's rule, ``hetzner_conventions.sorting``)."""
    return [(key.field, key.descending) for key in parse_sort(sort, sortable)]


def _per_page(per_page: int) -> int:
    return min(max(per_page, 1), MAX_PER_PAGE) if per_page else 25


def floating_ip_message(fip: FloatingIp) -> pb.FloatingIp:
    return pb.FloatingIp(
        id=fip.id,
        user_id=fip.user_id,
        organization_id=fip.organization_id or 0,
        name=fip.name,
        description=fip.description,
        type=fip.type,
        ip=fip.ip_address or "",
        home_location=fip.home_location,
        datacenter_id=fip.datacenter_id,
        server_id=fip.server_id or 0,
        dns_ptr=[pb.DnsPtr(ip=ip, dns_ptr=ptr) for ip, ptr in sorted(fip.dns_ptrs.items())],
        protection_delete=fip.protection_delete,
        blocked=fip.blocked,
        locked=fip.locked,
        labels=fip.labels,
        created_at=_ts(fip.created_at),
        hetzner_id=fip.hetzner_id or 0,
        status=fip.status,
    )


def action_message(action: Action) -> pb.Action:
    return pb.Action(
        id=action.id,
        command=action.command,
        status=action.status,
        progress=action.progress,
        started=_ts(action.started),
        finished=_ts(action.finished),
        error_code=action.error_code or "",
        error_message=action.error_message or "",
        resources=[pb.ActionResource(id=int(r["id"]), type=str(r["type"])) for r in action.resources],
        floating_ip_id=action.resource_id if action.resource_type == "floating_ip" else 0,
        primary_ip_id=action.resource_id if action.resource_type == "primary_ip" else 0,
    )


def _reach(organization_id: int, what: str) -> Reach:
    def check(user_id: int, owner_organization_id: int | None) -> None:
        authz.ensure_reaches(user_id, owner_organization_id, organization_id, what)

    return check


class FloatingIpServicer(pb_grpc.FloatingIpServiceServicer):
    def __init__(self, network: Network, create_wait_seconds: float = 30.0) -> None:
        self._network = network
        self._create_wait = create_wait_seconds

    async def CreateFloatingIp(  # noqa: N802
        self, request: pb.CreateFloatingIpRequest, context: Context
    ) -> pb.CreateFloatingIpResponse:
        authz.check_tenant(request.user_id, request.organization_id)
        if request.user_id <= 0:
            raise InvalidInput("user_id must name the user creating the floating IP")
        cmd = floating_ips.NewFloatingIp(
            user_id=request.user_id,
            organization_id=request.organization_id or None,
            type=request.type,
            home_location=request.home_location,
            server_id=request.server_id,
            description=request.description,
            name=request.name,
            labels=dict(request.labels),
        )
        network = self._network
        fip, action = await asyncio.to_thread(
            lambda: floating_ips.create(cmd, network.uow(), network.compute, network.quotas)
        )
        # Hetzner answers a floating IP with its address: wait (bounded by the configured wait and
        # the caller's deadline, less a margin to answer) for the worker to make it.
        remaining = context.time_remaining()
        wait = self._create_wait if remaining is None else min(self._create_wait, remaining - DEADLINE_MARGIN)
        deadline = time.monotonic() + wait
        while action.status == RUNNING and time.monotonic() < deadline:
            await asyncio.sleep(POLL_SECONDS)
            action = await asyncio.to_thread(floating_ips.action, action.id, lambda *_: None, network.uow())
        current = await asyncio.to_thread(_any, network, fip.id)
        return pb.CreateFloatingIpResponse(
            floating_ip=floating_ip_message(current or fip), action=action_message(action)
        )

    async def ListFloatingIps(  # noqa: N802
        self, request: pb.ListFloatingIpsRequest, context: Context
    ) -> pb.ListFloatingIpsResponse:
        user_id, organization_id = authz.list_scope(
            request.all_tenants,
            request.user_id,
            request.organization_id,
            (r.operator for r in request.label_selector),
            "ListFloatingIps",
        )
        query = floating_ips.Search(
            user_id=user_id,
            organization_id=organization_id,
            name=request.name,
            requirements=list(request.label_selector),
            order=sort_order(list(request.sort)),
            page=max(request.page, 1),
            per_page=_per_page(request.per_page),
        )
        found, total = await asyncio.to_thread(floating_ips.search, query, self._network.uow())
        return pb.ListFloatingIpsResponse(floating_ips=[floating_ip_message(fip) for fip in found], total_entries=total)

    async def GetFloatingIp(self, request: pb.GetFloatingIpRequest, context: Context) -> pb.GetFloatingIpResponse:  # noqa: N802
        reach = _reach(request.organization_id, f"floating IP {request.floating_ip_id}")
        fip = await asyncio.to_thread(floating_ips.get, request.floating_ip_id, reach, self._network.uow())
        return pb.GetFloatingIpResponse(floating_ip=floating_ip_message(fip))

    async def UpdateFloatingIp(  # noqa: N802
        self, request: pb.UpdateFloatingIpRequest, context: Context
    ) -> pb.UpdateFloatingIpResponse:
        reach = _reach(request.organization_id, f"floating IP {request.floating_ip_id}")
        fip = await asyncio.to_thread(
            floating_ips.update,
            request.floating_ip_id,
            request.name if request.HasField("name") else None,
            request.description if request.HasField("description") else None,
            dict(request.labels) if request.set_labels else None,
            reach,
            self._network.uow(),
        )
        return pb.UpdateFloatingIpResponse(floating_ip=floating_ip_message(fip))

    async def DeleteFloatingIp(  # noqa: N802
        self, request: pb.DeleteFloatingIpRequest, context: Context
    ) -> pb.DeleteFloatingIpResponse:
        reach = _reach(request.organization_id, f"floating IP {request.floating_ip_id}")
        await asyncio.to_thread(floating_ips.delete, request.floating_ip_id, reach, self._network.uow())
        return pb.DeleteFloatingIpResponse()

    async def AssignFloatingIp(  # noqa: N802
        self, request: pb.AssignFloatingIpRequest, context: Context
    ) -> pb.AssignFloatingIpResponse:
        reach = _reach(request.organization_id, f"floating IP {request.floating_ip_id}")
        network = self._network
        action = await asyncio.to_thread(
            lambda: floating_ips.assign(
                request.floating_ip_id, request.server_id, reach, network.uow(), network.compute
            )
        )
        return pb.AssignFloatingIpResponse(action=action_message(action))

    async def UnassignFloatingIp(  # noqa: N802
        self, request: pb.UnassignFloatingIpRequest, context: Context
    ) -> pb.UnassignFloatingIpResponse:
        reach = _reach(request.organization_id, f"floating IP {request.floating_ip_id}")
        action = await asyncio.to_thread(floating_ips.unassign, request.floating_ip_id, reach, self._network.uow())
        return pb.UnassignFloatingIpResponse(action=action_message(action))

    async def ChangeFloatingIpDnsPtr(  # noqa: N802
        self, request: pb.ChangeFloatingIpDnsPtrRequest, context: Context
    ) -> pb.ChangeFloatingIpDnsPtrResponse:
        reach = _reach(request.organization_id, f"floating IP {request.floating_ip_id}")
        action = await asyncio.to_thread(
            floating_ips.change_dns_ptr,
            request.floating_ip_id,
            request.ip,
            request.dns_ptr if request.HasField("dns_ptr") else None,
            reach,
            self._network.uow(),
        )
        return pb.ChangeFloatingIpDnsPtrResponse(action=action_message(action))

    async def ChangeFloatingIpProtection(  # noqa: N802
        self, request: pb.ChangeFloatingIpProtectionRequest, context: Context
    ) -> pb.ChangeFloatingIpProtectionResponse:
        reach = _reach(request.organization_id, f"floating IP {request.floating_ip_id}")
        action = await asyncio.to_thread(
            floating_ips.change_protection,
            request.floating_ip_id,
            request.delete if request.HasField("delete") else None,
            reach,
            self._network.uow(),
        )
        return pb.ChangeFloatingIpProtectionResponse(action=action_message(action))

    async def GetAction(self, request: pb.GetActionRequest, context: Context) -> pb.GetActionResponse:  # noqa: N802
        reach = _reach(request.organization_id, f"action {request.action_id}")
        action = await asyncio.to_thread(floating_ips.action, request.action_id, reach, self._network.uow())
        return pb.GetActionResponse(action=action_message(action))

    async def ListActions(self, request: pb.ListActionsRequest, context: Context) -> pb.ListActionsResponse:  # noqa: N802
        user_id, organization_id = authz.list_scope(False, request.user_id, request.organization_id, (), "ListActions")
        for status in request.status:
            if status not in ("running", "success", "error"):
                raise InvalidInput(
                    f"status {status!r} is unknown; use running, success or error",
                    details={"fields": [{"name": "status", "messages": ["unknown status"]}]},
                )
        query = floating_ips.ActionSearch(
            user_id=user_id,
            organization_id=organization_id,
            floating_ip_id=request.floating_ip_id,
            ids=list(request.ids),
            statuses=list(request.status),
            order=sort_order(list(request.sort), ACTION_SORTABLE),
            page=max(request.page, 1),
            per_page=_per_page(request.per_page),
        )
        reach = _reach(request.organization_id, f"floating IP {request.floating_ip_id}")
        found, total = await asyncio.to_thread(floating_ips.actions, query, reach, self._network.uow())
        return pb.ListActionsResponse(actions=[action_message(a) for a in found], total_entries=total)

    async def ServerFloatingIps(  # noqa: N802
        self, request: pb.ServerFloatingIpsRequest, context: Context
    ) -> pb.ServerFloatingIpsResponse:
        def reach(user_id: int, organization_id: int | None) -> None:
            # A server's floating IPs are its tenant's: the caller sees those it reaches.
            authz.ensure_reaches(user_id, organization_id, organization_id or 0, "floating IP")

        found = await asyncio.to_thread(floating_ips.of_servers, list(request.server_ids), reach, self._network.uow())
        return pb.ServerFloatingIpsResponse(
            servers=[pb.ServerFloatingIps(server_id=s, floating_ip_ids=ids) for s, ids in sorted(found.items())]
        )


def _any(network: Network, floating_ip_id: int) -> FloatingIp | None:
    with network.uow() as uow:
        return uow.floating_ips.get_any(floating_ip_id)


def add_floating_ip_servicer(server: aio.Server, network: Network, create_wait_seconds: float = 30.0) -> list[str]:
    pb_grpc.add_FloatingIpServiceServicer_to_server(FloatingIpServicer(network, create_wait_seconds), server)
    return [pb.DESCRIPTOR.services_by_name["FloatingIpService"].full_name]
