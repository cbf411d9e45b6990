"""The PrivateNetworkService gRPC API: protobuf in, a use case on a worker thread, protobuf out.

Tenancy as in :mod:`network_service.entrypoints.floating_ip_servicer`: a user reaches its own
networks and those of the organization its request names (if it is a member); admins and
services every one; another tenant's answers NOT_FOUND. A server action checks the server with
compute (the caller must reach it too) and the network here."""

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
from network_service.bootstrap import Network as Service
from network_service.domain.actions import RUNNING
from network_service.domain.networks import Network
from network_service.entrypoints.floating_ip_servicer import (
    ACTION_SORTABLE,
    DEADLINE_MARGIN,
    POLL_SECONDS,
    _per_page,
    _reach,
    action_message,
    sort_order,
)
from network_service.service_layer import networks

Context = aio.ServicerContext[Any, Any]
MAX_SUBNETS_IN_REQUEST = 50
MAX_ROUTES_IN_REQUEST = 100


def network_message(network: Network) -> pb.PrivateNetwork:
    return pb.PrivateNetwork(
        id=network.id,
        user_id=network.user_id,
        organization_id=network.organization_id or 0,
        name=network.name,
        ip_range=network.ip_range,
        subnets=[
            pb.Subnet(
                type=s.type,
                ip_range=s.ip_range,
                network_zone=s.network_zone,
                gateway=s.gateway,
                vswitch_id=s.vswitch_id or 0,
            )
            for s in network.subnets
        ],
        routes=[pb.Route(destination=r.destination, gateway=r.gateway) for r in network.routes],
        servers=[
            pb.NetworkServer(server_id=a.server_id, ip=a.ip, alias_ips=a.alias_ips, mac_address=a.mac_address or "")
            for a in network.attachments
        ],
        expose_routes_to_vswitch=network.expose_routes_to_vswitch,
        protection_delete=network.protection_delete,
        blocked=network.blocked,
        locked=network.locked,
        labels=network.labels,
        created_at=_ts(network.created_at),
        status=network.status,
    )


def _subnet(subnet: pb.Subnet) -> networks.NewSubnet:
    return networks.NewSubnet(
        type=subnet.type,
        network_zone=subnet.network_zone,
        ip_range=subnet.ip_range,
        vswitch_id=subnet.vswitch_id or None,
    )


class PrivateNetworkServicer(pb_grpc.PrivateNetworkServiceServicer):
    def __init__(self, service: Service, create_wait_seconds: float = 30.0) -> None:
        self._service = service
        self._create_wait = create_wait_seconds

    def _what(self, network_id: int) -> str:
        return f"network {network_id}"

    async def CreateNetwork(self, request: pb.CreateNetworkRequest, context: Context) -> pb.CreateNetworkResponse:  # noqa: N802
        authz.check_tenant(request.user_id, request.organization_id)
        if request.user_id <= 0:
            raise InvalidInput("user_id must name the user creating the network")
        if len(request.subnets) > MAX_SUBNETS_IN_REQUEST:
            raise InvalidInput(
                f"a network has at most {MAX_SUBNETS_IN_REQUEST} subnets",
                details={"fields": [{"name": "subnets", "messages": ["too many subnets"]}]},
            )
        if len(request.routes) > MAX_ROUTES_IN_REQUEST:
            raise InvalidInput(
                f"a network has at most {MAX_ROUTES_IN_REQUEST} routes",
                details={"fields": [{"name": "routes", "messages": ["too many routes"]}]},
            )
        cmd = networks.NewNetwork(
            user_id=request.user_id,
            organization_id=request.organization_id or None,
            name=request.name,
            ip_range=request.ip_range,
            subnets=[_subnet(s) for s in request.subnets],
            routes=[(r.destination, r.gateway) for r in request.routes],
            labels=dict(request.labels),
            expose_routes_to_vswitch=request.expose_routes_to_vswitch,
        )
        service = self._service
        network, action = await asyncio.to_thread(lambda: networks.create(cmd, service.uow(), service.network_quotas))
        # Hetzner answers a network ready to use: wait (bounded by the configured wait and the
        # caller's deadline, less a margin to answer) for the worker to make it upstream.
        remaining = context.time_remaining()
        wait = self._create_wait if remaining is None else min(self._create_wait, remaining - DEADLINE_MARGIN)
        deadline = time.monotonic() + wait
        while action.status == RUNNING and time.monotonic() < deadline:
            await asyncio.sleep(POLL_SECONDS)
            action = await asyncio.to_thread(networks.action, action.id, lambda *_: None, service.uow())
        current = await asyncio.to_thread(_any, service, network.id)
        return pb.CreateNetworkResponse(network=network_message(current or network), action=action_message(action))

    async def ListNetworks(self, request: pb.ListNetworksRequest, context: Context) -> pb.ListNetworksResponse:  # noqa: N802
        user_id, organization_id = authz.list_scope(
            request.all_tenants,
            request.user_id,
            request.organization_id,
            (r.operator for r in request.label_selector),
            "ListNetworks",
        )
        query = networks.Search(
            user_id=user_id,
            organization_id=organization_id,
            name=request.name,
            requirements=list(request.label_selector),
            order=sort_order(list(request.sort)),
            page=max(request.page, 1),
            per_page=_per_page(request.per_page),
        )
        found, total = await asyncio.to_thread(networks.search, query, self._service.uow())
        return pb.ListNetworksResponse(networks=[network_message(n) for n in found], total_entries=total)

    async def GetNetwork(self, request: pb.GetNetworkRequest, context: Context) -> pb.GetNetworkResponse:  # noqa: N802
        reach = _reach(request.organization_id, self._what(request.network_id))
        network = await asyncio.to_thread(networks.get, request.network_id, reach, self._service.uow())
        return pb.GetNetworkResponse(network=network_message(network))

    async def UpdateNetwork(self, request: pb.UpdateNetworkRequest, context: Context) -> pb.UpdateNetworkResponse:  # noqa: N802
        reach = _reach(request.organization_id, self._what(request.network_id))
        network = await asyncio.to_thread(
            networks.update,
            request.network_id,
            request.name if request.HasField("name") else None,
            dict(request.labels) if request.set_labels else None,
            request.expose_routes_to_vswitch if request.HasField("expose_routes_to_vswitch") else None,
            reach,
            self._service.uow(),
        )
        return pb.UpdateNetworkResponse(network=network_message(network))

    async def DeleteNetwork(self, request: pb.DeleteNetworkRequest, context: Context) -> pb.DeleteNetworkResponse:  # noqa: N802
        reach = _reach(request.organization_id, self._what(request.network_id))
        await asyncio.to_thread(networks.delete, request.network_id, reach, self._service.uow())
        return pb.DeleteNetworkResponse()

    async def AddSubnet(self, request: pb.AddSubnetRequest, context: Context) -> pb.AddSubnetResponse:  # noqa: N802
        reach = _reach(request.organization_id, self._what(request.network_id))
        action = await asyncio.to_thread(
            networks.add_subnet, request.network_id, _subnet(request.subnet), reach, self._service.uow()
        )
        return pb.AddSubnetResponse(action=action_message(action))

    async def DeleteSubnet(self, request: pb.DeleteSubnetRequest, context: Context) -> pb.DeleteSubnetResponse:  # noqa: N802
        reach = _reach(request.organization_id, self._what(request.network_id))
        action = await asyncio.to_thread(
            networks.delete_subnet, request.network_id, request.ip_range, reach, self._service.uow()
        )
        return pb.DeleteSubnetResponse(action=action_message(action))

    async def AddRoute(self, request: pb.AddRouteRequest, context: Context) -> pb.AddRouteResponse:  # noqa: N802
        reach = _reach(request.organization_id, self._what(request.network_id))
        route = request.route
        action = await asyncio.to_thread(
            networks.add_route, request.network_id, route.destination, route.gateway, reach, self._service.uow()
        )
        return pb.AddRouteResponse(action=action_message(action))

    async def DeleteRoute(self, request: pb.DeleteRouteRequest, context: Context) -> pb.DeleteRouteResponse:  # noqa: N802
        reach = _reach(request.organization_id, self._what(request.network_id))
        route = request.route
        action = await asyncio.to_thread(
            networks.delete_route, request.network_id, route.destination, route.gateway, reach, self._service.uow()
        )
        return pb.DeleteRouteResponse(action=action_message(action))

    async def ChangeIpRange(self, request: pb.ChangeIpRangeRequest, context: Context) -> pb.ChangeIpRangeResponse:  # noqa: N802
        reach = _reach(request.organization_id, self._what(request.network_id))
        action = await asyncio.to_thread(
            networks.change_ip_range, request.network_id, request.ip_range, reach, self._service.uow()
        )
        return pb.ChangeIpRangeResponse(action=action_message(action))

    async def ChangeNetworkProtection(  # noqa: N802
        self, request: pb.ChangeNetworkProtectionRequest, context: Context
    ) -> pb.ChangeNetworkProtectionResponse:
        reach = _reach(request.organization_id, self._what(request.network_id))
        action = await asyncio.to_thread(
            networks.change_protection,
            request.network_id,
            request.delete if request.HasField("delete") else None,
            reach,
            self._service.uow(),
        )
        return pb.ChangeNetworkProtectionResponse(action=action_message(action))

    async def AttachServer(self, request: pb.AttachServerRequest, context: Context) -> pb.AttachServerResponse:  # noqa: N802
        reach = _reach(request.organization_id, f"server {request.server_id}")
        cmd = networks.Attach(
            server_id=request.server_id,
            network_id=request.network_id,
            ip=request.ip,
            alias_ips=tuple(request.alias_ips),
            ip_range=request.ip_range,
        )
        service = self._service
        action = await asyncio.to_thread(lambda: networks.attach(cmd, reach, service.uow(), service.compute))
        return pb.AttachServerResponse(action=action_message(action))

    async def DetachServer(self, request: pb.DetachServerRequest, context: Context) -> pb.DetachServerResponse:  # noqa: N802
        reach = _reach(request.organization_id, f"server {request.server_id}")
        service = self._service
        action = await asyncio.to_thread(
            lambda: networks.detach(request.server_id, request.network_id, reach, service.uow(), service.compute)
        )
        return pb.DetachServerResponse(action=action_message(action))

    async def ChangeAliasIps(self, request: pb.ChangeAliasIpsRequest, context: Context) -> pb.ChangeAliasIpsResponse:  # noqa: N802
        reach = _reach(request.organization_id, f"server {request.server_id}")
        service = self._service
        action = await asyncio.to_thread(
            lambda: networks.change_alias_ips(
                request.server_id, request.network_id, list(request.alias_ips), reach, service.uow(), service.compute
            )
        )
        return pb.ChangeAliasIpsResponse(action=action_message(action))

    async def ServerNetworks(self, request: pb.ServerNetworksRequest, context: Context) -> pb.ServerNetworksResponse:  # noqa: N802
        def reach(user_id: int, organization_id: int | None) -> None:
            authz.ensure_reaches(user_id, organization_id, organization_id or 0, "network")

        found = await asyncio.to_thread(networks.of_servers, list(request.server_ids), reach, self._service.uow())
        return pb.ServerNetworksResponse(
            attachments=[
                pb.ServerNetwork(
                    server_id=server_id,
                    network_id=network_id,
                    ip=a.ip,
                    alias_ips=a.alias_ips,
                    mac_address=a.mac_address or "",
                )
                for server_id, attached in sorted(found.items())
                for network_id, a in attached
            ]
        )

    async def ListNetworkActions(  # noqa: N802
        self, request: pb.ListNetworkActionsRequest, context: Context
    ) -> pb.ListNetworkActionsResponse:
        user_id, organization_id = authz.list_scope(
            False, request.user_id, request.organization_id, (), "ListNetworkActions"
        )
        for status in request.status:
            if status not in ("running", "success", "error"):
                raise InvalidInput(
                    f"status {status!r} is unknown; use running, success or error",
                    details={"fields": [{"name": "status", "messages": ["unknown status"]}]},
                )
        query = networks.ActionSearch(
            user_id=user_id,
            organization_id=organization_id,
            network_id=request.network_id,
            ids=list(request.ids),
            statuses=list(request.status),
            order=sort_order(list(request.sort), ACTION_SORTABLE),
            page=max(request.page, 1),
            per_page=_per_page(request.per_page),
        )
        reach = _reach(request.organization_id, self._what(request.network_id))
        found, total = await asyncio.to_thread(networks.actions, query, reach, self._service.uow())
        return pb.ListNetworkActionsResponse(actions=[action_message(a) for a in found], total_entries=total)


def _any(service: Service, network_id: int) -> Network | None:
    with service.uow() as uow:
        return uow.networks.get_any(network_id)


def add_network_servicer(server: aio.Server, service: Service, create_wait_seconds: float = 30.0) -> list[str]:
    pb_grpc.add_PrivateNetworkServiceServicer_to_server(PrivateNetworkServicer(service, create_wait_seconds), server)
    return [pb.DESCRIPTOR.services_by_name["PrivateNetworkService"].full_name]
