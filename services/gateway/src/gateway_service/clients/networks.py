"""The gateway's calls to the network service's PrivateNetworkService (private networks and the
server actions that attach servers to them). Each call carries the request's principal; network
checks the tenant again from it, and a refusal raises the public error of the same meaning."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from grpc import aio

from cloudplatform.compute.v1 import compute_service_pb2 as cpb
from cloudplatform.network.v1 import network_service_pb2 as pb
from cloudplatform.network.v1 import network_service_pb2_grpc as pb_grpc
from cpshared import errors
from cpshared.logging import get_logger
from gateway_service.clients.calls import BackendTimeout, backend_call
from gateway_service.clients.floating_ips import CREATE_DEADLINE_SECONDS

BACKEND = "network"
log = get_logger(__name__)


class NetworkClient:
    def __init__(self, channel: Callable[[], aio.Channel]) -> None:
        self._channel = channel

    def _stub(self) -> pb_grpc.PrivateNetworkServiceAsyncStub:
        return pb_grpc.PrivateNetworkServiceStub(self._channel())

    async def create(
        self,
        user_id: int,
        organization_id: int,
        *,
        name: str,
        ip_range: str,
        subnets: Sequence[pb.Subnet],
        routes: Sequence[pb.Route],
        labels: Mapping[str, str],
        expose_routes_to_vswitch: bool,
    ) -> pb.CreateNetworkResponse:
        request = pb.CreateNetworkRequest(
            user_id=user_id,
            organization_id=organization_id,
            name=name,
            ip_range=ip_range,
            subnets=subnets,
            routes=routes,
            labels=labels,
            expose_routes_to_vswitch=expose_routes_to_vswitch,
        )
        return await backend_call(BACKEND, self._stub().CreateNetwork(request, timeout=CREATE_DEADLINE_SECONDS))

    async def search(
        self,
        user_id: int,
        organization_id: int,
        *,
        name: str,
        label_selector: Sequence[cpb.LabelRequirement],
        sort: Sequence[str],
        page: int,
        per_page: int,
    ) -> pb.ListNetworksResponse:
        request = pb.ListNetworksRequest(
            user_id=user_id,
            organization_id=organization_id,
            name=name,
            label_selector=label_selector,
            sort=sort,
            page=page,
            per_page=per_page,
        )
        return await backend_call(BACKEND, self._stub().ListNetworks(request))

    async def get(self, network_id: int, organization_id: int) -> pb.PrivateNetwork:
        request = pb.GetNetworkRequest(network_id=network_id, organization_id=organization_id)
        return (await backend_call(BACKEND, self._stub().GetNetwork(request))).network

    async def update(
        self,
        network_id: int,
        organization_id: int,
        *,
        name: str | None,
        labels: Mapping[str, str] | None,
        expose_routes_to_vswitch: bool | None,
    ) -> pb.PrivateNetwork:
        request = pb.UpdateNetworkRequest(
            network_id=network_id, organization_id=organization_id, set_labels=labels is not None, labels=labels or {}
        )
        if name is not None:
            request.name = name
        if expose_routes_to_vswitch is not None:
            request.expose_routes_to_vswitch = expose_routes_to_vswitch
        return (await backend_call(BACKEND, self._stub().UpdateNetwork(request))).network

    async def delete(self, network_id: int, organization_id: int) -> None:
        request = pb.DeleteNetworkRequest(network_id=network_id, organization_id=organization_id)
        await backend_call(BACKEND, self._stub().DeleteNetwork(request))

    async def add_subnet(self, network_id: int, organization_id: int, subnet: pb.Subnet) -> pb.Action:
        request = pb.AddSubnetRequest(network_id=network_id, organization_id=organization_id, subnet=subnet)
        return (await backend_call(BACKEND, self._stub().AddSubnet(request))).action

    async def delete_subnet(self, network_id: int, organization_id: int, ip_range: str) -> pb.Action:
        request = pb.DeleteSubnetRequest(network_id=network_id, organization_id=organization_id, ip_range=ip_range)
        return (await backend_call(BACKEND, self._stub().DeleteSubnet(request))).action

    async def add_route(self, network_id: int, organization_id: int, route: pb.Route) -> pb.Action:
        request = pb.AddRouteRequest(network_id=network_id, organization_id=organization_id, route=route)
        return (await backend_call(BACKEND, self._stub().AddRoute(request))).action

    async def delete_route(self, network_id: int, organization_id: int, route: pb.Route) -> pb.Action:
        request = pb.DeleteRouteRequest(network_id=network_id, organization_id=organization_id, route=route)
        return (await backend_call(BACKEND, self._stub().DeleteRoute(request))).action

    async def change_ip_range(self, network_id: int, organization_id: int, ip_range: str) -> pb.Action:
        request = pb.ChangeIpRangeRequest(network_id=network_id, organization_id=organization_id, ip_range=ip_range)
        return (await backend_call(BACKEND, self._stub().ChangeIpRange(request))).action

    async def change_protection(self, network_id: int, organization_id: int, delete: bool | None) -> pb.Action:
        request = pb.ChangeNetworkProtectionRequest(network_id=network_id, organization_id=organization_id)
        if delete is not None:
            request.delete = delete
        return (await backend_call(BACKEND, self._stub().ChangeNetworkProtection(request))).action

    async def attach(
        self,
        server_id: int,
        organization_id: int,
        network_id: int,
        *,
        ip: str,
        alias_ips: Sequence[str],
        ip_range: str,
    ) -> pb.Action:
        request = pb.AttachServerRequest(
            server_id=server_id,
            organization_id=organization_id,
            network_id=network_id,
            ip=ip,
            alias_ips=alias_ips,
            ip_range=ip_range,
        )
        return (await backend_call(BACKEND, self._stub().AttachServer(request))).action

    async def detach(self, server_id: int, organization_id: int, network_id: int) -> pb.Action:
        request = pb.DetachServerRequest(server_id=server_id, organization_id=organization_id, network_id=network_id)
        return (await backend_call(BACKEND, self._stub().DetachServer(request))).action

    async def change_alias_ips(
        self, server_id: int, organization_id: int, network_id: int, alias_ips: Sequence[str]
    ) -> pb.Action:
        request = pb.ChangeAliasIpsRequest(
            server_id=server_id, organization_id=organization_id, network_id=network_id, alias_ips=alias_ips
        )
        return (await backend_call(BACKEND, self._stub().ChangeAliasIps(request))).action

    async def actions(
        self,
        user_id: int,
        organization_id: int,
        *,
        network_id: int = 0,
        ids: Sequence[int] = (),
        status: Sequence[str] = (),
        sort: Sequence[str] = (),
        page: int = 1,
        per_page: int = 25,
    ) -> pb.ListNetworkActionsResponse:
        request = pb.ListNetworkActionsRequest(
            user_id=user_id,
            organization_id=organization_id,
            network_id=network_id,
            ids=ids,
            status=status,
            sort=sort,
            page=page,
            per_page=per_page,
        )
        return await backend_call(BACKEND, self._stub().ListNetworkActions(request))

    async def of_servers(self, server_ids: Sequence[int]) -> dict[int, list[pb.ServerNetwork]]:
        """The networks each of those servers is attached to (one call for a page of servers).
        A server's answer does not fail for network: while network does not answer, none is shown."""
        if not server_ids:
            return {}
        request = pb.ServerNetworksRequest(server_ids=server_ids)
        try:
            answer = await backend_call(BACKEND, self._stub().ServerNetworks(request))
        except (errors.Unavailable, BackendTimeout) as exc:
            log.warning("server_networks_unavailable", error=exc.message)
            return {}
        found: dict[int, list[pb.ServerNetwork]] = {}
        for entry in answer.attachments:
            found.setdefault(entry.server_id, []).append(entry)
        return found
