"""The VolumeService gRPC API: protobuf in, a use case on a worker thread, protobuf out.

A user reaches its own volumes and those of the organization its request names (if it is a
member); admins and services every volume; another tenant's volume or server is NOT_FOUND."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from grpc import aio

from cloudplatform.storage.v1 import volume_service_pb2 as pb
from cloudplatform.storage.v1 import volume_service_pb2_grpc as pb_grpc
from cpshared.errors import InvalidInput
from cpshared.timestamps import to_timestamp as _ts
from storage_service.adapters import authorization as authz
from storage_service.bootstrap import Storage
from storage_service.domain.volumes import Action, Volume
from storage_service.service_layer import volumes

Context = aio.ServicerContext[Any, Any]
MAX_PER_PAGE = 50
VOLUME_SORTS = ("id", "name", "created")
ACTION_SORTS = ("id", "command", "status", "started", "finished")


def sort_order(sort: Sequence[str], sortable: Sequence[str]) -> list[tuple[str, bool]]:
    order = []
    for raw in sort:
        field, _, direction = raw.partition(":")
        if field not in sortable or direction not in ("", "asc", "desc"):
            raise InvalidInput(f"cannot sort by {raw!r}; sort by {', '.join(sortable)}, optionally :asc or :desc")
        order.append((field, direction == "desc"))
    return order


def _per_page(per_page: int) -> int:
    return min(max(per_page, 1), MAX_PER_PAGE) if per_page else 25


def volume_message(volume: Volume) -> pb.Volume:
    return pb.Volume(
        id=volume.id,
        user_id=volume.user_id,
        organization_id=volume.organization_id or 0,
        name=volume.name,
        size_gb=volume.size_gb,
        status=volume.status,
        location=volume.location,
        datacenter_id=volume.datacenter_id,
        server_id=volume.server_id or 0,
        format=volume.format,
        labels=volume.labels,
        protection_delete=volume.protection_delete,
        locked=volume.locked,
        hetzner_id=volume.hetzner_id,
        linux_device=f"/dev/disk/by-id/scsi-0HC_Volume_{volume.hetzner_id}" if volume.hetzner_id else "",
        created_at=_ts(volume.created_at),
        version=volume.version,
    )


def action_message(action: Action) -> pb.VolumeAction:
    message = pb.VolumeAction(
        id=action.id,
        command=action.command,
        status=action.status,
        progress=action.progress,
        started=_ts(action.started),
        error_code=action.error_code,
        error_message=action.error_message,
        volume_id=action.volume_id,
        server_id=action.server_id or 0,
    )
    if action.finished is not None:
        message.finished.CopyFrom(_ts(action.finished))
    return message


class VolumeServicer(pb_grpc.VolumeServiceServicer):
    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    async def CreateVolume(self, request: pb.CreateVolumeRequest, context: Context) -> pb.CreateVolumeResponse:  # noqa: N802
        authz.check_tenant(request.user_id, request.organization_id)
        if request.user_id <= 0:
            raise InvalidInput("user_id must name the user creating the volume")
        command = volumes.CreateVolume(
            user_id=request.user_id,
            organization_id=request.organization_id or None,
            name=request.name,
            size_gb=request.size_gb,
            location=request.location,
            server_id=request.server_id,
            automount=request.automount,
            format=request.format,
            labels=dict(request.labels),
        )
        created = await asyncio.to_thread(
            volumes.create, command, self._storage.uow(), self._storage.servers, self._storage.quotas
        )
        return pb.CreateVolumeResponse(volume=volume_message(created.volume), action=action_message(created.action))

    async def GetVolume(self, request: pb.GetVolumeRequest, context: Context) -> pb.GetVolumeResponse:  # noqa: N802
        reach = authz.reach(request.organization_id, f"volume {request.volume_id}")
        volume = await asyncio.to_thread(volumes.get, request.volume_id, reach, self._storage.uow())
        return pb.GetVolumeResponse(volume=volume_message(volume))

    async def ListVolumes(self, request: pb.ListVolumesRequest, context: Context) -> pb.ListVolumesResponse:  # noqa: N802
        user_id, organization_id = authz.list_scope(
            request.all_tenants,
            request.user_id,
            request.organization_id,
            (r.operator for r in request.label_selector),
            "ListVolumes",
        )
        query = volumes.Search(
            user_id=user_id,
            organization_id=organization_id,
            name=request.name,
            statuses=list(request.statuses),
            requirements=list(request.label_selector),
            order=sort_order(list(request.sort), VOLUME_SORTS),
            page=max(request.page, 1),
            per_page=_per_page(request.per_page),
        )
        found, total = await asyncio.to_thread(volumes.search, query, self._storage.uow())
        return pb.ListVolumesResponse(volumes=[volume_message(v) for v in found], total_entries=total)

    async def UpdateVolume(self, request: pb.UpdateVolumeRequest, context: Context) -> pb.UpdateVolumeResponse:  # noqa: N802
        reach = authz.reach(request.organization_id, f"volume {request.volume_id}")
        volume = await asyncio.to_thread(
            volumes.update,
            request.volume_id,
            request.name if request.HasField("name") else None,
            dict(request.labels) if request.set_labels else None,
            reach,
            self._storage.uow(),
        )
        return pb.UpdateVolumeResponse(volume=volume_message(volume))

    async def DeleteVolume(self, request: pb.DeleteVolumeRequest, context: Context) -> pb.DeleteVolumeResponse:  # noqa: N802
        reach = authz.reach(request.organization_id, f"volume {request.volume_id}")
        action = await asyncio.to_thread(volumes.delete, request.volume_id, reach, self._storage.uow())
        return pb.DeleteVolumeResponse(action=action_message(action))

    async def AttachVolume(self, request: pb.AttachVolumeRequest, context: Context) -> pb.AttachVolumeResponse:  # noqa: N802
        reach = authz.reach(request.organization_id, f"volume {request.volume_id}")
        action = await asyncio.to_thread(
            volumes.attach,
            request.volume_id,
            request.server_id,
            request.automount,
            reach,
            self._storage.uow(),
            self._storage.servers,
        )
        return pb.AttachVolumeResponse(action=action_message(action))

    async def DetachVolume(self, request: pb.DetachVolumeRequest, context: Context) -> pb.DetachVolumeResponse:  # noqa: N802
        reach = authz.reach(request.organization_id, f"volume {request.volume_id}")
        action = await asyncio.to_thread(volumes.detach, request.volume_id, reach, self._storage.uow())
        return pb.DetachVolumeResponse(action=action_message(action))

    async def ResizeVolume(self, request: pb.ResizeVolumeRequest, context: Context) -> pb.ResizeVolumeResponse:  # noqa: N802
        reach = authz.reach(request.organization_id, f"volume {request.volume_id}")
        action = await asyncio.to_thread(
            volumes.resize, request.volume_id, request.size_gb, reach, self._storage.uow(), self._storage.quotas
        )
        return pb.ResizeVolumeResponse(action=action_message(action))

    async def ChangeVolumeProtection(  # noqa: N802
        self, request: pb.ChangeVolumeProtectionRequest, context: Context
    ) -> pb.ChangeVolumeProtectionResponse:
        reach = authz.reach(request.organization_id, f"volume {request.volume_id}")
        action = await asyncio.to_thread(
            volumes.change_protection,
            request.volume_id,
            request.delete if request.HasField("delete") else None,
            reach,
            self._storage.uow(),
        )
        return pb.ChangeVolumeProtectionResponse(action=action_message(action))

    async def GetVolumeAction(  # noqa: N802
        self, request: pb.GetVolumeActionRequest, context: Context
    ) -> pb.GetVolumeActionResponse:
        reach = authz.reach(request.organization_id, f"action {request.action_id}")
        action = await asyncio.to_thread(
            volumes.get_action, request.action_id, request.volume_id, reach, self._storage.uow()
        )
        return pb.GetVolumeActionResponse(action=action_message(action))

    async def ListVolumeActions(  # noqa: N802
        self, request: pb.ListVolumeActionsRequest, context: Context
    ) -> pb.ListVolumeActionsResponse:
        authz.check_tenant(request.user_id, request.organization_id)
        query = volumes.ActionSearch(
            user_id=request.user_id,
            organization_id=request.organization_id or None,
            volume_id=request.volume_id,
            ids=list(request.ids),
            statuses=list(request.statuses),
            order=sort_order(list(request.sort), ACTION_SORTS),
            page=max(request.page, 1),
            per_page=_per_page(request.per_page),
        )
        reach = authz.reach(request.organization_id, f"volume {request.volume_id}")
        found, total = await asyncio.to_thread(volumes.list_actions, query, reach, self._storage.uow())
        return pb.ListVolumeActionsResponse(actions=[action_message(a) for a in found], total_entries=total)

    async def ServerVolumes(self, request: pb.ServerVolumesRequest, context: Context) -> pb.ServerVolumesResponse:  # noqa: N802
        reach = authz.reach(request.organization_id, "volume")
        found = await asyncio.to_thread(volumes.server_volumes, list(request.server_ids), reach, self._storage.uow())
        return pb.ServerVolumesResponse(
            servers=[pb.ServerVolumeIds(server_id=sid, volume_ids=ids) for sid, ids in sorted(found.items())]
        )


def add_volume_servicer(server: aio.Server, storage: Storage) -> list[str]:
    pb_grpc.add_VolumeServiceServicer_to_server(VolumeServicer(storage), server)
    return [pb.DESCRIPTOR.services_by_name["VolumeService"].full_name]
