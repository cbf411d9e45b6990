"""``/v1/load_balancers``: load balancers, wire-compatible with Hetzner Cloud's, kept by the network
service (its worker makes them upstream, a label selector target resolved into the tenant's
servers).

- ``GET /v1/load_balancers`` (``name``, ``label_selector``, ``sort`` id/name/created, paging);
  ``POST /v1/load_balancers`` (``name``, ``load_balancer_type``, ``location`` or
  ``network_zone``, ``algorithm``, ``services``, ``targets``, ``labels``, ``public_interface``,
  ``network``): ``201`` with the load balancer and its ``create_load_balancer`` action; one unit
  of the tenant's ``load_balancer`` quota (``403 resource_limit_exceeded``).
- ``GET``/``PUT`` (``name``, ``labels``)/``DELETE /v1/load_balancers/{id}`` (``423 protected``
  while protected, ``423 locked`` while an action runs).
- ``POST /v1/load_balancers/{id}/actions/<action>``: ``add_service``, ``update_service``,
  ``delete_service``, ``add_target``, ``remove_target``, ``change_algorithm``, ``change_type``,
  ``attach_to_network``, ``detach_from_network``, ``enable_public_interface``,
  ``disable_public_interface``, ``change_dns_ptr``, ``change_protection``: ``201`` with the action.
- ``GET /v1/load_balancers/actions``, ``/actions/{id}``, ``/{id}/actions``, ``/{id}/actions/{action_id}``.

A port outside 1-65535, a server the caller does not reach, a target or listen port given twice:
``400 invalid_input`` (``target_already_defined``, ``source_port_already_used`` as Hetzner
names them). ``/metrics`` is not served by the gateway (``501 not_implemented``). Scopes
``load_balancers:read`` and ``load_balancers:write``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from cloudplatform.compute.v1 import compute_service_pb2 as cpb
from cloudplatform.network.v1 import network_service_pb2 as npb
from cpshared.errors import NotFound
from gateway_service.api.common import MAX_ID, Labels, Meta, page_meta, sort_param, tenant
from gateway_service.api.models.catalog import (
    LoadBalancerTypeOut,
    LocationOut,
    active_datacenters,
    load_balancer_type_out,
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

router = APIRouter(prefix="/v1/load_balancers", tags=["load_balancers"])

SORTABLE = ("id", "name", "created")
ACTION_SORT = ("id", "command", "status", "started", "finished")
MAX_ITEMS = 100
LoadBalancerId = Annotated[int, Path(ge=1, le=MAX_ID, description="ID of the load balancer.")]
ActionId = Annotated[int, Path(ge=1, le=MAX_ID, description="ID of the action.")]
Port = Annotated[int, Field(ge=1, le=65535)]
IdOrName = Annotated[str, Field(min_length=1, max_length=64)] | Annotated[int, Field(ge=1, le=MAX_ID)]
"""Hetzner documents a string; hcloud-go sends the ID as a number."""


class Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class HealthCheckHttpBody(Body):
    domain: str | None = Field(default=None, max_length=255)
    path: str | None = Field(default=None, max_length=255)
    response: str | None = Field(default=None, max_length=1000)
    status_codes: list[Annotated[str, Field(max_length=3)]] | None = Field(default=None, max_length=20)
    tls: bool | None = None


class HealthCheckBody(Body):
    protocol: Literal["tcp", "http"] | None = None
    port: Port | None = None
    interval: int | None = Field(default=None, ge=1, le=3600)
    timeout: int | None = Field(default=None, ge=1, le=3600)
    retries: int | None = Field(default=None, ge=0, le=100)
    http: HealthCheckHttpBody | None = None


class ServiceHttpBody(Body):
    cookie_name: str | None = Field(default=None, max_length=64)
    cookie_lifetime: int | None = Field(default=None, ge=1, le=2_592_000)
    certificates: list[Annotated[int, Field(ge=1, le=MAX_ID)]] | None = Field(default=None, max_length=MAX_ITEMS)
    redirect_http: bool | None = None
    sticky_sessions: bool | None = None
    timeout_idle: int | None = Field(default=None, ge=1, le=3600)


class ServiceBody(Body):
    protocol: Literal["tcp", "http", "https"]
    listen_port: Port | None = None
    destination_port: Port | None = None
    proxyprotocol: bool | None = None
    health_check: HealthCheckBody | None = None
    http: ServiceHttpBody | None = None


class ServiceChange(Body):
    protocol: Literal["tcp", "http", "https"] | None = None
    listen_port: Port
    destination_port: Port | None = None
    proxyprotocol: bool | None = None
    health_check: HealthCheckBody | None = None
    http: ServiceHttpBody | None = None


class ResourceId(Body):
    id: int = Field(ge=1, le=MAX_ID)


class Selector(Body):
    selector: str = Field(min_length=1, max_length=1000)


class TargetIp(Body):
    ip: str = Field(min_length=1, max_length=45)


class TargetBody(Body):
    type: Literal["server", "label_selector", "ip"]
    server: ResourceId | None = None
    label_selector: Selector | None = None
    ip: TargetIp | None = None
    use_private_ip: bool | None = None


class AlgorithmBody(Body):
    type: Literal["round_robin", "least_connections"]


class NewLoadBalancer(Body):
    name: str = Field(min_length=1, max_length=128)
    load_balancer_type: IdOrName = Field(description="ID or name of the type.")
    location: IdOrName | None = Field(default=None, description="ID or name of a location.")
    network_zone: str | None = Field(default=None, max_length=64)
    algorithm: AlgorithmBody | None = None
    services: list[ServiceBody] = Field(default_factory=list, max_length=MAX_ITEMS)
    targets: list[TargetBody] = Field(default_factory=list, max_length=MAX_ITEMS)
    labels: Labels = Field(default_factory=dict)
    public_interface: bool | None = None
    network: int | None = Field(default=None, ge=1, le=MAX_ID)


class LoadBalancerChange(Body):
    name: str | None = Field(default=None, min_length=1, max_length=128)
    labels: Labels | None = Field(default=None, description="Replaces every label.")


class ListenPortBody(Body):
    listen_port: Port


class TypeBody(Body):
    load_balancer_type: IdOrName = Field(description="ID or name of the type.")


class NetworkBody(Body):
    network: int = Field(ge=1, le=MAX_ID)
    ip: str | None = Field(default=None, max_length=45)
    ip_range: str | None = Field(default=None, max_length=50)


class DetachBody(Body):
    network: int = Field(ge=1, le=MAX_ID)


class DnsPtrBody(Body):
    ip: str = Field(min_length=1, max_length=45)
    dns_ptr: str | None = Field(max_length=255)


class ProtectionBody(Body):
    delete: bool | None = None


class LoadBalancerOut(BaseModel):
    id: int
    name: str
    public_net: dict[str, Any]
    private_net: list[dict[str, Any]]
    location: LocationOut
    load_balancer_type: LoadBalancerTypeOut
    protection: dict[str, bool]
    labels: dict[str, str]
    targets: list[dict[str, Any]]
    services: list[dict[str, Any]]
    algorithm: dict[str, str]
    outgoing_traffic: int | None
    ingoing_traffic: int | None
    included_traffic: int
    created: datetime


class LoadBalancerAnswer(BaseModel):
    load_balancer: LoadBalancerOut


class CreatedLoadBalancer(BaseModel):
    load_balancer: LoadBalancerOut
    action: ActionOut


class LoadBalancersAnswer(BaseModel):
    load_balancers: list[LoadBalancerOut]
    meta: Meta


class Shapes:
    """What a load balancer's answer needs besides network's: compute's locations and types,
    billing's prices; read once per request."""

    def __init__(self, datacenters: list[cpb.Datacenter], types: list[cpb.LoadBalancerType], prices: Any) -> None:
        self.datacenters, self.types, self.prices = datacenters, {t.code: t for t in types}, prices

    @classmethod
    async def read(cls, request: Request) -> Shapes:
        b = backends(request)
        return cls(await active_datacenters(request), list(await b.compute.load_balancer_types()), await b.prices.get())

    def _type(self, lt: cpb.LoadBalancerType) -> LoadBalancerTypeOut:
        """The type with its prices; one billing has no active plan for any more shows none."""
        if self.prices.load_balancer(lt.code) is not None:
            return load_balancer_type_out(lt, self.datacenters, self.prices)
        return LoadBalancerTypeOut(
            id=lt.id,
            name=lt.code,
            description=lt.description,
            max_connections=lt.max_connections,
            max_services=lt.max_services,
            max_targets=lt.max_targets,
            max_assigned_certificates=lt.max_assigned_certificates,
            deprecated=None,
            prices=[],
        )

    def out(self, lb: npb.LoadBalancer) -> LoadBalancerOut:
        dc = next((d for d in self.datacenters if d.code == lb.location), cpb.Datacenter(code=lb.location))
        lt = self.types.get(lb.load_balancer_type) or cpb.LoadBalancerType(code=lb.load_balancer_type)
        ptr = {entry.ip: entry.dns_ptr for entry in lb.dns_ptrs}
        return LoadBalancerOut(
            id=lb.id,
            name=lb.name,
            public_net={
                "enabled": lb.public_enabled,
                "ipv4": {"ip": lb.ipv4 or None, "dns_ptr": ptr.get(lb.ipv4)},
                "ipv6": {"ip": lb.ipv6 or None, "dns_ptr": ptr.get(lb.ipv6)},
            },
            private_net=[{"network": n.network_id, "ip": n.ip or None} for n in lb.networks],
            location=location_out(dc),
            load_balancer_type=self._type(lt),
            protection={"delete": lb.protection_delete},
            labels=dict(lb.labels),
            targets=[_target_out(t) for t in lb.targets],
            services=[_service_out(s) for s in lb.services],
            algorithm={"type": lb.algorithm},
            outgoing_traffic=None,
            ingoing_traffic=None,
            included_traffic=self.prices.included_traffic,
            created=as_datetime(lb.created_at),
        )


def _health_out(target: npb.LoadBalancerTarget) -> list[dict[str, Any]]:
    return [{"listen_port": h.listen_port, "status": h.status} for h in target.health_status]


def _target_out(target: npb.LoadBalancerTarget) -> dict[str, Any]:
    if target.type == "server":
        return {
            "type": "server",
            "server": {"id": target.server_id},
            "use_private_ip": target.use_private_ip,
            "health_status": _health_out(target),
        }
    if target.type == "label_selector":
        return {
            "type": "label_selector",
            "label_selector": {"selector": target.label_selector},
            "use_private_ip": target.use_private_ip,
            "targets": [
                {
                    "type": "server",
                    "server": {"id": t.server_id},
                    "use_private_ip": t.use_private_ip,
                    "health_status": _health_out(t),
                }
                for t in target.targets
            ],
        }
    return {"type": "ip", "ip": {"ip": target.ip}, "health_status": _health_out(target)}


def _service_out(service: npb.LoadBalancerServiceSpec) -> dict[str, Any]:
    hc = service.health_check
    check: dict[str, Any] = {
        "protocol": hc.protocol,
        "port": hc.port,
        "interval": hc.interval,
        "timeout": hc.timeout,
        "retries": hc.retries,
    }
    if hc.HasField("http"):
        check["http"] = {
            "domain": hc.http.domain if hc.http.HasField("domain") else None,
            "path": hc.http.path,
            "response": hc.http.response,
            "status_codes": list(hc.http.status_codes),
            "tls": hc.http.tls,
        }
    out: dict[str, Any] = {
        "protocol": service.protocol,
        "listen_port": service.listen_port,
        "destination_port": service.destination_port,
        "proxyprotocol": service.proxyprotocol,
        "health_check": check,
    }
    if service.HasField("http"):
        h = service.http
        out["http"] = {
            "cookie_name": h.cookie_name,
            "cookie_lifetime": h.cookie_lifetime,
            "certificates": list(h.certificates),
            "redirect_http": h.redirect_http,
            "sticky_sessions": h.sticky_sessions,
            "timeout_idle": h.timeout_idle,
        }
    return out


def _set(message: Any, values: dict[str, Any]) -> None:
    for name, value in values.items():
        if value is not None:
            setattr(message, name, value)


def service_message(body: ServiceBody | ServiceChange) -> npb.LoadBalancerServiceSpec:
    message = npb.LoadBalancerServiceSpec()
    _set(
        message,
        {
            "protocol": body.protocol,
            "listen_port": body.listen_port,
            "destination_port": body.destination_port,
            "proxyprotocol": body.proxyprotocol,
        },
    )
    if body.health_check is not None:
        hc = body.health_check
        check = npb.LoadBalancerHealthCheck()
        _set(
            check,
            {
                "protocol": hc.protocol,
                "port": hc.port,
                "interval": hc.interval,
                "timeout": hc.timeout,
                "retries": hc.retries,
            },
        )
        if hc.http is not None:
            http = npb.LoadBalancerHealthCheckHttp(status_codes=hc.http.status_codes or [])
            _set(
                http, {"domain": hc.http.domain, "path": hc.http.path, "response": hc.http.response, "tls": hc.http.tls}
            )
            check.http.CopyFrom(http)
        message.health_check.CopyFrom(check)
    if body.http is not None:
        h = body.http
        settings = npb.LoadBalancerServiceHttp(certificates=h.certificates or [])
        _set(
            settings,
            {
                "cookie_name": h.cookie_name,
                "cookie_lifetime": h.cookie_lifetime,
                "redirect_http": h.redirect_http,
                "sticky_sessions": h.sticky_sessions,
                "timeout_idle": h.timeout_idle,
            },
        )
        message.http.CopyFrom(settings)
    return message


def target_message(body: TargetBody) -> npb.LoadBalancerTarget:
    message = npb.LoadBalancerTarget(type=body.type, use_private_ip=bool(body.use_private_ip))
    if body.type == "server":
        if body.server is None:
            raise invalid_field("server", "a target of type server names server.id")
        message.server_id = body.server.id
    elif body.type == "label_selector":
        if body.label_selector is None:
            raise invalid_field("label_selector", "a target of type label_selector names label_selector.selector")
        parse_label_selector(body.label_selector.selector)
        message.label_selector = body.label_selector.selector
    else:
        if body.ip is None:
            raise invalid_field("ip", "a target of type ip names ip.ip")
        message.ip = body.ip.ip
    return message


@router.get("")
@scope(Family.LOAD_BALANCERS, Access.READ)
async def list_load_balancers(
    request: Request,
    response: Response,
    principal: Authenticated,
    name: Annotated[str | None, Query(max_length=128, description="Only the load balancer with this name.")] = None,
    label_selector: Annotated[str | None, Query(max_length=1000)] = None,
    sort: Annotated[list[str] | None, Query(description="id, name or created, optionally :asc or :desc.")] = None,
    page: str | None = None,
    per_page: str | None = None,
) -> LoadBalancersAnswer:
    """The caller's load balancers matching every filter given, one page of them."""
    page_request = parse_page_request(page, per_page)
    sort_keys = parse_sort(sort or [], SORTABLE)
    selector = parse_label_selector(label_selector)
    answer = await backends(request).load_balancers.search(
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
    shapes = await Shapes.read(request)
    return LoadBalancersAnswer(load_balancers=[shapes.out(lb) for lb in answer.load_balancers], meta=meta)


@router.post("", status_code=201)
@scope(Family.LOAD_BALANCERS, Access.WRITE)
async def create_load_balancer(
    request: Request, principal: Authenticated, body: NewLoadBalancer
) -> CreatedLoadBalancer:
    """A new load balancer in the caller's tenant; network's worker makes it upstream."""
    user_id, organization_id = tenant(principal)
    shapes = await Shapes.read(request)
    location = str(body.location or "")
    if location.isdigit():
        location = next((d.code for d in shapes.datacenters if d.id == int(location)), location)
    answer = await backends(request).load_balancers.create(
        npb.CreateLoadBalancerRequest(
            user_id=user_id,
            organization_id=organization_id,
            name=body.name,
            load_balancer_type=str(body.load_balancer_type),
            location=location,
            network_zone=body.network_zone or "",
            algorithm=body.algorithm.type if body.algorithm else "",
            services=[service_message(s) for s in body.services],
            targets=[target_message(t) for t in body.targets],
            labels=body.labels,
            public_interface=body.public_interface is not False,
            network=body.network or 0,
        )
    )
    return CreatedLoadBalancer(load_balancer=shapes.out(answer.load_balancer), action=action_out(answer.action))


ActionIds = Annotated[list[Annotated[int, Query(ge=1, le=MAX_ID)]] | None, Query(max_length=50)]
ActionStatuses = Annotated[list[Literal["running", "success", "error"]] | None, Query()]
ActionSort = Annotated[list[str] | None, Query(description="id, command, status, started, finished.")]


async def _actions(
    request: Request,
    response: Response,
    principal: Authenticated,
    lb_id: int,
    id: list[int] | None,
    status: list[str] | None,
    sort: list[str] | None,
    page: str | None,
    per_page: str | None,
) -> ActionsAnswer:
    page_request = parse_page_request(page, per_page)
    keys = parse_sort(sort or [], ACTION_SORT)
    user_id, organization_id = tenant(principal)
    answer = await backends(request).load_balancers.actions(
        npb.ListLoadBalancerActionsRequest(
            user_id=user_id,
            organization_id=organization_id,
            load_balancer_id=lb_id,
            ids=sorted(set(id or [])),
            status=list(status or []),
            sort=sort_param(keys),
            page=page_request.page,
            per_page=page_request.per_page,
        )
    )
    meta = page_meta(request, response, page_request, answer.total_entries)
    return ActionsAnswer(actions=[action_out(a) for a in answer.actions], meta=meta)


@router.get("/actions")
@scope(Family.LOAD_BALANCERS, Access.READ)
async def list_load_balancer_actions(
    request: Request,
    response: Response,
    principal: Authenticated,
    id: ActionIds = None,
    status: ActionStatuses = None,
    sort: ActionSort = None,
    page: str | None = None,
    per_page: str | None = None,
) -> ActionsAnswer:
    """The actions of the caller's load balancers."""
    return await _actions(request, response, principal, 0, id, list(status or []), sort, page, per_page)


@router.get("/actions/{action_id:int}")
@scope(Family.LOAD_BALANCERS, Access.READ)
async def get_load_balancer_action(request: Request, principal: Authenticated, action_id: ActionId) -> ActionAnswer:
    """One action of the caller's load balancers."""
    action = await backends(request).load_balancers.action(action_id, tenant(principal)[1])
    return ActionAnswer(action=action_out(action))


@router.get("/{id:int}")
@scope(Family.LOAD_BALANCERS, Access.READ)
async def get_load_balancer(request: Request, principal: Authenticated, id: LoadBalancerId) -> LoadBalancerAnswer:
    """One load balancer the caller reaches."""
    lb = await backends(request).load_balancers.get(id, tenant(principal)[1])
    return LoadBalancerAnswer(load_balancer=(await Shapes.read(request)).out(lb))


@router.put("/{id:int}")
@scope(Family.LOAD_BALANCERS, Access.WRITE)
async def update_load_balancer(
    request: Request, principal: Authenticated, id: LoadBalancerId, body: LoadBalancerChange
) -> LoadBalancerAnswer:
    """Rename a load balancer or replace its labels."""
    lb = await backends(request).load_balancers.update(id, tenant(principal)[1], name=body.name, labels=body.labels)
    return LoadBalancerAnswer(load_balancer=(await Shapes.read(request)).out(lb))


@router.delete("/{id:int}", status_code=204)
@scope(Family.LOAD_BALANCERS, Access.WRITE)
async def delete_load_balancer(request: Request, principal: Authenticated, id: LoadBalancerId) -> Response:
    """Delete a load balancer (``423 protected`` while protected); upstream follows."""
    await backends(request).load_balancers.delete(id, tenant(principal)[1])
    return Response(status_code=204)


@router.get("/{id:int}/actions")
@scope(Family.LOAD_BALANCERS, Access.READ)
async def list_actions_of_load_balancer(
    request: Request,
    response: Response,
    principal: Authenticated,
    id: LoadBalancerId,
    status: ActionStatuses = None,
    sort: ActionSort = None,
    page: str | None = None,
    per_page: str | None = None,
) -> ActionsAnswer:
    """The actions of one load balancer the caller reaches."""
    return await _actions(request, response, principal, id, None, list(status or []), sort, page, per_page)


@router.get("/{id:int}/actions/{action_id:int}")
@scope(Family.LOAD_BALANCERS, Access.READ)
async def get_action_of_load_balancer(
    request: Request, principal: Authenticated, id: LoadBalancerId, action_id: ActionId
) -> ActionAnswer:
    """One action of one load balancer the caller reaches."""
    action = await backends(request).load_balancers.action(action_id, tenant(principal)[1])
    if not any(r.type == "load_balancer" and r.id == id for r in action.resources):
        raise NotFound(f"action {action_id} of load balancer {id} does not exist")
    return ActionAnswer(action=action_out(action))


async def _start(request: Request, principal: Authenticated, lb_id: int, command: str, **fields: Any) -> ActionAnswer:
    message = npb.StartLoadBalancerActionRequest(
        load_balancer_id=lb_id, organization_id=tenant(principal)[1], command=command, **fields
    )
    return ActionAnswer(action=action_out(await backends(request).load_balancers.start(message)))


@router.post("/{id:int}/actions/add_service", status_code=201)
@scope(Family.LOAD_BALANCERS, Access.WRITE)
async def add_service(
    request: Request, principal: Authenticated, id: LoadBalancerId, body: ServiceBody
) -> ActionAnswer:
    """Add a service (a listen port)."""
    return await _start(request, principal, id, "add_service", service=service_message(body))


@router.post("/{id:int}/actions/update_service", status_code=201)
@scope(Family.LOAD_BALANCERS, Access.WRITE)
async def update_service(
    request: Request, principal: Authenticated, id: LoadBalancerId, body: ServiceChange
) -> ActionAnswer:
    """Change the service listening on ``listen_port`` (what is not given stays)."""
    return await _start(request, principal, id, "update_service", service=service_message(body))


@router.post("/{id:int}/actions/delete_service", status_code=201)
@scope(Family.LOAD_BALANCERS, Access.WRITE)
async def delete_service(
    request: Request, principal: Authenticated, id: LoadBalancerId, body: ListenPortBody
) -> ActionAnswer:
    """Delete the service listening on ``listen_port``."""
    return await _start(request, principal, id, "delete_service", listen_port=body.listen_port)


@router.post("/{id:int}/actions/add_target", status_code=201)
@scope(Family.LOAD_BALANCERS, Access.WRITE)
async def add_target(request: Request, principal: Authenticated, id: LoadBalancerId, body: TargetBody) -> ActionAnswer:
    """Add a target: a server, a label selector or an IP."""
    return await _start(request, principal, id, "add_target", target=target_message(body))


@router.post("/{id:int}/actions/remove_target", status_code=201)
@scope(Family.LOAD_BALANCERS, Access.WRITE)
async def remove_target(
    request: Request, principal: Authenticated, id: LoadBalancerId, body: TargetBody
) -> ActionAnswer:
    """Remove a target."""
    return await _start(request, principal, id, "remove_target", target=target_message(body))


@router.post("/{id:int}/actions/change_algorithm", status_code=201)
@scope(Family.LOAD_BALANCERS, Access.WRITE)
async def change_algorithm(
    request: Request, principal: Authenticated, id: LoadBalancerId, body: AlgorithmBody
) -> ActionAnswer:
    """Change the algorithm (round_robin or least_connections)."""
    return await _start(request, principal, id, "change_algorithm", algorithm=body.type)


@router.post("/{id:int}/actions/change_type", status_code=201)
@scope(Family.LOAD_BALANCERS, Access.WRITE)
async def change_type(request: Request, principal: Authenticated, id: LoadBalancerId, body: TypeBody) -> ActionAnswer:
    """Change the type (its services and targets must fit the new one)."""
    return await _start(
        request, principal, id, "change_load_balancer_type", load_balancer_type=str(body.load_balancer_type)
    )


@router.post("/{id:int}/actions/attach_to_network", status_code=201)
@scope(Family.LOAD_BALANCERS, Access.WRITE)
async def attach_to_network(
    request: Request, principal: Authenticated, id: LoadBalancerId, body: NetworkBody
) -> ActionAnswer:
    """Attach it to one of the caller's private networks."""
    return await _start(request, principal, id, "attach_to_network", network=body.network, ip=body.ip or "")


@router.post("/{id:int}/actions/detach_from_network", status_code=201)
@scope(Family.LOAD_BALANCERS, Access.WRITE)
async def detach_from_network(
    request: Request, principal: Authenticated, id: LoadBalancerId, body: DetachBody
) -> ActionAnswer:
    """Detach it from a private network."""
    return await _start(request, principal, id, "detach_from_network", network=body.network)


@router.post("/{id:int}/actions/enable_public_interface", status_code=201)
@scope(Family.LOAD_BALANCERS, Access.WRITE)
async def enable_public_interface(request: Request, principal: Authenticated, id: LoadBalancerId) -> ActionAnswer:
    """Enable its public interface."""
    return await _start(request, principal, id, "enable_public_interface")


@router.post("/{id:int}/actions/disable_public_interface", status_code=201)
@scope(Family.LOAD_BALANCERS, Access.WRITE)
async def disable_public_interface(request: Request, principal: Authenticated, id: LoadBalancerId) -> ActionAnswer:
    """Disable its public interface (it must be attached to a network)."""
    return await _start(request, principal, id, "disable_public_interface")


@router.post("/{id:int}/actions/change_dns_ptr", status_code=201)
@scope(Family.LOAD_BALANCERS, Access.WRITE)
async def change_dns_ptr(
    request: Request, principal: Authenticated, id: LoadBalancerId, body: DnsPtrBody
) -> ActionAnswer:
    """Set (or, with null, reset) the reverse DNS entry of one of its addresses."""
    fields: dict[str, Any] = {"ip": body.ip}
    if body.dns_ptr is not None:
        fields["dns_ptr"] = body.dns_ptr
    return await _start(request, principal, id, "change_dns_ptr", **fields)


@router.post("/{id:int}/actions/change_protection", status_code=201)
@scope(Family.LOAD_BALANCERS, Access.WRITE)
async def change_protection(
    request: Request, principal: Authenticated, id: LoadBalancerId, body: ProtectionBody
) -> ActionAnswer:
    """Protect it against deletion, or not."""
    if body.delete is None:
        current = await backends(request).load_balancers.get(id, tenant(principal)[1])
        return await _start(request, principal, id, "change_protection", protection_delete=current.protection_delete)
    return await _start(request, principal, id, "change_protection", protection_delete=body.delete)
