"""The gateway's calls to the network service's PrimaryIpService. Each call carries the
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
from gateway_service.clients.floating_ips import CREATE_DEADLINE_SECONDS

BACKEND = "network"
log = get_logger(__name__)


class PrimaryIpClient:
    def __init__(self, channel: Callable[[], aio.Channel]) -> None:
        self._channel = channel

    def _pips(self) -> pb_grpc.PrimaryIpServiceAsyncStub:
        return pb_grpc.PrimaryIpServiceStub(self._channel())

    async def create(
        self,
        user_id: int,
        organization_id: int,
        *,
        type: str,
        name: str,
        location: str,
        assignee_id: int,
        assignee_type: str,
        auto_delete: bool,
        labels: Mapping[str, str],
    ) -> pb.CreatePrimaryIpResponse:
        request = pb.CreatePrimaryIpRequest(
            user_id=user_id,
            organization_id=organization_id,
            type=type,
            name=name,
            location=location,
            assignee_id=assignee_id,
            assignee_type=assignee_type,
            auto_delete=auto_delete,
            labels=labels,
        )
        return await backend_call(BACKEND, self._pips().CreatePrimaryIp(request, timeout=CREATE_DEADLINE_SECONDS))

    async def search(
        self,
        user_id: int,
        organization_id: int,
        *,
        name: str,
        ip: str,
        label_selector: Sequence[cpb.LabelRequirement],
        sort: Sequence[str],
        page: int,
        per_page: int,
    ) -> pb.ListPrimaryIpsResponse:
        request = pb.ListPrimaryIpsRequest(
            user_id=user_id,
            organization_id=organization_id,
            name=name,
            ip=ip,
            label_selector=label_selector,
            sort=sort,
            page=page,
            per_page=per_page,
        )
        return await backend_call(BACKEND, self._pips().ListPrimaryIps(request))

    async def get(self, primary_ip_id: int, organization_id: int) -> pb.PrimaryIp:
        request = pb.GetPrimaryIpRequest(primary_ip_id=primary_ip_id, organization_id=organization_id)
        return (await backend_call(BACKEND, self._pips().GetPrimaryIp(request))).primary_ip

    async def update(
        self,
        primary_ip_id: int,
        organization_id: int,
        *,
        name: str | None,
        labels: Mapping[str, str] | None,
        auto_delete: bool | None,
    ) -> pb.PrimaryIp:
        request = pb.UpdatePrimaryIpRequest(
            primary_ip_id=primary_ip_id,
            organization_id=organization_id,
            set_labels=labels is not None,
            labels=labels or {},
        )
        if name is not None:
            request.name = name
        if auto_delete is not None:
            request.auto_delete = auto_delete
        return (await backend_call(BACKEND, self._pips().UpdatePrimaryIp(request))).primary_ip

    async def delete(self, primary_ip_id: int, organization_id: int) -> None:
        request = pb.DeletePrimaryIpRequest(primary_ip_id=primary_ip_id, organization_id=organization_id)
        await backend_call(BACKEND, self._pips().DeletePrimaryIp(request))

    async def assign(self, primary_ip_id: int, organization_id: int, assignee_id: int, assignee_type: str) -> pb.Action:
        request = pb.AssignPrimaryIpRequest(
            primary_ip_id=primary_ip_id,
            organization_id=organization_id,
            assignee_id=assignee_id,
            assignee_type=assignee_type,
        )
        return (await backend_call(BACKEND, self._pips().AssignPrimaryIp(request))).action

    async def unassign(self, primary_ip_id: int, organization_id: int) -> pb.Action:
        request = pb.UnassignPrimaryIpRequest(primary_ip_id=primary_ip_id, organization_id=organization_id)
        return (await backend_call(BACKEND, self._pips().UnassignPrimaryIp(request))).action

    async def change_dns_ptr(self, primary_ip_id: int, organization_id: int, ip: str, dns_ptr: str | None) -> pb.Action:
        request = pb.ChangePrimaryIpDnsPtrRequest(primary_ip_id=primary_ip_id, organization_id=organization_id, ip=ip)
        if dns_ptr is not None:
            request.dns_ptr = dns_ptr
        return (await backend_call(BACKEND, self._pips().ChangePrimaryIpDnsPtr(request))).action

    async def change_protection(self, primary_ip_id: int, organization_id: int, delete: bool | None) -> pb.Action:
        request = pb.ChangePrimaryIpProtectionRequest(primary_ip_id=primary_ip_id, organization_id=organization_id)
        if delete is not None:
            request.delete = delete
        return (await backend_call(BACKEND, self._pips().ChangePrimaryIpProtection(request))).action

    async def actions(
        self,
        user_id: int,
        organization_id: int,
        *,
        primary_ip_id: int = 0,
        ids: Sequence[int] = (),
        status: Sequence[str] = (),
        sort: Sequence[str] = (),
        page: int = 1,
        per_page: int = 25,
    ) -> pb.ListPrimaryIpActionsResponse:
        request = pb.ListPrimaryIpActionsRequest(
            user_id=user_id,
            organization_id=organization_id,
            primary_ip_id=primary_ip_id,
            ids=ids,
            status=status,
            sort=sort,
            page=page,
            per_page=per_page,
        )
        return await backend_call(BACKEND, self._pips().ListPrimaryIpActions(request))

    async def of_servers(self, server_ids: Sequence[int]) -> dict[int, list[pb.PrimaryIp]]:
        """The primary IPs assigned to each of those servers (one call for a page of servers).
        A server's answer does not fail for network: while network does not answer, none is shown."""
        if not server_ids:
            return {}
        request = pb.ServerPrimaryIpsRequest(server_ids=server_ids)
        try:
            answer = await backend_call(BACKEND, self._pips().ServerPrimaryIps(request))
        except (errors.Unavailable, BackendTimeout) as exc:
            log.warning("server_primary_ips_unavailable", error=exc.message)
            return {}
        return {entry.server_id: list(entry.primary_ips) for entry in answer.servers}
