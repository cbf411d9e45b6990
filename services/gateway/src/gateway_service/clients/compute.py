"""The gateway's calls to the compute service's ComputeService: the catalog (datacenters, server
types with the platform's prices, images) and SSH keys. Each call carries the request's
principal (the channel sends it on); compute checks the tenant again from it, and a refusal
raises the public error of the same meaning (clients/calls.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from grpc import aio

from cloudplatform.compute.v1 import compute_service_pb2 as pb
from cloudplatform.compute.v1 import compute_service_pb2_grpc as pb_grpc
from gateway_service.clients.calls import backend_call

BACKEND = "compute"


class ComputeClient:
    def __init__(self, channel: Callable[[], aio.Channel]) -> None:
        # A callable, because the channel is opened in the app's lifespan, after wiring.
        self._channel = channel

    def _compute(self) -> pb_grpc.ComputeServiceAsyncStub:
        return pb_grpc.ComputeServiceStub(self._channel())

    async def datacenters(self) -> list[pb.Datacenter]:
        return list(
            (await backend_call(BACKEND, self._compute().ListDatacenters(pb.ListDatacentersRequest()))).datacenters
        )

    async def server_types(self) -> list[pb.ServerType]:
        return list(
            (await backend_call(BACKEND, self._compute().ListServerTypes(pb.ListServerTypesRequest()))).server_types
        )

    async def images(self) -> list[pb.Image]:
        return list((await backend_call(BACKEND, self._compute().ListImages(pb.ListImagesRequest()))).images)

    async def isos(self) -> list[pb.Iso]:
        return list((await backend_call(BACKEND, self._compute().ListIsos(pb.ListIsosRequest()))).isos)

    async def load_balancer_types(self) -> list[pb.LoadBalancerType]:
        request = pb.ListLoadBalancerTypesRequest()
        return list((await backend_call(BACKEND, self._compute().ListLoadBalancerTypes(request))).load_balancer_types)

    async def create_ssh_key(
        self, user_id: int, organization_id: int, name: str, public_key: str, labels: Mapping[str, str]
    ) -> pb.SshKey:
        request = pb.CreateSshKeyRequest(
            user_id=user_id, organization_id=organization_id, name=name, public_key=public_key, labels=labels
        )
        return (await backend_call(BACKEND, self._compute().CreateSshKey(request))).ssh_key

    async def list_ssh_keys(
        self,
        user_id: int,
        organization_id: int,
        *,
        name: str,
        fingerprint: str,
        label_selector: Sequence[pb.LabelRequirement],
        sort: Sequence[str],
        page: int,
        per_page: int,
    ) -> pb.ListSshKeysResponse:
        request = pb.ListSshKeysRequest(
            user_id=user_id,
            organization_id=organization_id,
            name=name,
            fingerprint=fingerprint,
            label_selector=label_selector,
            sort=sort,
            page=page,
            per_page=per_page,
        )
        return await backend_call(BACKEND, self._compute().ListSshKeys(request))

    async def get_ssh_key(self, ssh_key_id: int, user_id: int, organization_id: int) -> pb.SshKey:
        request = pb.GetSshKeyRequest(ssh_key_id=ssh_key_id, user_id=user_id, organization_id=organization_id)
        return (await backend_call(BACKEND, self._compute().GetSshKey(request))).ssh_key

    async def update_ssh_key(
        self,
        ssh_key_id: int,
        user_id: int,
        organization_id: int,
        name: str | None,
        labels: Mapping[str, str] | None,
    ) -> pb.SshKey:
        request = pb.UpdateSshKeyRequest(
            ssh_key_id=ssh_key_id,
            user_id=user_id,
            organization_id=organization_id,
            replace_labels=labels is not None,
            labels=labels or {},
        )
        if name is not None:
            request.name = name
        return (await backend_call(BACKEND, self._compute().UpdateSshKey(request))).ssh_key

    async def delete_ssh_key(self, ssh_key_id: int, user_id: int, organization_id: int) -> None:
        request = pb.DeleteSshKeyRequest(ssh_key_id=ssh_key_id, user_id=user_id, organization_id=organization_id)
        await backend_call(BACKEND, self._compute().DeleteSshKey(request))
