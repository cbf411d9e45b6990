"""``/v1/volumes``: volumes, wire-compatible with Hetzner Cloud's, kept by the storage service.

- ``GET /v1/volumes``: the caller's volumes (with a key bound to an organization, that
  organization's too), filtered by ``name``, ``label_selector`` and ``status`` (Hetzner's
  ``creating``/``available``), sorted by ``id``, ``name`` or ``created``, paged.
- ``POST /v1/volumes`` (``name``, ``size`` 10..10240 GB, ``location`` or ``server``,
  ``automount``, ``format`` ext4/xfs, ``labels``): answered with the volume, its
  ``create_volume`` action and ``next_actions: []`` (storage attaches it within that action).
- ``GET``/``PUT`` (``name``, ``labels``)/``DELETE /v1/volumes/{id}``: one volume the caller
  reaches; another tenant's is ``404 not_found``; deleting a protected one is ``423 protected``,
  an attached one ``422 resource_in_use``.
- actions ``attach`` (``server`` in the volume's location, at most 16 volumes per server),
  ``detach``, ``resize`` (only grows), ``change_protection``; ``GET /v1/volumes/actions``,
  ``/v1/volumes/actions/{id}``, ``/v1/volumes/{id}/actions`` and ``/{id}/actions/{action_id}``.
- ``POST /v1/volumes/{id}/actions/create_snapshot`` (the platform's; Hetzner has no volume
  snapshots): ``400 not_supported`` for a volume the caller reaches, changing nothing.

Statuses inside are the platform's (creating, available, attached, detaching, deleting,
error); Hetzner's outside: ``creating`` while it is made, ``available`` after. Scopes
``volumes:read`` and ``volumes:write``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from cloudplatform.compute.v1 import compute_service_pb2 as cpb
from cloudplatform.storage.v1 import volume_service_pb2 as pb
from cpshared.errors import InvalidInput
from gateway_service.api.common import MAX_ID, BodyId, Labels, Meta, Text, page_meta, sort_param, tenant
from gateway_service.api.models.actions import ActionOut, ActionStatus, as_datetime
from gateway_service.api.models.actions import volume_action_out as action_out
from gateway_service.api.models.catalog import LocationOut, active_datacenters, location_out
from gateway_service.auth.gate import Authenticated
from gateway_service.auth.policy import Access, Family
from gateway_service.auth.scoped import scope
from gateway_service.clients.backends import backends
from hetzner_conventions.label_selector import parse_label_selector
from hetzner_conventions.pagination import parse_page_request
from hetzner_conventions.sorting import parse_sort

router = APIRouter(prefix="/v1/volumes", tags=["volumes"])

SORTABLE = ("id", "name", "created")
ACTION_SORTABLE = ("id", "command", "status", "started", "finished")
VolumeId = Annotated[int, Path(ge=1, le=MAX_ID, description="ID of the volume.")]
ActionId = Annotated[int, Path(ge=1, le=MAX_ID, description="ID of the action.")]
HetznerVolumeStatus = Literal["creating", "available"]

# Hetzner's two statuses, and the platform's each stands for.
PLATFORM_STATUSES: dict[str, tuple[str, ...]] = {
    "creating": ("creating",),
    "available": ("available", "attached", "detaching", "error"),
}


class VolumeProtection(BaseModel):
    delete: bool


class VolumeOut(BaseModel):
    id: int
    created: datetime
    name: str
    server: int | None
    location: LocationOut
    size: int
    linux_device: str
    protection: VolumeProtection
    labels: dict[str, str]
    status: HetznerVolumeStatus
    format: str | None


class VolumeAnswer(BaseModel):
    volume: VolumeOut


class CreatedVolumeAnswer(BaseModel):
    volume: VolumeOut
    action: ActionOut
    next_actions: list[ActionOut]


class VolumesAnswer(BaseModel):
    volumes: list[VolumeOut]
    meta: Meta


class VolumeActionAnswer(BaseModel):
    action: ActionOut


class VolumeActionsAnswer(BaseModel):
    actions: list[ActionOut]
    meta: Meta


class NewVolume(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: Text = Field(min_length=1, max_length=255)
    size: int = Field(ge=-(2**31), le=2**31 - 1, description="Size in GB, 10 to 10240.")
    location: Annotated[str, Field(max_length=64)] | BodyId | None = Field(
        default=None, description="Name or ID of the location; or give server."
    )
    server: BodyId | None = Field(default=None, description="Server to attach it to; or give location.")
    automount: bool | None = None
    format: str | None = Field(default=None, max_length=20, description="ext4 or xfs.")
    labels: Labels = Field(default_factory=dict)


class VolumeChange(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: Text | None = Field(default=None, min_length=1, max_length=255)
    labels: Labels | None = Field(default=None, description="Replaces every label of the volume.")


class Attach(BaseModel):
    model_config = ConfigDict(extra="ignore")

    server: BodyId
    automount: bool | None = None


class Resize(BaseModel):
    model_config = ConfigDict(extra="ignore")

    size: float = Field(description="New size in GB, larger than the current one.")


class Protection(BaseModel):
    model_config = ConfigDict(extra="ignore")

    delete: bool | None = None


class Locations:
    """The locations a page of volumes names, read once per request."""

    def __init__(self, datacenters: list[cpb.Datacenter]) -> None:
        self._by_code = {dc.code: dc for dc in datacenters}

    @classmethod
    async def read(cls, request: Request) -> Locations:
        return cls(await active_datacenters(request))

    def code(self, location: str | int | None) -> str:
        """The location a create names (its name, or its ID as hcloud-go sends it); a name is
        storage's to check."""
        if location is None:
            return ""
        if isinstance(location, str):
            if len(location) > 64:
                raise InvalidInput("location is too long", details={"fields": [{"name": "location"}]})
            return location
        for dc in self._by_code.values():
            if dc.id == location:
                return dc.code
        raise InvalidInput(f"location {location} does not exist", details={"fields": [{"name": "location"}]})

    def volume_out(self, volume: pb.Volume) -> VolumeOut:
        dc = self._by_code.get(volume.location) or cpb.Datacenter(id=volume.datacenter_id, code=volume.location)
        return VolumeOut(
            id=volume.id,
            created=as_datetime(volume.created_at),
            name=volume.name,
            server=volume.server_id or None,
            location=location_out(dc),
            size=volume.size_gb,
            linux_device=volume.linux_device or f"/dev/disk/by-id/scsi-0HC_Volume_{volume.id}",
            protection=VolumeProtection(delete=volume.protection_delete),
            labels=dict(volume.labels),
            status="creating" if volume.status == "creating" else "available",
            format=volume.format or None,
        )


@router.get("")
@scope(Family.VOLUMES, Access.READ)
async def list_volumes(
    request: Request,
    response: Response,
    principal: Authenticated,
    name: Annotated[str | None, Query(max_length=255, description="Only the volume with this name.")] = None,
    label_selector: Annotated[str | None, Query(max_length=1000)] = None,
    status: Annotated[list[HetznerVolumeStatus] | None, Query(description="Only volumes in these statuses.")] = None,
    sort: Annotated[list[str] | None, Query(description="id, name or created, optionally :asc or :desc.")] = None,
    page: str | None = None,
    per_page: str | None = None,
) -> VolumesAnswer:
    """The caller's volumes matching every filter given, one page of them."""
    page_request = parse_page_request(page, per_page)
    sort_keys = parse_sort(sort or [], SORTABLE)
    selector = parse_label_selector(label_selector)
    statuses = [platform for wanted in status or [] for platform in PLATFORM_STATUSES[wanted]]
    answer = await backends(request).storage.list(
        *tenant(principal),
        name=name or "",
        statuses=statuses,
        label_selector=[
            pb.LabelRequirement(key=r.key, operator=r.operator, values=r.values) for r in selector.requirements
        ],
        sort=sort_param(sort_keys),
        page=page_request.page,
        per_page=page_request.per_page,
    )
    meta = page_meta(request, response, page_request, answer.total_entries)
    locations = await Locations.read(request)
    return VolumesAnswer(volumes=[locations.volume_out(v) for v in answer.volumes], meta=meta)


@router.post("", status_code=201)
@scope(Family.VOLUMES, Access.WRITE)
async def create_volume(request: Request, principal: Authenticated, body: NewVolume) -> CreatedVolumeAnswer:
    """A new volume in a location, or on a server (attached to it)."""
    locations = await Locations.read(request)
    created = await backends(request).storage.create(
        *tenant(principal),
        name=body.name,
        size_gb=body.size,
        location=locations.code(body.location),
        server_id=body.server or 0,
        automount=bool(body.automount),
        format=body.format or "",
        labels=body.labels,
    )
    return CreatedVolumeAnswer(
        volume=locations.volume_out(created.volume), action=action_out(created.action), next_actions=[]
    )


@router.get("/actions")
@scope(Family.VOLUMES, Access.READ)
async def list_all_volume_actions(
    request: Request,
    response: Response,
    principal: Authenticated,
    id: Annotated[list[Annotated[int, Query(ge=1, le=MAX_ID)]] | None, Query(max_length=50)] = None,
    status: Annotated[list[ActionStatus] | None, Query()] = None,
    sort: Annotated[list[str] | None, Query()] = None,
    page: str | None = None,
    per_page: str | None = None,
) -> VolumeActionsAnswer:
    """The actions on the caller's volumes."""
    return await _actions(request, response, principal, 0, id, status, sort, page, per_page)


@router.get("/actions/{action_id:int}")
@scope(Family.VOLUMES, Access.READ)
async def get_any_volume_action(request: Request, principal: Authenticated, action_id: ActionId) -> VolumeActionAnswer:
    """One action on a volume the caller reaches."""
    action = await backends(request).storage.action(action_id, tenant(principal)[1])
    return VolumeActionAnswer(action=action_out(action))


@router.get("/{id:int}")
@scope(Family.VOLUMES, Access.READ)
async def get_volume(request: Request, principal: Authenticated, id: VolumeId) -> VolumeAnswer:
    """One volume the caller reaches."""
    volume = await backends(request).storage.get(id, tenant(principal)[1])
    return VolumeAnswer(volume=(await Locations.read(request)).volume_out(volume))


@router.put("/{id:int}")
@scope(Family.VOLUMES, Access.WRITE)
async def update_volume(request: Request, principal: Authenticated, id: VolumeId, body: VolumeChange) -> VolumeAnswer:
    """Rename a volume or replace its labels."""
    volume = await backends(request).storage.update(id, tenant(principal)[1], name=body.name, labels=body.labels)
    return VolumeAnswer(volume=(await Locations.read(request)).volume_out(volume))


@router.delete("/{id:int}", status_code=204)
@scope(Family.VOLUMES, Access.WRITE)
async def delete_volume(request: Request, principal: Authenticated, id: VolumeId) -> Response:
    """Delete a detached, unprotected volume (storage's worker removes it upstream)."""
    await backends(request).storage.delete(id, tenant(principal)[1])
    return Response(status_code=204)


async def _actions(
    request: Request,
    response: Response,
    principal: Authenticated,
    volume_id: int,
    ids: list[int] | None,
    status: list[ActionStatus] | None,
    sort: list[str] | None,
    page: str | None,
    per_page: str | None,
) -> VolumeActionsAnswer:
    page_request = parse_page_request(page, per_page)
    sort_keys = parse_sort(sort or [], ACTION_SORTABLE)
    answer = await backends(request).storage.actions(
        *tenant(principal),
        volume_id=volume_id,
        ids=ids or [],
        statuses=list(status or []),
        sort=sort_param(sort_keys),
        page=page_request.page,
        per_page=page_request.per_page,
    )
    meta = page_meta(request, response, page_request, answer.total_entries)
    return VolumeActionsAnswer(actions=[action_out(a) for a in answer.actions], meta=meta)


@router.get("/{id:int}/actions")
@scope(Family.VOLUMES, Access.READ)
async def list_volume_actions(
    request: Request,
    response: Response,
    principal: Authenticated,
    id: VolumeId,
    status: Annotated[list[ActionStatus] | None, Query()] = None,
    sort: Annotated[list[str] | None, Query()] = None,
    page: str | None = None,
    per_page: str | None = None,
) -> VolumeActionsAnswer:
    """The actions on one of the caller's volumes."""
    return await _actions(request, response, principal, id, None, status, sort, page, per_page)


@router.get("/{id:int}/actions/{action_id:int}")
@scope(Family.VOLUMES, Access.READ)
async def get_volume_action(
    request: Request, principal: Authenticated, id: VolumeId, action_id: ActionId
) -> VolumeActionAnswer:
    """One action on one of the caller's volumes."""
    action = await backends(request).storage.action(action_id, tenant(principal)[1], id)
    return VolumeActionAnswer(action=action_out(action))


@router.post("/{id:int}/actions/attach", status_code=201)
@scope(Family.VOLUMES, Access.WRITE)
async def attach_volume(request: Request, principal: Authenticated, id: VolumeId, body: Attach) -> VolumeActionAnswer:
    """Attach the volume to a server in its location."""
    action = await backends(request).storage.attach(id, tenant(principal)[1], body.server, bool(body.automount))
    return VolumeActionAnswer(action=action_out(action))


@router.post("/{id:int}/actions/detach", status_code=201)
@scope(Family.VOLUMES, Access.WRITE)
async def detach_volume(request: Request, principal: Authenticated, id: VolumeId) -> VolumeActionAnswer:
    """Detach the volume from its server."""
    action = await backends(request).storage.detach(id, tenant(principal)[1])
    return VolumeActionAnswer(action=action_out(action))


@router.post("/{id:int}/actions/resize", status_code=201)
@scope(Family.VOLUMES, Access.WRITE)
async def resize_volume(request: Request, principal: Authenticated, id: VolumeId, body: Resize) -> VolumeActionAnswer:
    """Grow the volume (it never shrinks)."""
    if body.size != int(body.size) or not 0 < body.size <= MAX_ID:
        raise InvalidInput(
            "size must be a whole number of GB", details={"fields": [{"name": "size", "messages": ["whole GB"]}]}
        )
    action = await backends(request).storage.resize(id, tenant(principal)[1], int(min(body.size, 2**31 - 1)))
    return VolumeActionAnswer(action=action_out(action))


@router.post("/{id:int}/actions/change_protection", status_code=201)
@scope(Family.VOLUMES, Access.WRITE)
async def change_volume_protection(
    request: Request, principal: Authenticated, id: VolumeId, body: Protection
) -> VolumeActionAnswer:
    """Set the volume's delete protection."""
    action = await backends(request).storage.change_protection(id, tenant(principal)[1], body.delete)
    return VolumeActionAnswer(action=action_out(action))


@router.post("/{id:int}/actions/create_snapshot", status_code=201)
@scope(Family.VOLUMES, Access.WRITE)
async def create_volume_snapshot(request: Request, principal: Authenticated, id: VolumeId) -> Response:
    """Refused with ``not_supported``: the upstream cloud has no volume snapshots."""
    await backends(request).storage.snapshot_volume(id, tenant(principal)[1])
    return Response(status_code=201)  # pragma: no cover - storage refuses while upstream has none
