"""Maintenance windows, kept by the support service (the platform's own API, in Hetzner's error
format).

- ``GET /v1/maintenance_windows``: public, no authentication (a status page): the scheduled and
  running windows, soonest first, paged; without who scheduled them.
- ``/v1/admin/maintenance_windows``, a staff area for admins and support staff (``403
  forbidden`` for any other role): ``GET`` every window (``status`` filter, newest first),
  ``POST`` schedule one (``title``, ``description``, ``type`` planned/emergency,
  ``affected_services``, ``affected_datacenters``, ``start_time``, ``end_time`` in the future),
  ``GET``/``PUT /{id}`` read and change one (a running window's end only moves; a completed or
  cancelled one is final: ``412 precondition_failed``), ``POST /{id}/cancel`` a scheduled one.

The clock moves them: ``scheduled`` → ``in_progress`` at the start → ``completed`` at the end.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from cloudplatform.support.v1 import maintenance_service_pb2 as pb
from gateway_service.api.common import MAX_ID, Meta, MultilineText, page_meta
from gateway_service.auth.gate import Authenticated
from gateway_service.auth.policy import Access, Family
from gateway_service.auth.scoped import staff
from gateway_service.clients.backends import backends
from hetzner_conventions.error_handlers import documented_errors
from hetzner_conventions.pagination import parse_page_request

router = APIRouter(prefix="/v1/maintenance_windows", tags=["maintenance_windows"])
admin_router = APIRouter(prefix="/v1/admin/maintenance_windows", tags=["admin"])

PUBLIC_ERRORS = documented_errors(400, 422, 429, 500)
STATE_ERRORS = documented_errors(412)  # a completed or cancelled window is final
WindowType = Literal["planned", "emergency"]
WindowStatus = Literal["scheduled", "in_progress", "completed", "cancelled"]
Service = Literal[
    "servers",
    "volumes",
    "networks",
    "floating_ips",
    "load_balancers",
    "firewalls",
    "backups",
    "api",
    "console",
    "billing",
]
Datacenter = Annotated[str, Field(pattern=r"^[a-z]{3}[0-9]+(-dc[0-9]+)?$", max_length=20)]
WindowId = Annotated[int, Path(ge=1, le=MAX_ID, description="ID of the maintenance window.")]


class MaintenanceWindowOut(BaseModel):
    id: int
    title: str
    description: str
    type: WindowType
    affected_services: list[str]
    affected_datacenters: list[str]
    status: WindowStatus
    start_time: datetime
    end_time: datetime


class StaffMaintenanceWindowOut(MaintenanceWindowOut):
    created_by: int | None
    created: datetime
    updated: datetime


class WindowsAnswer(BaseModel):
    maintenance_windows: list[MaintenanceWindowOut]
    meta: Meta


class StaffWindowsAnswer(BaseModel):
    maintenance_windows: list[StaffMaintenanceWindowOut]
    meta: Meta


class StaffWindowAnswer(BaseModel):
    maintenance_window: StaffMaintenanceWindowOut


class NewWindow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=255)
    description: MultilineText = Field(default="", max_length=10_000)
    type: WindowType = "planned"
    affected_services: list[Service] = Field(default_factory=list, max_length=50)
    affected_datacenters: list[Datacenter] = Field(default_factory=list, max_length=50)
    start_time: AwareDatetime
    end_time: AwareDatetime


class WindowChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, min_length=1, max_length=255)
    description: MultilineText | None = Field(default=None, max_length=10_000)
    type: WindowType | None = None
    affected_services: list[Service] | None = Field(default=None, max_length=50)
    affected_datacenters: list[Datacenter] | None = Field(default=None, max_length=50)
    start_time: AwareDatetime | None = None
    end_time: AwareDatetime | None = None


def _stamp(when: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(when)
    return stamp


def _fields(window: pb.MaintenanceWindow) -> dict[str, object]:
    return {
        "id": window.id,
        "title": window.title,
        "description": window.description,
        "type": window.type,
        "affected_services": list(window.affected_services),
        "affected_datacenters": list(window.affected_datacenters),
        "status": window.status,
        "start_time": window.start_time.ToDatetime(tzinfo=UTC),
        "end_time": window.end_time.ToDatetime(tzinfo=UTC),
    }


def window_out(window: pb.MaintenanceWindow) -> MaintenanceWindowOut:
    return MaintenanceWindowOut.model_validate(_fields(window))


def staff_window_out(window: pb.MaintenanceWindow) -> StaffMaintenanceWindowOut:
    return StaffMaintenanceWindowOut.model_validate(
        {
            **_fields(window),
            "created_by": window.created_by or None,
            "created": window.created_at.ToDatetime(tzinfo=UTC),
            "updated": window.updated_at.ToDatetime(tzinfo=UTC),
        }
    )


@router.get("", responses=PUBLIC_ERRORS)
async def list_public_windows(
    request: Request, response: Response, page: str | None = None, per_page: str | None = None
) -> WindowsAnswer:
    """The scheduled and running maintenance windows, soonest first (no authentication)."""
    page_request = parse_page_request(page, per_page)
    answer = await backends(request).maintenance.search(
        pb.ListMaintenanceWindowsRequest(page=page_request.page, per_page=page_request.per_page)
    )
    meta = page_meta(request, response, page_request, answer.total_entries)
    return WindowsAnswer(maintenance_windows=[window_out(w) for w in answer.maintenance_windows], meta=meta)


@admin_router.get("")
@staff(Family.MAINTENANCE_WINDOWS, Access.READ)
async def list_windows(
    request: Request,
    response: Response,
    principal: Authenticated,
    status: Annotated[list[WindowStatus] | None, Query()] = None,
    page: str | None = None,
    per_page: str | None = None,
) -> StaffWindowsAnswer:
    """Every maintenance window in the statuses asked for, newest first."""
    page_request = parse_page_request(page, per_page)
    answer = await backends(request).maintenance.search(
        pb.ListMaintenanceWindowsRequest(
            staff_view=True, statuses=list(status or []), page=page_request.page, per_page=page_request.per_page
        )
    )
    meta = page_meta(request, response, page_request, answer.total_entries)
    return StaffWindowsAnswer(maintenance_windows=[staff_window_out(w) for w in answer.maintenance_windows], meta=meta)


@admin_router.post("", status_code=201)
@staff(Family.MAINTENANCE_WINDOWS, Access.WRITE)
async def schedule_window(request: Request, principal: Authenticated, body: NewWindow) -> StaffWindowAnswer:
    """Schedule a maintenance window."""
    window = await backends(request).maintenance.create(
        pb.CreateMaintenanceWindowRequest(
            title=body.title,
            description=body.description,
            type=body.type,
            affected_services=list(body.affected_services),
            affected_datacenters=list(body.affected_datacenters),
            start_time=_stamp(body.start_time),
            end_time=_stamp(body.end_time),
        )
    )
    return StaffWindowAnswer(maintenance_window=staff_window_out(window))


@admin_router.get("/{id}")
@staff(Family.MAINTENANCE_WINDOWS, Access.READ)
async def get_window(request: Request, principal: Authenticated, id: WindowId) -> StaffWindowAnswer:
    """One maintenance window."""
    return StaffWindowAnswer(maintenance_window=staff_window_out(await backends(request).maintenance.get(id)))


@admin_router.put("/{id}", responses=STATE_ERRORS)
@staff(Family.MAINTENANCE_WINDOWS, Access.WRITE)
async def update_window(
    request: Request, principal: Authenticated, id: WindowId, body: WindowChange
) -> StaffWindowAnswer:
    """Change a scheduled or running window (a running one's start stays)."""
    change = pb.UpdateMaintenanceWindowRequest(
        maintenance_window_id=id,
        set_affected_services=body.affected_services is not None,
        affected_services=list(body.affected_services or []),
        set_affected_datacenters=body.affected_datacenters is not None,
        affected_datacenters=list(body.affected_datacenters or []),
    )
    if body.title is not None:
        change.title = body.title
    if body.description is not None:
        change.description = body.description
    if body.type is not None:
        change.type = body.type
    if body.start_time is not None:
        change.start_time.CopyFrom(_stamp(body.start_time))
    if body.end_time is not None:
        change.end_time.CopyFrom(_stamp(body.end_time))
    return StaffWindowAnswer(maintenance_window=staff_window_out(await backends(request).maintenance.update(change)))


@admin_router.post("/{id}/cancel", responses=STATE_ERRORS)
@staff(Family.MAINTENANCE_WINDOWS, Access.WRITE)
async def cancel_window(request: Request, principal: Authenticated, id: WindowId) -> StaffWindowAnswer:
    """Cancel a scheduled window."""
    return StaffWindowAnswer(maintenance_window=staff_window_out(await backends(request).maintenance.cancel(id)))
