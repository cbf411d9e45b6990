"""The gateway's calls to the network service's LoadBalancerService and CertificateService. Each
call carries the request's principal; network checks the tenant again from it, and a refusal
raises the public error of the same meaning."""

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


class LoadBalancerClient:
    def __init__(self, channel: Callable[[], aio.Channel]) -> None:
        self._channel = channel

    def _stub(self) -> pb_grpc.LoadBalancerServiceAsyncStub:
        return pb_grpc.LoadBalancerServiceStub(self._channel())

    async def create(self, request: pb.CreateLoadBalancerRequest) -> pb.CreateLoadBalancerResponse:
        return await backend_call(BACKEND, self._stub().CreateLoadBalancer(request))

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
    ) -> pb.ListLoadBalancersResponse:
        request = pb.ListLoadBalancersRequest(
            user_id=user_id,
            organization_id=organization_id,
            name=name,
            label_selector=label_selector,
            sort=sort,
            page=page,
            per_page=per_page,
        )
        return await backend_call(BACKEND, self._stub().ListLoadBalancers(request))

    async def get(self, lb_id: int, organization_id: int) -> pb.LoadBalancer:
        request = pb.GetLoadBalancerRequest(load_balancer_id=lb_id, organization_id=organization_id)
        return (await backend_call(BACKEND, self._stub().GetLoadBalancer(request))).load_balancer

    async def update(
        self, lb_id: int, organization_id: int, *, name: str | None, labels: Mapping[str, str] | None
    ) -> pb.LoadBalancer:
        request = pb.UpdateLoadBalancerRequest(
            load_balancer_id=lb_id, organization_id=organization_id, set_labels=labels is not None, labels=labels or {}
        )
        if name is not None:
            request.name = name
        return (await backend_call(BACKEND, self._stub().UpdateLoadBalancer(request))).load_balancer

    async def delete(self, lb_id: int, organization_id: int) -> None:
        request = pb.DeleteLoadBalancerRequest(load_balancer_id=lb_id, organization_id=organization_id)
        await backend_call(BACKEND, self._stub().DeleteLoadBalancer(request))

    async def start(self, request: pb.StartLoadBalancerActionRequest) -> pb.Action:
        return (await backend_call(BACKEND, self._stub().StartLoadBalancerAction(request))).action

    async def action(self, action_id: int, organization_id: int) -> pb.Action:
        request = pb.GetLoadBalancerActionRequest(action_id=action_id, organization_id=organization_id)
        return (await backend_call(BACKEND, self._stub().GetLoadBalancerAction(request))).action

    async def actions(self, request: pb.ListLoadBalancerActionsRequest) -> pb.ListLoadBalancerActionsResponse:
        return await backend_call(BACKEND, self._stub().ListLoadBalancerActions(request))

    async def of_servers(self, server_ids: Sequence[int]) -> dict[int, list[int]]:
        """The load balancers targeting each of those servers (one call for a page of servers).
        A server's answer does not fail for network: while network does not answer, none is shown."""
        if not server_ids:
            return {}
        request = pb.ServerLoadBalancersRequest(server_ids=server_ids)
        try:
            answer = await backend_call(BACKEND, self._stub().ServerLoadBalancers(request))
        except (errors.Unavailable, BackendTimeout) as exc:
            log.warning("server_load_balancers_unavailable", error=exc.message)
            return {}
        found: dict[int, list[int]] = {}
        for entry in answer.load_balancers:
            found.setdefault(entry.server_id, []).append(entry.load_balancer_id)
        return found


class CertificateClient:
    def __init__(self, channel: Callable[[], aio.Channel]) -> None:
        self._channel = channel

    def _stub(self) -> pb_grpc.CertificateServiceAsyncStub:
        return pb_grpc.CertificateServiceStub(self._channel())

    async def create(self, request: pb.CreateCertificateRequest) -> pb.Certificate:
        return (await backend_call(BACKEND, self._stub().CreateCertificate(request))).certificate

    async def search(self, request: pb.ListCertificatesRequest) -> pb.ListCertificatesResponse:
        return await backend_call(BACKEND, self._stub().ListCertificates(request))

    async def get(self, certificate_id: int, organization_id: int) -> pb.Certificate:
        request = pb.GetCertificateRequest(certificate_id=certificate_id, organization_id=organization_id)
        return (await backend_call(BACKEND, self._stub().GetCertificate(request))).certificate

    async def update(
        self, certificate_id: int, organization_id: int, *, name: str | None, labels: Mapping[str, str] | None
    ) -> pb.Certificate:
        request = pb.UpdateCertificateRequest(
            certificate_id=certificate_id,
            organization_id=organization_id,
            set_labels=labels is not None,
            labels=labels or {},
        )
        if name is not None:
            request.name = name
        return (await backend_call(BACKEND, self._stub().UpdateCertificate(request))).certificate

    async def delete(self, certificate_id: int, organization_id: int) -> None:
        request = pb.DeleteCertificateRequest(certificate_id=certificate_id, organization_id=organization_id)
        await backend_call(BACKEND, self._stub().DeleteCertificate(request))
