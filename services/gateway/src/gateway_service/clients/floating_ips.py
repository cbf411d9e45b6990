"""The gateway's calls to the network service's FloatingIpService. Each call carries the
request's principal (the channel sends it on); network checks the tenant again from it, and a
refusal raises the public error of the same meaning (clients/calls.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from grpc import aio

from cloudplatform.compute.v1 import compute_service_pb2 as cpb
from cloudplatform.network.v1 import network_service_pb2 as pb
from cloudplatform.network.v1 import network_service_pb2_grpc as pb_grpc
from cpshared import errors
from cpshared.logging import get_logger
from gateway_service.clients.calls import BackendTimeout, backend_call

BACKEND = "network"
CREATE_DEADLINE_SECONDS = 35.0
"""Network answers a create once its worker made the floating IP upstream (at most its
CP_CREATE_WAIT_SECONDS, and never past this deadline): more than the default deadline allows."""
log = get_logger(__name__)


class FloatingIpClient:
    def __init__(self, channel: Callable[[], aio.Channel]) -> None:
        self._channel = channel

    def _fips(self) -> pb_grpc.FloatingIpServiceAsyncStub:
        return pb_grpc.FloatingIpServiceStub(self._channel())

    async def create(
        self,
        user_id: int,
        organization_id: int,
        *,
        type: str,
        home_location: str,
        server_id: int,
        description: str,
        name: str,
        labels: Mapping[str, str],
    ) -> pb.CreateFloatingIpResponse:
        request = pb.CreateFloatingIpRequest(
            user_id=user_id,
            organization_id=organization_id,
            type=type,
            home_location=home_location,
            server_id=server_id,
            description=description,
            name=name,
            labels=labels,
        )
        return await backend_call(BACKEND, self._fips().CreateFloatingIp(request, timeout=CREATE_DEADLINE_SECONDS))

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
    ) -> pb.ListFloatingIpsResponse:
        request = pb.ListFloatingIpsRequest(
            user_id=user_id,
            organization_id=organization_id,
            name=name,
            label_selector=label_selector,
            sort=sort,
            page=page,
            per_page=per_page,
        )
        return await backend_call(BACKEND, self._fips().ListFloatingIps(request))

    async def get(self, floating_ip_id: int, organization_id: int) -> pb.FloatingIp:
        request = pb.GetFloatingIpRequest(floating_ip_id=floating_ip_id, organization_id=organization_id)
        return (await backend_call(BACKEND, self._fips().GetFloatingIp(request))).floating_ip

    async def update(
        self,
        floating_ip_id: int,
        organization_id: int,
        *,
        name: str | None,
        description: str | None,
        labels: Mapping[str, str] | None,
    ) -> pb.FloatingIp:
        request = pb.UpdateFloatingIpRequest(
            floating_ip_id=floating_ip_id,
            organization_id=organization_id,
            set_labels=labels is not None,
            labels=labels or {},
        )
        if name is not None:
            request.name = name
        if description is not None:
            request.description = description
        return (await backend_call(BACKEND, self._fips().UpdateFloatingIp(request))).floating_ip

    async def delete(self, floating_ip_id: int, organization_id: int) -> None:
        request = pb.DeleteFloatingIpRequest(floating_ip_id=floating_ip_id, organization_id=organization_id)
        await backend_call(BACKEND, self._fips().DeleteFloatingIp(request))

    async def assign(self, floating_ip_id: int, organization_id: int, server_id: int) -> pb.Action:
        request = pb.AssignFloatingIpRequest(
            floating_ip_id=floating_ip_id, organization_id=organization_id, server_id=server_id
        )
        return (await backend_call(BACKEND, self._fips().AssignFloatingIp(request))).action

    async def unassign(self, floating_ip_id: int, organization_id: int) -> pb.Action:
        request = pb.UnassignFloatingIpRequest(floating_ip_id=floating_ip_id, organization_id=organization_id)
        return (await backend_call(BACKEND, self._fips().UnassignFloatingIp(request))).action

    async def change_dns_ptr(
        self, floating_ip_id: int, organization_id: int, ip: str, dns_ptr: str | None
    ) -> pb.Action:
        request = pb.ChangeFloatingIpDnsPtrRequest(
            floating_ip_id=floating_ip_id, organization_id=organization_id, ip=ip
        )
        if dns_ptr is not None:
            request.dns_ptr = dns_ptr
        return (await backend_call(BACKEND, self._fips().ChangeFloatingIpDnsPtr(request))).action

    async def change_protection(self, floating_ip_id: int, organization_id: int, delete: bool | None) -> pb.Action:
        request = pb.ChangeFloatingIpProtectionRequest(floating_ip_id=floating_ip_id, organization_id=organization_id)
        if delete is not None:
            request.delete = delete
        return (await backend_call(BACKEND, self._fips().ChangeFloatingIpProtection(request))).action

    async def action(self, action_id: int, organization_id: int) -> pb.Action:
        request = pb.GetActionRequest(action_id=action_id, organization_id=organization_id)
        return (await backend_call(BACKEND, self._fips().GetAction(request))).action

    async def actions(
        self,
        user_id: int,
        organization_id: int,
        *,
        floating_ip_id: int = 0,
        ids: Sequence[int] = (),
        status: Sequence[str] = (),
        sort: Sequence[str] = (),
        page: int = 1,
        per_page: int = 25,
    ) -> pb.ListActionsResponse:
        request = pb.ListActionsRequest(
            user_id=user_id,
            organization_id=organization_id,
            floating_ip_id=floating_ip_id,
            ids=ids,
            status=status,
            sort=sort,
            page=page,
            per_page=per_page,
        )
        return await backend_call(BACKEND, self._fips().ListActions(request))

    async def of_servers(self, server_ids: Sequence[int]) -> dict[int, list[int]]:
        """The floating IPs assigned to each of those servers (one call for a page of servers).
        A server's answer does not fail for network: while network does not answer, none is shown."""
        if not server_ids:
            return {}
        request = pb.ServerFloatingIpsRequest(server_ids=server_ids)
        try:
            answer = await backend_call(BACKEND, self._fips().ServerFloatingIps(request))
        except (errors.Unavailable, BackendTimeout) as exc:
            log.warning("server_floating_ips_unavailable", error=exc.message)
            return {}
        return {entry.server_id: list(entry.floating_ip_ids) for entry in answer.servers}
