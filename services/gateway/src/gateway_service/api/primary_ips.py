"""``/v1/primary_ips``: primary IPs, wire-compatible with Hetzner Cloud's, kept by the network
service (its worker makes them upstream, and adopts a server's own addresses as primary IPs).

- ``GET /v1/primary_ips``: the caller's primary IPs (with a key bound to an organization, that
  organization's too), filtered by ``name``, ``ip`` and ``label_selector``, sorted by ``id``,
  ``name`` or ``created``, paged with ``meta.pagination`` and a ``Link`` header.
- ``POST /v1/primary_ips`` (``name``, ``type`` ipv4|ipv6, ``assignee_type`` server, exactly one
  of ``location``/``datacenter`` (name or ID) and ``assignee_id`` (a powered-off server of the
  tenant without a primary IP of that type), ``auto_delete``, ``labels``): one unit of the
  tenant's ``primary_ip`` quota (``403 resource_limit_exceeded`` when used up), answered with its
  address once upstream made it and its ``create_primary_ip`` action.
- ``GET``/``PUT`` (``name``, ``labels``, ``auto_delete``)/``DELETE /v1/primary_ips/{id}``: a
  protected one is not deleted (``423 protected``), nor one whose server runs
  (``422 server_not_stopped``), nor one with an action running (``423 locked``).
- ``POST /v1/primary_ips/{id}/actions/assign`` (``assignee_id``, ``assignee_type``; the server
  powered off), ``unassign`` (its server powered off), ``change_dns_ptr``, ``change_protection``.
- ``GET /v1/primary_ips/actions`` (``id``, ``status``, ``sort``, paging), ``/actions/{id}``,
  ``/{id}/actions`` and ``/{id}/actions/{action_id}``; a client follows one at ``/v1/actions/{id}`` too.

Scopes ``primary_ips:read`` and ``primary_ips:write``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from cloudplatform.compute.v1 import compute_service_pb2 as cpb
from cloudplatform.network.v1 import network_service_pb2 as npb
from cpshared.errors import NotFound
from gateway_service.api.common import MAX_ID, BodyId, Labels, Meta, page_meta, sort_param, tenant
from gateway_service.api.models.catalog import (
    DatacenterOut,
    LocationOut,
    datacenter_name,
    datacenter_out,
    location_out,
)
from gateway_service.api.servers.mapping import action_out, as_datetime
from gateway_service.api.servers.models import ActionAnswer, ActionOut, ActionsAnswer
from gateway_service.auth.gate import Authenticated
from gateway_service.auth.policy import Access, Family
from gateway_service.auth.scoped import scope
from gateway_service.clients.backends import backends
from hetzner_conventions.errors import invalid_field
from hetzner_conventions.label_selector import parse_label_selector
from hetzner_conventions.pagination import parse_page_request
from hetzner_conventions.sorting import parse_sort

router = APIRouter(prefix="/v1/primary_ips", tags=["primary_ips"])

SORTABLE = ("id", "name", "created")
ACTION_SORT = ("id", "command", "status", "started", "finished")
PrimaryIpId = Annotated[int, Path(ge=1, le=MAX_ID, description="ID of the primary IP.")]
ActionId = Annotated[int, Path(ge=1, le=MAX_ID, description="ID of the action.")]
IpType = Literal["ipv4", "ipv6"]


class DnsPtrOut(BaseModel):
    ip: str
    dns_ptr: str


class ProtectionOut(BaseModel):
    delete: bool


class PrimaryIpOut(BaseModel):
    id: int
    name: str
    ip: str
    type: IpType
    assignee_id: int | None
    assignee_type: Literal["server"]
    auto_delete: bool
    blocked: bool
    datacenter: DatacenterOut
    location: LocationOut
    dns_ptr: list[DnsPtrOut]
    protection: ProtectionOut
    labels: dict[str, str]
    created: datetime


class PrimaryIpAnswer(BaseModel):
    primary_ip: PrimaryIpOut


class CreatedPrimaryIpAnswer(BaseModel):
    primary_ip: PrimaryIpOut
    action: ActionOut = Field(description="The create_primary_ip action.")


class PrimaryIpsAnswer(BaseModel):
    primary_ips: list[PrimaryIpOut]
    meta: Meta


class NewPrimaryIp(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1, max_length=255)
    type: IpType
    assignee_type: Literal["server"] = "server"
    assignee_id: BodyId | None = Field(default=None, description="A powered-off server to assign it to.")
    location: str | None = Field(default=None, max_length=64, description="Name or ID of a location.")
    datacenter: str | None = Field(default=None, max_length=64, description="Deprecated: name or ID of a datacenter.")
    auto_delete: bool = Field(default=False, description="Delete it with the server it is assigned to.")
    labels: Labels = Field(default_factory=dict)


class PrimaryIpChange(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str | None = Field(default=None, min_length=1, max_length=255)
    labels: Labels | None = Field(default=None, description="Replaces every label of the primary IP.")
    auto_delete: bool | None = None


class AssignBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    assignee_id: BodyId = Field(description="ID of the powered-off server to assign it to.")
    assignee_type: Literal["server"] = "server"


class DnsPtrBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    ip: str = Field(max_length=45, description="Its IPv4 address, or one of its IPv6 network.")
    dns_ptr: str | None = Field(max_length=255, description="A hostname; null resets it.")


class ProtectionBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    delete: bool | None = Field(default=None, description="Protect against deletion.")


class Places:
    """Compute's locations and server types, read once per request, for ``location`` and ``datacenter``."""

    def __init__(self, datacenters: list[cpb.Datacenter], server_types: list[cpb.ServerType]) -> None:
        self.by_id = {dc.id: dc for dc in datacenters}
        self.by_code = {dc.code: dc for dc in datacenters}
        self.server_types = server_types

    @classmethod
    async def read(cls, request: Request) -> Places:
        compute = backends(request).compute
        return cls(await compute.datacenters(), await compute.server_types())

    def location_code(self, location: str | None, datacenter: str | None) -> str:
        """The location's code, given a location's name or ID or a datacenter's name or ID."""
        if location is not None:
            if location.isdigit() and int(location) in self.by_id:
                return self.by_id[int(location)].code
            return location  # an unknown one is passed on: network refuses it
        if datacenter is None:
            return ""
        for dc in self.by_id.values():
            if datacenter in (datacenter_name(dc), str(dc.id)):
                return dc.code
        raise invalid_field("datacenter", f"datacenter {datacenter!r} does not exist")

    def out(self, pip: npb.PrimaryIp) -> PrimaryIpOut:
        dc = self.by_id.get(pip.datacenter_id) or self.by_code.get(pip.location) or cpb.Datacenter(code=pip.location)
        return PrimaryIpOut(
            id=pip.id,
            name=pip.name,
            ip=pip.ip,
            type="ipv6" if pip.type == "ipv6" else "ipv4",
            assignee_id=pip.assignee_id or None,
            assignee_type="server",
            auto_delete=pip.auto_delete,
            blocked=pip.blocked,
            datacenter=datacenter_out(dc, self.server_types),
            location=location_out(dc),
            dns_ptr=[DnsPtrOut(ip=entry.ip, dns_ptr=entry.dns_ptr) for entry in pip.dns_ptr],
            protection=ProtectionOut(delete=pip.protection_delete),
            labels=dict(pip.labels),
            created=as_datetime(pip.created_at),
        )


@router.get("")
@scope(Family.PRIMARY_IPS, Access.READ)
async def list_primary_ips(
    request: Request,
    response: Response,
    principal: Authenticated,
    name: Annotated[str | None, Query(max_length=255, description="Only the primary IP with this name.")] = None,
    ip: Annotated[str | None, Query(max_length=45, description="Only the primary IP with this address.")] = None,
    label_selector: Annotated[str | None, Query(max_length=1000)] = None,
    sort: Annotated[list[str] | None, Query(description="id, name or created, optionally :asc or :desc.")] = None,
    page: str | None = None,
    per_page: str | None = None,
) -> PrimaryIpsAnswer:
    """The caller's primary IPs matching every filter given, one page of them."""
    page_request = parse_page_request(page, per_page)
    sort_keys = parse_sort(sort or [], SORTABLE)
    selector = parse_label_selector(label_selector)
    answer = await backends(request).primary_ips.search(
        *tenant(principal),
        name=name or "",
        ip=ip or "",
        label_selector=[
            cpb.LabelRequirement(key=r.key, operator=r.operator, values=r.values) for r in selector.requirements
        ],
        sort=sort_param(sort_keys),
        page=page_request.page,
        per_page=page_request.per_page,
    )
    meta = page_meta(request, response, page_request, answer.total_entries)
    places = await Places.read(request)
    return PrimaryIpsAnswer(primary_ips=[places.out(pip) for pip in answer.primary_ips], meta=meta)


@router.post("", status_code=201)
@scope(Family.PRIMARY_IPS, Access.WRITE)
async def create_primary_ip(request: Request, principal: Authenticated, body: NewPrimaryIp) -> CreatedPrimaryIpAnswer:
    """A new primary IP in the caller's tenant, answered once upstream made it."""
    places = await Places.read(request)
    given = [x for x in (body.assignee_id, body.location, body.datacenter) if x is not None]
    if len(given) != 1:
        raise invalid_field("location", "give exactly one of location, datacenter and assignee_id")
    answer = await backends(request).primary_ips.create(
        *tenant(principal),
        type=body.type,
        name=body.name,
        location=places.location_code(body.location, body.datacenter),
        assignee_id=body.assignee_id or 0,
        assignee_type=body.assignee_type,
        auto_delete=body.auto_delete,
        labels=body.labels,
    )
    return CreatedPrimaryIpAnswer(primary_ip=places.out(answer.primary_ip), action=action_out(answer.action))


async def _actions(
    request: Request,
    response: Response,
    principal: Authenticated,
    primary_ip_id: int,
    id: list[int] | None,
    status: list[str] | None,
    sort: list[str] | None,
    page: str | None,
    per_page: str | None,
) -> ActionsAnswer:
    page_request = parse_page_request(page, per_page)
    keys = parse_sort(sort or [], ACTION_SORT)
    answer = await backends(request).primary_ips.actions(
        *tenant(principal),
        primary_ip_id=primary_ip_id,
        ids=sorted(set(id or [])),
        status=list(status or []),
        sort=sort_param(keys),
        page=page_request.page,
        per_page=page_request.per_page,
    )
    meta = page_meta(request, response, page_request, answer.total_entries)
    return ActionsAnswer(actions=[action_out(a) for a in answer.actions], meta=meta)


ActionIds = Annotated[list[Annotated[int, Query(ge=1, le=MAX_ID)]] | None, Query(max_length=50)]
ActionStatuses = Annotated[list[Literal["running", "success", "error"]] | None, Query()]
ActionSort = Annotated[list[str] | None, Query(description="id, command, status, started, finished.")]


@router.get("/actions")
@scope(Family.PRIMARY_IPS, Access.READ)
async def list_primary_ip_actions(
    request: Request,
    response: Response,
    principal: Authenticated,
    id: ActionIds = None,
    status: ActionStatuses = None,
    sort: ActionSort = None,
    page: str | None = None,
    per_page: str | None = None,
) -> ActionsAnswer:
    """The actions of the caller's primary IPs."""
    return await _actions(request, response, principal, 0, id, list(status or []), sort, page, per_page)


@router.get("/actions/{action_id:int}")
@scope(Family.PRIMARY_IPS, Access.READ)
async def get_primary_ip_action(request: Request, principal: Authenticated, action_id: ActionId) -> ActionAnswer:
    """One action of the caller's primary IPs."""
    action = await backends(request).floating_ips.action(action_id, tenant(principal)[1])
    if not action.primary_ip_id:
        raise NotFound(f"primary IP action {action_id} does not exist")
    return ActionAnswer(action=action_out(action))


@router.get("/{id:int}")
@scope(Family.PRIMARY_IPS, Access.READ)
async def get_primary_ip(request: Request, principal: Authenticated, id: PrimaryIpId) -> PrimaryIpAnswer:
    """One primary IP the caller reaches."""
    pip = await backends(request).primary_ips.get(id, tenant(principal)[1])
    return PrimaryIpAnswer(primary_ip=(await Places.read(request)).out(pip))


@router.put("/{id:int}")
@scope(Family.PRIMARY_IPS, Access.WRITE)
async def update_primary_ip(
    request: Request, principal: Authenticated, id: PrimaryIpId, body: PrimaryIpChange
) -> PrimaryIpAnswer:
    """Rename a primary IP, replace its labels or change its auto_delete."""
    pip = await backends(request).primary_ips.update(
        id, tenant(principal)[1], name=body.name, labels=body.labels, auto_delete=body.auto_delete
    )
    return PrimaryIpAnswer(primary_ip=(await Places.read(request)).out(pip))


@router.delete("/{id:int}", status_code=204)
@scope(Family.PRIMARY_IPS, Access.WRITE)
async def delete_primary_ip(request: Request, principal: Authenticated, id: PrimaryIpId) -> Response:
    """Delete a primary IP (``423 protected`` while protected; its server must be off)."""
    await backends(request).primary_ips.delete(id, tenant(principal)[1])
    return Response(status_code=204)


@router.get("/{id:int}/actions")
@scope(Family.PRIMARY_IPS, Access.READ)
async def list_actions_of_primary_ip(
    request: Request,
    response: Response,
    principal: Authenticated,
    id: PrimaryIpId,
    status: ActionStatuses = None,
    sort: ActionSort = None,
    page: str | None = None,
    per_page: str | None = None,
) -> ActionsAnswer:
    """The actions of one primary IP the caller reaches."""
    return await _actions(request, response, principal, id, None, list(status or []), sort, page, per_page)


@router.get("/{id:int}/actions/{action_id:int}")
@scope(Family.PRIMARY_IPS, Access.READ)
async def get_action_of_primary_ip(
    request: Request, principal: Authenticated, id: PrimaryIpId, action_id: ActionId
) -> ActionAnswer:
    """One action of one primary IP the caller reaches."""
    action = await backends(request).floating_ips.action(action_id, tenant(principal)[1])
    if action.primary_ip_id != id:
        raise NotFound(f"action {action_id} of primary IP {id} does not exist")
    return ActionAnswer(action=action_out(action))


@router.post("/{id:int}/actions/assign", status_code=201)
@scope(Family.PRIMARY_IPS, Access.WRITE)
async def assign_primary_ip(
    request: Request, principal: Authenticated, id: PrimaryIpId, body: Annotated[AssignBody, Body()]
) -> ActionAnswer:
    """Assign it to a powered-off server of the tenant in its location."""
    action = await backends(request).primary_ips.assign(id, tenant(principal)[1], body.assignee_id, body.assignee_type)
    return ActionAnswer(action=action_out(action))


@router.post("/{id:int}/actions/unassign", status_code=201)
@scope(Family.PRIMARY_IPS, Access.WRITE)
async def unassign_primary_ip(request: Request, principal: Authenticated, id: PrimaryIpId) -> ActionAnswer:
    """Unassign it from its (powered-off) server."""
    return ActionAnswer(action=action_out(await backends(request).primary_ips.unassign(id, tenant(principal)[1])))


@router.post("/{id:int}/actions/change_dns_ptr", status_code=201)
@scope(Family.PRIMARY_IPS, Access.WRITE)
async def change_primary_ip_dns_ptr(
    request: Request, principal: Authenticated, id: PrimaryIpId, body: Annotated[DnsPtrBody, Body()]
) -> ActionAnswer:
    """Set (or reset, ``dns_ptr`` null) the reverse DNS entry of one of its addresses."""
    action = await backends(request).primary_ips.change_dns_ptr(id, tenant(principal)[1], body.ip, body.dns_ptr)
    return ActionAnswer(action=action_out(action))


@router.post("/{id:int}/actions/change_protection", status_code=201)
@scope(Family.PRIMARY_IPS, Access.WRITE)
async def change_primary_ip_protection(
    request: Request,
    principal: Authenticated,
    id: PrimaryIpId,
    body: Annotated[ProtectionBody | None, Body()] = None,
) -> ActionAnswer:
    """Protect it against deletion, or lift the protection (finished at once)."""
    wanted = body or ProtectionBody()
    action = await backends(request).primary_ips.change_protection(id, tenant(principal)[1], wanted.delete)
    return ActionAnswer(action=action_out(action))
