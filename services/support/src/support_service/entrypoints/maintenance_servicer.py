"""The MaintenanceService gRPC API: protobuf in, a use case on a worker thread, protobuf out.

Writing and the staff view are for platform admins and support staff (adapters/authorization.py);
the public list is anyone's and leaves out who scheduled a window."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from grpc import aio

from cloudplatform.support.v1 import maintenance_service_pb2 as pb
from cloudplatform.support.v1 import maintenance_service_pb2_grpc as pb_grpc
from cpshared.errors import InvalidInput
from cpshared.timestamps import to_timestamp as _ts
from support_service.adapters import authorization as authz
from support_service.bootstrap import Support
from support_service.domain.maintenance import MaintenanceWindow
from support_service.entrypoints.ticket_servicer import MAX_PER_PAGE
from support_service.service_layer import maintenance

Context = aio.ServicerContext[Any, Any]


def window_message(window: MaintenanceWindow, *, staff: bool) -> pb.MaintenanceWindow:
    return pb.MaintenanceWindow(
        id=window.id,
        title=window.title,
        description=window.description,
        type=window.type,
        affected_services=window.affected_services,
        affected_datacenters=window.affected_datacenters,
        status=window.status,
        start_time=_ts(window.start_time),
        end_time=_ts(window.end_time),
        created_by=(window.created_by or 0) if staff else 0,
        created_at=_ts(window.created_at),
        updated_at=_ts(window.updated_at),
    )


def _time(stamp: Timestamp, name: str) -> datetime:
    if stamp.seconds <= 0:
        raise InvalidInput(f"{name} must be a time", details={"fields": [{"name": name, "messages": ["required"]}]})
    return stamp.ToDatetime(tzinfo=UTC)


class MaintenanceServicer(pb_grpc.MaintenanceServiceServicer):
    def __init__(self, support: Support) -> None:
        self._support = support

    async def CreateMaintenanceWindow(  # noqa: N802
        self, request: pb.CreateMaintenanceWindowRequest, context: Context
    ) -> pb.CreateMaintenanceWindowResponse:
        authz.require_staff("CreateMaintenanceWindow")
        new = maintenance.NewWindow(
            title=request.title,
            description=request.description,
            type=request.type,
            affected_services=list(request.affected_services),
            affected_datacenters=list(request.affected_datacenters),
            start_time=_time(request.start_time, "start_time"),
            end_time=_time(request.end_time, "end_time"),
        )
        window = await asyncio.to_thread(maintenance.schedule, new, authz.actor(), self._support.uow())
        return pb.CreateMaintenanceWindowResponse(maintenance_window=window_message(window, staff=True))

    async def UpdateMaintenanceWindow(  # noqa: N802
        self, request: pb.UpdateMaintenanceWindowRequest, context: Context
    ) -> pb.UpdateMaintenanceWindowResponse:
        authz.require_staff("UpdateMaintenanceWindow")
        change = maintenance.WindowChange(
            title=request.title if request.HasField("title") else None,
            description=request.description if request.HasField("description") else None,
            type=request.type if request.HasField("type") else None,
            affected_services=list(request.affected_services) if request.set_affected_services else None,
            affected_datacenters=list(request.affected_datacenters) if request.set_affected_datacenters else None,
            start_time=_time(request.start_time, "start_time") if request.HasField("start_time") else None,
            end_time=_time(request.end_time, "end_time") if request.HasField("end_time") else None,
        )
        window = await asyncio.to_thread(
            maintenance.update, request.maintenance_window_id, change, authz.actor(), self._support.uow()
        )
        return pb.UpdateMaintenanceWindowResponse(maintenance_window=window_message(window, staff=True))

    async def CancelMaintenanceWindow(  # noqa: N802
        self, request: pb.CancelMaintenanceWindowRequest, context: Context
    ) -> pb.CancelMaintenanceWindowResponse:
        authz.require_staff("CancelMaintenanceWindow")
        window = await asyncio.to_thread(
            maintenance.cancel, request.maintenance_window_id, authz.actor(), self._support.uow()
        )
        return pb.CancelMaintenanceWindowResponse(maintenance_window=window_message(window, staff=True))

    async def GetMaintenanceWindow(  # noqa: N802
        self, request: pb.GetMaintenanceWindowRequest, context: Context
    ) -> pb.GetMaintenanceWindowResponse:
        authz.require_staff("GetMaintenanceWindow")
        window = await asyncio.to_thread(maintenance.get, request.maintenance_window_id, self._support.uow())
        return pb.GetMaintenanceWindowResponse(maintenance_window=window_message(window, staff=True))

    async def ListMaintenanceWindows(  # noqa: N802
        self, request: pb.ListMaintenanceWindowsRequest, context: Context
    ) -> pb.ListMaintenanceWindowsResponse:
        if request.staff_view:
            authz.require_staff("ListMaintenanceWindows")
        per_page = min(max(request.per_page, 1), MAX_PER_PAGE) if request.per_page else 25
        found, total = await asyncio.to_thread(
            maintenance.search,
            list(request.statuses),
            self._support.uow(),
            public=not request.staff_view,
            page=max(request.page, 1),
            per_page=per_page,
        )
        return pb.ListMaintenanceWindowsResponse(
            maintenance_windows=[window_message(w, staff=request.staff_view) for w in found], total_entries=total
        )


def add_maintenance_servicer(server: aio.Server, support: Support) -> list[str]:
    pb_grpc.add_MaintenanceServiceServicer_to_server(MaintenanceServicer(support), server)
    return [pb.DESCRIPTOR.services_by_name["MaintenanceService"].full_name]
