"""The gateway's calls to the compute service's PlacementGroupService. Each call carries the
request's principal (the channel sends it on); compute checks the tenant again from it, and a
refusal raises the public error of the same meaning (clients/calls.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from grpc import aio

from cloudplatform.compute.v1 import compute_service_pb2 as cpb
from cloudplatform.compute.v1 import placement_group_service_pb2 as pb
from cloudplatform.compute.v1 import placement_group_service_pb2_grpc as pb_grpc
from gateway_service.clients.calls import backend_call

BACKEND = "compute"


class PlacementGroupClient:
    def __init__(self, channel: Callable[[], aio.Channel]) -> None:
        self._channel = channel

    def _groups(self) -> pb_grpc.PlacementGroupServiceAsyncStub:
        return pb_grpc.PlacementGroupServiceStub(self._channel())

    async def create(
        self, user_id: int, organization_id: int, *, name: str, type: str, labels: Mapping[str, str]
    ) -> pb.PlacementGroup:
        request = pb.CreatePlacementGroupRequest(
            user_id=user_id, organization_id=organization_id, name=name, type=type, labels=labels
        )
        return (await backend_call(BACKEND, self._groups().CreatePlacementGroup(request))).placement_group

    async def list(
        self,
        user_id: int,
        organization_id: int,
        *,
        name: str,
        types: Sequence[str],
        label_selector: Sequence[cpb.LabelRequirement],
        sort: Sequence[str],
        page: int,
        per_page: int,
    ) -> pb.ListPlacementGroupsResponse:
        request = pb.ListPlacementGroupsRequest(
            user_id=user_id,
            organization_id=organization_id,
            name=name,
            types=types,
            label_selector=label_selector,
            sort=sort,
            page=page,
            per_page=per_page,
        )
        return await backend_call(BACKEND, self._groups().ListPlacementGroups(request))

    async def get(self, placement_group_id: int, organization_id: int) -> pb.PlacementGroup:
        request = pb.GetPlacementGroupRequest(placement_group_id=placement_group_id, organization_id=organization_id)
        return (await backend_call(BACKEND, self._groups().GetPlacementGroup(request))).placement_group

    async def update(
        self, placement_group_id: int, organization_id: int, *, name: str | None, labels: Mapping[str, str] | None
    ) -> pb.PlacementGroup:
        request = pb.UpdatePlacementGroupRequest(
            placement_group_id=placement_group_id,
            organization_id=organization_id,
            set_labels=labels is not None,
            labels=labels or {},
        )
        if name is not None:
            request.name = name
        return (await backend_call(BACKEND, self._groups().UpdatePlacementGroup(request))).placement_group

    async def delete(self, placement_group_id: int, organization_id: int) -> None:
        request = pb.DeletePlacementGroupRequest(placement_group_id=placement_group_id, organization_id=organization_id)
        await backend_call(BACKEND, self._groups().DeletePlacementGroup(request))
