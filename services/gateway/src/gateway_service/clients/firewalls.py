"""The gateway's calls to the network service's FirewallService (firewalls and their actions).
Each call carries the request's principal; network checks the tenant again from it, and a
refusal raises the public error of the same meaning."""

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
log = get_logger(__name__)


class FirewallClient:
    def __init__(self, channel: Callable[[], aio.Channel]) -> None:
        self._channel = channel

    def _stub(self) -> pb_grpc.FirewallServiceAsyncStub:
        return pb_grpc.FirewallServiceStub(self._channel())

    async def create(
        self,
        user_id: int,
        organization_id: int,
        *,
        name: str,
        rules: Sequence[pb.FirewallRule],
        labels: Mapping[str, str],
        apply_to: pb.FirewallTargets,
    ) -> pb.CreateFirewallResponse:
        request = pb.CreateFirewallRequest(
            user_id=user_id,
            organization_id=organization_id,
            name=name,
            rules=rules,
            labels=labels,
            apply_to=apply_to,
        )
        return await backend_call(BACKEND, self._stub().CreateFirewall(request))

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
    ) -> pb.ListFirewallsResponse:
        request = pb.ListFirewallsRequest(
            user_id=user_id,
            organization_id=organization_id,
            name=name,
            label_selector=label_selector,
            sort=sort,
            page=page,
            per_page=per_page,
        )
        return await backend_call(BACKEND, self._stub().ListFirewalls(request))

    async def get(self, firewall_id: int, organization_id: int) -> pb.Firewall:
        request = pb.GetFirewallRequest(firewall_id=firewall_id, organization_id=organization_id)
        return (await backend_call(BACKEND, self._stub().GetFirewall(request))).firewall

    async def update(
        self, firewall_id: int, organization_id: int, *, name: str | None, labels: Mapping[str, str] | None
    ) -> pb.Firewall:
        request = pb.UpdateFirewallRequest(
            firewall_id=firewall_id, organization_id=organization_id, set_labels=labels is not None, labels=labels or {}
        )
        if name is not None:
            request.name = name
        return (await backend_call(BACKEND, self._stub().UpdateFirewall(request))).firewall

    async def delete(self, firewall_id: int, organization_id: int) -> None:
        request = pb.DeleteFirewallRequest(firewall_id=firewall_id, organization_id=organization_id)
        await backend_call(BACKEND, self._stub().DeleteFirewall(request))

    async def set_rules(self, firewall_id: int, organization_id: int, rules: Sequence[pb.FirewallRule]) -> pb.Action:
        request = pb.SetFirewallRulesRequest(firewall_id=firewall_id, organization_id=organization_id, rules=rules)
        return (await backend_call(BACKEND, self._stub().SetFirewallRules(request))).action

    async def apply(self, firewall_id: int, organization_id: int, targets: pb.FirewallTargets) -> pb.Action:
        request = pb.ApplyFirewallRequest(firewall_id=firewall_id, organization_id=organization_id, apply_to=targets)
        return (await backend_call(BACKEND, self._stub().ApplyFirewall(request))).action

    async def remove(self, firewall_id: int, organization_id: int, targets: pb.FirewallTargets) -> pb.Action:
        request = pb.RemoveFirewallRequest(
            firewall_id=firewall_id, organization_id=organization_id, remove_from=targets
        )
        return (await backend_call(BACKEND, self._stub().RemoveFirewall(request))).action

    async def action(self, action_id: int, organization_id: int) -> pb.Action:
        request = pb.GetFirewallActionRequest(action_id=action_id, organization_id=organization_id)
        return (await backend_call(BACKEND, self._stub().GetFirewallAction(request))).action

    async def actions(
        self,
        user_id: int,
        organization_id: int,
        *,
        firewall_id: int = 0,
        ids: Sequence[int] = (),
        status: Sequence[str] = (),
        sort: Sequence[str] = (),
        page: int = 1,
        per_page: int = 25,
    ) -> pb.ListFirewallActionsResponse:
        request = pb.ListFirewallActionsRequest(
            user_id=user_id,
            organization_id=organization_id,
            firewall_id=firewall_id,
            ids=ids,
            status=status,
            sort=sort,
            page=page,
            per_page=per_page,
        )
        return await backend_call(BACKEND, self._stub().ListFirewallActions(request))

    async def of_servers(self, server_ids: Sequence[int]) -> dict[int, list[pb.ServerFirewall]]:
        """The firewalls covering each of those servers (one call for a page of servers). A
        server's answer does not fail for network: while network does not answer, none is shown."""
        if not server_ids:
            return {}
        request = pb.ServerFirewallsRequest(server_ids=server_ids)
        try:
            answer = await backend_call(BACKEND, self._stub().ServerFirewalls(request))
        except (errors.Unavailable, BackendTimeout) as exc:
            log.warning("server_firewalls_unavailable", error=exc.message)
            return {}
        found: dict[int, list[pb.ServerFirewall]] = {}
        for entry in answer.firewalls:
            found.setdefault(entry.server_id, []).append(entry)
        return found
