"""``/v1/networks``: private networks, wire-compatible with Hetzner Cloud's, kept by the network
service (its worker makes them upstream); and the server actions that attach servers to them.

- ``GET /v1/networks``: the caller's networks (with a key bound to an organization, that
  organization's too), filtered by ``name`` and ``label_selector``, sorted by ``id``, ``name`` or
  ``created``, paged.
- ``POST /v1/networks`` (``name``, ``ip_range``: an RFC 1918 range of at least a /24,
  ``subnets``, ``routes``, ``labels``, ``expose_routes_to_vswitch``): a new network in the
  caller's tenant (one unit of its ``network`` quota, ``403 resource_limit_exceeded`` when used
  up). A public range, a malformed CIDR, an overlapping or outside subnet is ``400 invalid_input``.
- ``GET``/``PUT`` (``name``, ``labels``, ``expose_routes_to_vswitch``)/``DELETE /v1/networks/{id}``;
  a protected one is not deleted (``423 protected``), nor one with an action running
  (``423 locked``); deleting one detaches its servers (Hetzner's rule).
- ``POST /v1/networks/{id}/actions/add_subnet``, ``delete_subnet``, ``add_route``,
  ``delete_route``, ``change_ip_range`` (grow only), ``change_protection`` (finished at once).
- ``GET /v1/networks/actions``, ``/actions/{id}``, ``/{id}/actions``, ``/{id}/actions/{action_id}``.
- ``POST /v1/servers/{id}/actions/attach_to_network`` (``network``, ``ip``, ``alias_ips``,
  ``ip_range``), ``detach_from_network`` (``network``), ``change_alias_ips`` (``network``,
  ``alias_ips``): network asks compute about the server; Hetzner's codes
  ``server_already_attached``, ``ip_not_available``, ``no_subnet_available``,
  ``server_not_attached_to_network`` (422).

Scopes ``networks:read`` and ``networks:write``; the server actions ``servers:write``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from cloudplatform.compute.v1 import compute_service_pb2 as cpb
from cloudplatform.network.v1 import network_service_pb2 as npb
from cpshared.errors import NotFound
from gateway_service.api.common import MAX_ID, Labels, Meta, Text, page_meta, sort_param, tenant
from gateway_service.api.servers.mapping import action_out, as_datetime
from gateway_service.api.servers.models import ActionAnswer, ActionsAnswer
from gateway_service.auth.gate import Authenticated
from gateway_service.auth.policy import Access, Family
from gateway_service.auth.scoped import scope
from gateway_service.clients.backends import backends
from hetzner_conventions.label_selector import parse_label_selector
from hetzner_conventions.pagination import parse_page_request
from hetzner_conventions.sorting import parse_sort

router = APIRouter(prefix="/v1/networks", tags=["networks"])
server_router = APIRouter(prefix="/v1/servers", tags=["servers"])

SORTABLE = ("id", "name", "created")
ACTION_SORT = ("id", "command", "status", "started", "finished")
MAX_SUBNETS = 50
MAX_ROUTES = 100
MAX_ALIAS_IPS = 5
NetworkId = Annotated[int, Path(ge=1, le=MAX_ID, description="ID of the network.")]
ServerId = Annotated[int, Path(ge=1, le=MAX_ID, description="ID of the server.")]
ActionId = Annotated[int, Path(ge=1, le=MAX_ID, description="ID of the action.")]
Cidr = Annotated[str, Field(min_length=1, max_length=50, description="An IPv4 range in CIDR notation.")]
Address = Annotated[str, Field(min_length=1, max_length=45, description="An IPv4 address.")]
SubnetType = Literal["cloud", "server", "vswitch"]


class SubnetOut(BaseModel):
    type: SubnetType
    ip_range: str
    network_zone: str
    gateway: str
    vswitch_id: int | None = None


class RouteModel(BaseModel):
    model_config = ConfigDict(extra="ignore")

    destination: Cidr
    gateway: Address


class ProtectionOut(BaseModel):
    delete: bool


class NetworkOut(BaseModel):
    id: int
    name: str
    ip_range: str
    subnets: list[SubnetOut]
    routes: list[RouteModel]
    servers: list[int]
    load_balancers: list[int]
    protection: ProtectionOut
    labels: dict[str, str]
    created: datetime
    expose_routes_to_vswitch: bool


class NetworkAnswer(BaseModel):
    network: NetworkOut


class NetworksAnswer(BaseModel):
    networks: list[NetworkOut]
    meta: Meta


class SubnetBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: SubnetType
    network_zone: str = Field(min_length=1, max_length=50)
    ip_range: Cidr | None = None
    vswitch_id: int | None = Field(default=None, ge=1, le=MAX_ID)


class NewNetwork(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: Text = Field(min_length=1, max_length=255)
    ip_range: Cidr
    subnets: list[SubnetBody] = Field(default_factory=list, max_length=MAX_SUBNETS)
    routes: list[RouteModel] = Field(default_factory=list, max_length=MAX_ROUTES)
    labels: Labels = Field(default_factory=dict)
    expose_routes_to_vswitch: bool = False


class NetworkChange(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: Text | None = Field(default=None, min_length=1, max_length=255)
    labels: Labels | None = Field(default=None, description="Replaces every label of the network.")
    expose_routes_to_vswitch: bool | None = None


class IpRangeBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    ip_range: Cidr


class ProtectionBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    delete: bool | None = Field(default=None, description="Protect against deletion.")


class AttachBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    network: int = Field(ge=1, le=MAX_ID, description="ID of the network.")
    ip: Address | None = None
    alias_ips: list[Address] = Field(default_factory=list, max_length=MAX_ALIAS_IPS)
    ip_range: Cidr | None = None


class DetachBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    network: int = Field(ge=1, le=MAX_ID, description="ID of the network.")


class AliasIpsBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    network: int = Field(ge=1, le=MAX_ID, description="ID of the network.")
    alias_ips: list[Address] = Field(max_length=MAX_ALIAS_IPS)


def network_out(network: npb.PrivateNetwork) -> NetworkOut:
    return NetworkOut(
        id=network.id,
        name=network.name,
        ip_range=network.ip_range,
        subnets=[
            SubnetOut(
                type=s.type,  # type: ignore[arg-type]  # one of SubnetType
                ip_range=s.ip_range,
                network_zone=s.network_zone,
                gateway=s.gateway,
                vswitch_id=s.vswitch_id or None,
            )
            for s in network.subnets
        ],
        routes=[RouteModel(destination=r.destination, gateway=r.gateway) for r in network.routes],
        servers=[s.server_id for s in network.servers],
        load_balancers=[],
        protection=ProtectionOut(delete=network.protection_delete),
        labels=dict(network.labels),
        created=as_datetime(network.created_at),
        expose_routes_to_vswitch=network.expose_routes_to_vswitch,
    )


def _subnet(body: SubnetBody) -> npb.Subnet:
    return npb.Subnet(
        type=body.type, network_zone=body.network_zone, ip_range=body.ip_range or "", vswitch_id=body.vswitch_id or 0
    )


@router.get("")
@scope(Family.NETWORKS, Access.READ)
async def list_networks(
    request: Request,
    response: Response,
    principal: Authenticated,
    name: Annotated[str | None, Query(max_length=255, description="Only the network with this name.")] = None,
    label_selector: Annotated[str | None, Query(max_length=1000)] = None,
    sort: Annotated[list[str] | None, Query(description="id, name or created, optionally :asc or :desc.")] = None,
    page: str | None = None,
    per_page: str | None = None,
) -> NetworksAnswer:
    """The caller's networks matching every filter given, one page of them."""
    page_request = parse_page_request(page, per_page)
    sort_keys = parse_sort(sort or [], SORTABLE)
    selector = parse_label_selector(label_selector)
    answer = await backends(request).networks.search(
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
    return NetworksAnswer(networks=[network_out(n) for n in answer.networks], meta=meta)


@router.post("", status_code=201)
@scope(Family.NETWORKS, Access.WRITE)
async def create_network(request: Request, principal: Authenticated, body: NewNetwork) -> NetworkAnswer:
    """A new network in the caller's tenant; network's worker makes it upstream."""
    answer = await backends(request).networks.create(
        *tenant(principal),
        name=body.name,
        ip_range=body.ip_range,
        subnets=[_subnet(s) for s in body.subnets],
        routes=[npb.Route(destination=r.destination, gateway=r.gateway) for r in body.routes],
        labels=body.labels,
        expose_routes_to_vswitch=body.expose_routes_to_vswitch,
    )
    return NetworkAnswer(network=network_out(answer.network))


async def _actions(
    request: Request,
    response: Response,
    principal: Authenticated,
    network_id: int,
    id: list[int] | None,
    status: list[str] | None,
    sort: list[str] | None,
    page: str | None,
    per_page: str | None,
) -> ActionsAnswer:
    page_request = parse_page_request(page, per_page)
    keys = parse_sort(sort or [], ACTION_SORT)
    answer = await backends(request).networks.actions(
        *tenant(principal),
        network_id=network_id,
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


def _of_network(action: npb.Action, network_id: int = 0) -> bool:
    return any(r.type == "network" and (not network_id or r.id == network_id) for r in action.resources)


@router.get("/actions")
@scope(Family.NETWORKS, Access.READ)
async def list_network_actions(
    request: Request,
    response: Response,
    principal: Authenticated,
    id: ActionIds = None,
    status: ActionStatuses = None,
    sort: ActionSort = None,
    page: str | None = None,
    per_page: str | None = None,
) -> ActionsAnswer:
    """The actions of the caller's networks."""
    return await _actions(request, response, principal, 0, id, list(status or []), sort, page, per_page)


@router.get("/actions/{action_id:int}")
@scope(Family.NETWORKS, Access.READ)
async def get_network_action(request: Request, principal: Authenticated, action_id: ActionId) -> ActionAnswer:
    """One action of the caller's networks."""
    action = await backends(request).floating_ips.action(action_id, tenant(principal)[1])
    if not _of_network(action):
        raise NotFound(f"network action {action_id} does not exist")
    return ActionAnswer(action=action_out(action))


@router.get("/{id:int}")
@scope(Family.NETWORKS, Access.READ)
async def get_network(request: Request, principal: Authenticated, id: NetworkId) -> NetworkAnswer:
    """One network the caller reaches."""
    return NetworkAnswer(network=network_out(await backends(request).networks.get(id, tenant(principal)[1])))


@router.put("/{id:int}")
@scope(Family.NETWORKS, Access.WRITE)
async def update_network(
    request: Request, principal: Authenticated, id: NetworkId, body: NetworkChange
) -> NetworkAnswer:
    """Rename a network, replace its labels or change expose_routes_to_vswitch."""
    network = await backends(request).networks.update(
        id,
        tenant(principal)[1],
        name=body.name,
        labels=body.labels,
        expose_routes_to_vswitch=body.expose_routes_to_vswitch,
    )
    return NetworkAnswer(network=network_out(network))


@router.delete("/{id:int}", status_code=204)
@scope(Family.NETWORKS, Access.WRITE)
async def delete_network(request: Request, principal: Authenticated, id: NetworkId) -> Response:
    """Delete a network (``423 protected``); its servers are detached with it."""
    await backends(request).networks.delete(id, tenant(principal)[1])
    return Response(status_code=204)


@router.get("/{id:int}/actions")
@scope(Family.NETWORKS, Access.READ)
async def list_actions_of_network(
    request: Request,
    response: Response,
    principal: Authenticated,
    id: NetworkId,
    status: ActionStatuses = None,
    sort: ActionSort = None,
    page: str | None = None,
    per_page: str | None = None,
) -> ActionsAnswer:
    """The actions of one network the caller reaches."""
    return await _actions(request, response, principal, id, None, list(status or []), sort, page, per_page)


@router.get("/{id:int}/actions/{action_id:int}")
@scope(Family.NETWORKS, Access.READ)
async def get_action_of_network(
    request: Request, principal: Authenticated, id: NetworkId, action_id: ActionId
) -> ActionAnswer:
    """One action of one network the caller reaches."""
    action = await backends(request).floating_ips.action(action_id, tenant(principal)[1])
    if not _of_network(action, id):
        raise NotFound(f"action {action_id} of network {id} does not exist")
    return ActionAnswer(action=action_out(action))


@router.post("/{id:int}/actions/add_subnet", status_code=201)
@scope(Family.NETWORKS, Access.WRITE)
async def add_subnet(
    request: Request, principal: Authenticated, id: NetworkId, body: Annotated[SubnetBody, Body()]
) -> ActionAnswer:
    """Add a subnet (inside the range, overlapping nothing)."""
    action = await backends(request).networks.add_subnet(id, tenant(principal)[1], _subnet(body))
    return ActionAnswer(action=action_out(action))


@router.post("/{id:int}/actions/delete_subnet", status_code=201)
@scope(Family.NETWORKS, Access.WRITE)
async def delete_subnet(
    request: Request, principal: Authenticated, id: NetworkId, body: Annotated[IpRangeBody, Body()]
) -> ActionAnswer:
    """Delete a subnet (``422 resource_in_use`` while a server has an address in it)."""
    action = await backends(request).networks.delete_subnet(id, tenant(principal)[1], body.ip_range)
    return ActionAnswer(action=action_out(action))


@router.post("/{id:int}/actions/add_route", status_code=201)
@scope(Family.NETWORKS, Access.WRITE)
async def add_route(
    request: Request, principal: Authenticated, id: NetworkId, body: Annotated[RouteModel, Body()]
) -> ActionAnswer:
    """Add a route."""
    route = npb.Route(destination=body.destination, gateway=body.gateway)
    return ActionAnswer(action=action_out(await backends(request).networks.add_route(id, tenant(principal)[1], route)))


@router.post("/{id:int}/actions/delete_route", status_code=201)
@scope(Family.NETWORKS, Access.WRITE)
async def delete_route(
    request: Request, principal: Authenticated, id: NetworkId, body: Annotated[RouteModel, Body()]
) -> ActionAnswer:
    """Delete a route."""
    route = npb.Route(destination=body.destination, gateway=body.gateway)
    action = await backends(request).networks.delete_route(id, tenant(principal)[1], route)
    return ActionAnswer(action=action_out(action))


@router.post("/{id:int}/actions/change_ip_range", status_code=201)
@scope(Family.NETWORKS, Access.WRITE)
async def change_ip_range(
    request: Request, principal: Authenticated, id: NetworkId, body: Annotated[IpRangeBody, Body()]
) -> ActionAnswer:
    """Grow the network's range (the new one must hold the old one)."""
    action = await backends(request).networks.change_ip_range(id, tenant(principal)[1], body.ip_range)
    return ActionAnswer(action=action_out(action))


@router.post("/{id:int}/actions/change_protection", status_code=201)
@scope(Family.NETWORKS, Access.WRITE)
async def change_network_protection(
    request: Request,
    principal: Authenticated,
    id: NetworkId,
    body: Annotated[ProtectionBody | None, Body()] = None,
) -> ActionAnswer:
    """Protect it against deletion, or lift the protection (finished at once)."""
    wanted = body or ProtectionBody()
    action = await backends(request).networks.change_protection(id, tenant(principal)[1], wanted.delete)
    return ActionAnswer(action=action_out(action))


@server_router.post("/{id:int}/actions/attach_to_network", status_code=201)
@scope(Family.SERVERS, Access.WRITE)
async def attach_to_network(
    request: Request, principal: Authenticated, id: ServerId, body: Annotated[AttachBody, Body()]
) -> ActionAnswer:
    """Attach the server to a network of its network zone (its IP chosen unless given)."""
    action = await backends(request).networks.attach(
        id,
        tenant(principal)[1],
        body.network,
        ip=body.ip or "",
        alias_ips=body.alias_ips,
        ip_range=body.ip_range or "",
    )
    return ActionAnswer(action=action_out(action))


@server_router.post("/{id:int}/actions/detach_from_network", status_code=201)
@scope(Family.SERVERS, Access.WRITE)
async def detach_from_network(
    request: Request, principal: Authenticated, id: ServerId, body: Annotated[DetachBody, Body()]
) -> ActionAnswer:
    """Detach the server from a network."""
    action = await backends(request).networks.detach(id, tenant(principal)[1], body.network)
    return ActionAnswer(action=action_out(action))


@server_router.post("/{id:int}/actions/change_alias_ips", status_code=201)
@scope(Family.SERVERS, Access.WRITE)
async def change_alias_ips(
    request: Request, principal: Authenticated, id: ServerId, body: Annotated[AliasIpsBody, Body()]
) -> ActionAnswer:
    """Change the server's alias IPs in a network."""
    action = await backends(request).networks.change_alias_ips(id, tenant(principal)[1], body.network, body.alias_ips)
    return ActionAnswer(action=action_out(action))
