"""The PlacementGroupService gRPC API: protobuf in, a use case on a worker thread, protobuf out.

A user reaches its own groups and those of the organization its request names (if it is a
member); admins and services every group; another tenant's group answers NOT_FOUND."""

from __future__ import annotations

import asyncio
from typing import Any

from grpc import aio

from cloudplatform.compute.v1 import placement_group_service_pb2 as pb
from cloudplatform.compute.v1 import placement_group_service_pb2_grpc as pb_grpc
from compute_service.adapters import authorization as authz
from compute_service.bootstrap import Compute
from compute_service.domain.placement_groups import PlacementGroup
from compute_service.entrypoints.grpc_servicer import MAX_PER_PAGE, sort_order
from compute_service.service_layer import placement_groups
from compute_service.service_layer.servers import Reach
from cpshared.errors import InvalidInput
from cpshared.timestamps import to_timestamp as _ts

Context = aio.ServicerContext[Any, Any]


def placement_group_message(group: PlacementGroup) -> pb.PlacementGroup:
    return pb.PlacementGroup(
        id=group.id,
        user_id=group.user_id,
        organization_id=group.organization_id or 0,
        name=group.name,
        type=group.type,
        labels=group.labels,
        server_ids=group.server_ids,
        created_at=_ts(group.created_at),
        hetzner_id=group.hetzner_id or 0,
    )


def _reach(organization_id: int, group_id: int) -> Reach:
    def check(user_id: int, owner_organization_id: int | None) -> None:
        authz.ensure_reaches(user_id, owner_organization_id, organization_id, f"placement group {group_id}")

    return check


class PlacementGroupServicer(pb_grpc.PlacementGroupServiceServicer):
    def __init__(self, compute: Compute) -> None:
        self._compute = compute

    async def CreatePlacementGroup(  # noqa: N802
        self, request: pb.CreatePlacementGroupRequest, context: Context
    ) -> pb.CreatePlacementGroupResponse:
        authz.check_tenant(request.user_id, request.organization_id)
        if request.user_id <= 0:
            raise InvalidInput("user_id must name the user creating the placement group")
        group = await asyncio.to_thread(
            placement_groups.create,
            request.user_id,
            request.organization_id or None,
            request.name,
            request.type,
            dict(request.labels),
            self._compute.uow(),
        )
        return pb.CreatePlacementGroupResponse(placement_group=placement_group_message(group))

    async def ListPlacementGroups(  # noqa: N802
        self, request: pb.ListPlacementGroupsRequest, context: Context
    ) -> pb.ListPlacementGroupsResponse:
        user_id, organization_id = authz.list_scope(
            request.all_tenants,
            request.user_id,
            request.organization_id,
            (r.operator for r in request.label_selector),
            "ListPlacementGroups",
        )
        query = placement_groups.Search(
            user_id=user_id,
            organization_id=organization_id,
            name=request.name,
            types=list(request.types),
            requirements=list(request.label_selector),
            order=sort_order(list(request.sort)),
            page=max(request.page, 1),
            per_page=min(max(request.per_page, 1), MAX_PER_PAGE) if request.per_page else 25,
        )
        found, total = await asyncio.to_thread(placement_groups.search, query, self._compute.uow())
        return pb.ListPlacementGroupsResponse(
            placement_groups=[placement_group_message(group) for group in found], total_entries=total
        )

    async def GetPlacementGroup(  # noqa: N802
        self, request: pb.GetPlacementGroupRequest, context: Context
    ) -> pb.GetPlacementGroupResponse:
        reach = _reach(request.organization_id, request.placement_group_id)
        group = await asyncio.to_thread(placement_groups.get, request.placement_group_id, reach, self._compute.uow())
        return pb.GetPlacementGroupResponse(placement_group=placement_group_message(group))

    async def UpdatePlacementGroup(  # noqa: N802
        self, request: pb.UpdatePlacementGroupRequest, context: Context
    ) -> pb.UpdatePlacementGroupResponse:
        reach = _reach(request.organization_id, request.placement_group_id)
        group = await asyncio.to_thread(
            placement_groups.update,
            request.placement_group_id,
            request.name if request.HasField("name") else None,
            dict(request.labels) if request.set_labels else None,
            reach,
            self._compute.uow(),
        )
        return pb.UpdatePlacementGroupResponse(placement_group=placement_group_message(group))

    async def DeletePlacementGroup(  # noqa: N802
        self, request: pb.DeletePlacementGroupRequest, context: Context
    ) -> pb.DeletePlacementGroupResponse:
        reach = _reach(request.organization_id, request.placement_group_id)
        await asyncio.to_thread(
            placement_groups.delete, request.placement_group_id, reach, self._compute.uow(), self._compute.upstream()
        )
        return pb.DeletePlacementGroupResponse()


def add_placement_group_servicer(server: aio.Server, compute: Compute) -> list[str]:
    pb_grpc.add_PlacementGroupServiceServicer_to_server(PlacementGroupServicer(compute), server)
    return [pb.DESCRIPTOR.services_by_name["PlacementGroupService"].full_name]
