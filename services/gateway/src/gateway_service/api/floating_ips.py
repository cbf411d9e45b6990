"""``/v1/floating_ips``: floating IPs, wire-compatible with Hetzner Cloud's, kept by the network
service (its worker makes them upstream).

- ``GET /v1/floating_ips``: the caller's floating IPs (with a key bound to an organization, that
  organization's too), filtered by ``name`` and ``label_selector``, sorted by ``id`` or
  ``created``, paged with ``meta.pagination`` and a ``Link`` header.
- ``POST /v1/floating_ips`` (``type`` ipv4|ipv6, ``home_location`` (name or ID) or ``server``,
  ``description``, ``name``, ``labels``): a new floating IP in the caller's tenant (one unit of its
  ``floating_ip`` quota, ``403 resource_limit_exceeded`` when used up), answered with its address
  once upstream made it and its ``create_floating_ip`` action. An unknown location, a server of
  another tenant or of another network zone is ``400 invalid_input``.
- ``GET``/``PUT`` (``name``, ``description``, ``labels``)/``DELETE /v1/floating_ips/{id}``: one
  floating IP the caller reaches; another tenant's is ``404 not_found``; a protected one is not
  deleted (``423 protected``), nor one with an action running (``423 locked``).
- ``POST /v1/floating_ips/{id}/actions/assign`` (``server``: the tenant's, in the same network
  zone), ``unassign``, ``change_dns_ptr`` (``ip``: its address or one of its IPv6 network,
  ``dns_ptr``: a hostname, null resets), ``change_protection`` (``delete``; finished at once).
- ``GET /v1/floating_ips/actions`` (``id``, ``status``, ``sort``, paging), ``/actions/{id}``,
  ``/{id}/actions`` and ``/{id}/actions/{action_id}``: network's actions of the caller's
  floating IPs; a client follows one at ``/v1/actions/{id}`` too.

Scopes ``floating_ips:read`` and ``floating_ips:write``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from cloudplatform.compute.v1 import compute_service_pb2 as cpb
from cloudplatform.network.v1 import network_service_pb2 as npb
from cpshared.errors import NotFound
from gateway_service.api.common import MAX_ID, BodyId, Labels, Meta, Text, page_meta, sort_param, tenant
from gateway_service.api.models.catalog import LocationOut, location_out
from gateway_service.api.servers.mapping import action_out, as_datetime
from gateway_service.api.servers.models import ActionAnswer, ActionOut, ActionsAnswer
from gateway_service.auth.gate import Authenticated
from gateway_service.auth.policy import Access, Family
from gateway_service.auth.scoped import scope
from gateway_service.clients.backends import backends
from hetzner_conventions.label_selector import parse_label_selector
from hetzner_conventions.pagination import parse_page_request
from hetzner_conventions.sorting import parse_sort

router = APIRouter(prefix="/v1/floating_ips", tags=["floating_ips"])

SORTABLE = ("id", "created")
ACTION_SORT = ("id", "command", "status", "started", "finished")
FloatingIpId = Annotated[int, Path(ge=1, le=MAX_ID, description="ID of the floating IP.")]
ActionId = Annotated[int, Path(ge=1, le=MAX_ID, description="ID of the action.")]
IpType = Literal["ipv4", "ipv6"]


class DnsPtrOut(BaseModel):
    ip: str
    dns_ptr: str


class ProtectionOut(BaseModel):
    delete: bool


class FloatingIpOut(BaseModel):
    id: int
    name: str
    description: str | None
    ip: str
    type: IpType
    server: int | None
    dns_ptr: list[DnsPtrOut]
    home_location: LocationOut
    blocked: bool
    protection: ProtectionOut
    labels: dict[str, str]
    created: datetime


class FloatingIpAnswer(BaseModel):
    floating_ip: FloatingIpOut


class CreatedFloatingIpAnswer(BaseModel):
    floating_ip: FloatingIpOut
    action: ActionOut | None = Field(description="The create_floating_ip action.")


class FloatingIpsAnswer(BaseModel):
    floating_ips: list[FloatingIpOut]
    meta: Meta


class NewFloatingIp(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: IpType
    home_location: str | None = Field(default=None, max_length=64, description="Name or ID of a location.")
    server: BodyId | None = Field(default=None, description="Server to assign it to.")
    description: Text | None = Field(default=None, max_length=1000)
    name: Text | None = Field(default=None, min_length=1, max_length=255)
    labels: Labels = Field(default_factory=dict)


class FloatingIpChange(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: Text | None = Field(default=None, min_length=1, max_length=255)
    description: Text | None = Field(default=None, max_length=1000)
    labels: Labels | None = Field(default=None, description="Replaces every label of the floating IP.")


class AssignBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    server: BodyId = Field(description="ID of the server to assign the floating IP to.")


class DnsPtrBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    ip: str = Field(max_length=45, description="The floating IP's address, or one of its IPv6 network.")
    dns_ptr: str | None = Field(max_length=255, description="A hostname; null resets it.")


class ProtectionBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    delete: bool | None = Field(default=None, description="Protect against deletion.")


class Locations:
    """Compute's locations, read once per request, for the floating IPs' ``home_location``."""

    def __init__(self, datacenters: list[cpb.Datacenter]) -> None:
        self.by_id = {dc.id: dc for dc in datacenters}

    @classmethod
    async def read(cls, request: Request) -> Locations:
        return cls(await backends(request).compute.datacenters())

    def code(self, name_or_id: str) -> str:
        """A location's name, given its name or its ID (an unknown one is passed on: network refuses it)."""
        if name_or_id.isdigit() and int(name_or_id) in self.by_id:
            return self.by_id[int(name_or_id)].code
        return name_or_id

    def out(self, fip: npb.FloatingIp) -> FloatingIpOut:
        dc = self.by_id.get(fip.datacenter_id) or cpb.Datacenter(id=fip.datacenter_id, code=fip.home_location)
        return FloatingIpOut(
            id=fip.id,
            name=fip.name,
            description=fip.description or None,
            ip=fip.ip,
            type="ipv6" if fip.type == "ipv6" else "ipv4",
            server=fip.server_id or None,
            dns_ptr=[DnsPtrOut(ip=entry.ip, dns_ptr=entry.dns_ptr) for entry in fip.dns_ptr],
            home_location=location_out(dc),
            blocked=fip.blocked,
            protection=ProtectionOut(delete=fip.protection_delete),
            labels=dict(fip.labels),
            created=as_datetime(fip.created_at),
        )


@router.get("")
@scope(Family.FLOATING_IPS, Access.READ)
async def list_floating_ips(
    request: Request,
    response: Response,
    principal: Authenticated,
    name: Annotated[str | None, Query(max_length=255, description="Only the floating IP with this name.")] = None,
    label_selector: Annotated[str | None, Query(max_length=1000)] = None,
    sort: Annotated[list[str] | None, Query(description="id or created, optionally :asc or :desc.")] = None,
    page: str | None = None,
    per_page: str | None = None,
) -> FloatingIpsAnswer:
    """The caller's floating IPs matching every filter given, one page of them."""
    page_request = parse_page_request(page, per_page)
    sort_keys = parse_sort(sort or [], SORTABLE)
    selector = parse_label_selector(label_selector)
    answer = await backends(request).floating_ips.search(
        *tenant(principal),
        name=name or "",
        label_selector=[
            cpb.LabelRequirement(key=r.key, operator=r.operator, values=r.values) for r in selector.requirements
        ],
        sort=sort_param(sort_keys),
        page=page_request.page,
        per_page=page_request.per_page,
    )
    meta = page_meta(request, response, page_request, answer.total_entries)
    locations = await Locations.read(request)
    return FloatingIpsAnswer(floating_ips=[locations.out(fip) for fip in answer.floating_ips], meta=meta)


@router.post("", status_code=201)
@scope(Family.FLOATING_IPS, Access.WRITE)
async def create_floating_ip(
    request: Request, principal: Authenticated, body: NewFloatingIp
) -> CreatedFloatingIpAnswer:
    """A new floating IP in the caller's tenant, answered once upstream made it."""
    locations = await Locations.read(request)
    answer = await backends(request).floating_ips.create(
        *tenant(principal),
        type=body.type,
        home_location=locations.code(body.home_location) if body.home_location else "",
        server_id=body.server or 0,
        description=body.description or "",
        name=body.name or "",
        labels=body.labels,
    )
    return CreatedFloatingIpAnswer(floating_ip=locations.out(answer.floating_ip), action=action_out(answer.action))


async def _actions(
    request: Request,
    response: Response,
    principal: Authenticated,
    floating_ip_id: int,
    id: list[int] | None,
    status: list[str] | None,
    sort: list[str] | None,
    page: str | None,
    per_page: str | None,
) -> ActionsAnswer:
    page_request = parse_page_request(page, per_page)
    keys = parse_sort(sort or [], ACTION_SORT)
    answer = await backends(request).floating_ips.actions(
        *tenant(principal),
        floating_ip_id=floating_ip_id,
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
@scope(Family.FLOATING_IPS, Access.READ)
async def list_floating_ip_actions(
    request: Request,
    response: Response,
    principal: Authenticated,
    id: ActionIds = None,
    status: ActionStatuses = None,
    sort: ActionSort = None,
    page: str | None = None,
    per_page: str | None = None,
) -> ActionsAnswer:
    """The actions of the caller's floating IPs."""
    return await _actions(request, response, principal, 0, id, list(status or []), sort, page, per_page)


@router.get("/actions/{action_id:int}")
@scope(Family.FLOATING_IPS, Access.READ)
async def get_floating_ip_action(request: Request, principal: Authenticated, action_id: ActionId) -> ActionAnswer:
    """One action of the caller's floating IPs."""
    action = await backends(request).floating_ips.action(action_id, tenant(principal)[1])
    if not action.floating_ip_id:
        raise NotFound(f"floating IP action {action_id} does not exist")
    return ActionAnswer(action=action_out(action))


@router.get("/{id:int}")
@scope(Family.FLOATING_IPS, Access.READ)
async def get_floating_ip(request: Request, principal: Authenticated, id: FloatingIpId) -> FloatingIpAnswer:
    """One floating IP the caller reaches."""
    fip = await backends(request).floating_ips.get(id, tenant(principal)[1])
    return FloatingIpAnswer(floating_ip=(await Locations.read(request)).out(fip))


@router.put("/{id:int}")
@scope(Family.FLOATING_IPS, Access.WRITE)
async def update_floating_ip(
    request: Request, principal: Authenticated, id: FloatingIpId, body: FloatingIpChange
) -> FloatingIpAnswer:
    """Rename a floating IP, change its description or replace its labels."""
    fip = await backends(request).floating_ips.update(
        id, tenant(principal)[1], name=body.name, description=body.description, labels=body.labels
    )
    return FloatingIpAnswer(floating_ip=(await Locations.read(request)).out(fip))


@router.delete("/{id:int}", status_code=204)
@scope(Family.FLOATING_IPS, Access.WRITE)
async def delete_floating_ip(request: Request, principal: Authenticated, id: FloatingIpId) -> Response:
    """Delete a floating IP (``423 protected`` while protected against deletion)."""
    await backends(request).floating_ips.delete(id, tenant(principal)[1])
    return Response(status_code=204)


@router.get("/{id:int}/actions")
@scope(Family.FLOATING_IPS, Access.READ)
async def list_actions_of_floating_ip(
    request: Request,
    response: Response,
    principal: Authenticated,
    id: FloatingIpId,
    status: ActionStatuses = None,
    sort: ActionSort = None,
    page: str | None = None,
    per_page: str | None = None,
) -> ActionsAnswer:
    """The actions of one floating IP the caller reaches."""
    return await _actions(request, response, principal, id, None, list(status or []), sort, page, per_page)


@router.get("/{id:int}/actions/{action_id:int}")
@scope(Family.FLOATING_IPS, Access.READ)
async def get_action_of_floating_ip(
    request: Request, principal: Authenticated, id: FloatingIpId, action_id: ActionId
) -> ActionAnswer:
    """One action of one floating IP the caller reaches."""
    action = await backends(request).floating_ips.action(action_id, tenant(principal)[1])
    if action.floating_ip_id != id:
        raise NotFound(f"action {action_id} of floating IP {id} does not exist")
    return ActionAnswer(action=action_out(action))


@router.post("/{id:int}/actions/assign", status_code=201)
@scope(Family.FLOATING_IPS, Access.WRITE)
async def assign_floating_ip(
    request: Request, principal: Authenticated, id: FloatingIpId, body: Annotated[AssignBody, Body()]
) -> ActionAnswer:
    """Assign it to a server of the tenant in the same network zone."""
    action = await backends(request).floating_ips.assign(id, tenant(principal)[1], body.server)
    return ActionAnswer(action=action_out(action))


@router.post("/{id:int}/actions/unassign", status_code=201)
@scope(Family.FLOATING_IPS, Access.WRITE)
async def unassign_floating_ip(request: Request, principal: Authenticated, id: FloatingIpId) -> ActionAnswer:
    """Unassign it from its server."""
    return ActionAnswer(action=action_out(await backends(request).floating_ips.unassign(id, tenant(principal)[1])))


@router.post("/{id:int}/actions/change_dns_ptr", status_code=201)
@scope(Family.FLOATING_IPS, Access.WRITE)
async def change_floating_ip_dns_ptr(
    request: Request, principal: Authenticated, id: FloatingIpId, body: Annotated[DnsPtrBody, Body()]
) -> ActionAnswer:
    """Set (or reset, ``dns_ptr`` null) the reverse DNS entry of one of its addresses."""
    action = await backends(request).floating_ips.change_dns_ptr(id, tenant(principal)[1], body.ip, body.dns_ptr)
    return ActionAnswer(action=action_out(action))


@router.post("/{id:int}/actions/change_protection", status_code=201)
@scope(Family.FLOATING_IPS, Access.WRITE)
async def change_floating_ip_protection(
    request: Request,
    principal: Authenticated,
    id: FloatingIpId,
    body: Annotated[ProtectionBody | None, Body()] = None,
) -> ActionAnswer:
    """Protect it against deletion, or lift the protection (finished at once)."""
    wanted = body or ProtectionBody()
    action = await backends(request).floating_ips.change_protection(id, tenant(principal)[1], wanted.delete)
    return ActionAnswer(action=action_out(action))
