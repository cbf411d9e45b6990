"""``/v1/firewalls``: firewalls, wire-compatible with Hetzner Cloud's, kept by the network service
(its worker mirrors them upstream, applied server by server).

- ``GET /v1/firewalls``: the caller's firewalls (with a key bound to an organization, that
  organization's too), filtered by ``name`` and ``label_selector``, sorted by ``id``, ``name`` or
  ``created``, paged.
- ``POST /v1/firewalls`` (``name``, ``labels``, ``rules``, ``apply_to``): a new firewall in the
  caller's tenant (one unit of its ``firewall`` quota, ``403 resource_limit_exceeded`` when used
  up); ``201`` with the firewall and its actions (``apply_firewall`` when ``apply_to`` names
  anything). A port outside 1-65535, a port for icmp/esp/gre, a range like ``10.0.0.0/33`` or
  ``10.0.0.1/8``, more than 50 rules, a server the caller does not reach: ``400 invalid_input``.
- ``GET``/``PUT`` (``name``, ``labels``)/``DELETE /v1/firewalls/{id}``; one applied to anything
  is not deleted (``422 resource_in_use``), nor one with an action running (``423 locked``).
- ``POST /v1/firewalls/{id}/actions/set_rules`` (``rules``), ``apply_to_resources``
  (``apply_to``), ``remove_from_resources`` (``remove_from``): ``201`` with ``actions``.
- ``GET /v1/firewalls/actions``, ``/actions/{id}``, ``/{id}/actions``, ``/{id}/actions/{action_id}``.

A firewall's ``applied_to`` lists its servers and its label selectors, each selector with the
servers of the tenant it matches now (``applied_to_resources``). Scopes ``firewalls:read`` and
``firewalls:write``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from cloudplatform.compute.v1 import compute_service_pb2 as cpb
from cloudplatform.network.v1 import network_service_pb2 as npb
from cpshared.errors import NotFound
from gateway_service.api.common import MAX_ID, Labels, Meta, Text, page_meta, sort_param, tenant
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

router = APIRouter(prefix="/v1/firewalls", tags=["firewalls"])

SORTABLE = ("id", "name", "created")
ACTION_SORT = ("id", "command", "status", "started", "finished")
MAX_RULES = 50
MAX_IPS = 100
MAX_RESOURCES = 100
FirewallId = Annotated[int, Path(ge=1, le=MAX_ID, description="ID of the firewall.")]
ActionId = Annotated[int, Path(ge=1, le=MAX_ID, description="ID of the action.")]
Cidr = Annotated[str, Field(min_length=1, max_length=50, description="An IPv4 or IPv6 range in CIDR notation.")]


class RuleModel(BaseModel):
    model_config = ConfigDict(extra="ignore")

    direction: Literal["in", "out"]
    protocol: Literal["tcp", "udp", "icmp", "esp", "gre"]
    port: str | None = Field(default=None, max_length=11, description="A port or a range, tcp and udp only.")
    source_ips: list[Cidr] = Field(default_factory=list, max_length=MAX_IPS)
    destination_ips: list[Cidr] = Field(default_factory=list, max_length=MAX_IPS)
    description: Text | None = Field(default=None, max_length=255)


class ResourceId(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: int = Field(ge=1, le=MAX_ID)


class Selector(BaseModel):
    model_config = ConfigDict(extra="ignore")

    selector: str = Field(min_length=1, max_length=1000)


class ResourceBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: Literal["server", "label_selector"]
    server: ResourceId | None = None
    label_selector: Selector | None = None


class NewFirewall(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: Text = Field(min_length=1, max_length=128)
    labels: Labels = Field(default_factory=dict)
    rules: list[RuleModel] = Field(default_factory=list, max_length=MAX_RULES)
    apply_to: list[ResourceBody] = Field(default_factory=list, max_length=MAX_RESOURCES)


class FirewallChange(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: Text | None = Field(default=None, min_length=1, max_length=128)
    labels: Labels | None = Field(default=None, description="Replaces every label of the firewall.")


class RulesBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    rules: list[RuleModel] = Field(max_length=MAX_RULES)


class ApplyBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    apply_to: list[ResourceBody] = Field(min_length=1, max_length=MAX_RESOURCES)


class RemoveBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    remove_from: list[ResourceBody] = Field(min_length=1, max_length=MAX_RESOURCES)


class RuleOut(BaseModel):
    direction: str
    protocol: str
    port: str | None
    source_ips: list[str]
    destination_ips: list[str]
    description: str | None


class FirewallOut(BaseModel):
    id: int
    name: str
    labels: dict[str, str]
    created: datetime
    rules: list[RuleOut]
    applied_to: list[dict[str, Any]]


class FirewallAnswer(BaseModel):
    firewall: FirewallOut


class CreatedFirewall(BaseModel):
    firewall: FirewallOut
    actions: list[ActionOut]


class FirewallsAnswer(BaseModel):
    firewalls: list[FirewallOut]
    meta: Meta


class ActionList(BaseModel):
    actions: list[ActionOut]


def firewall_out(firewall: npb.Firewall) -> FirewallOut:
    matched = {s.label_selector: list(s.server_ids) for s in firewall.selector_servers}
    applied: list[dict[str, Any]] = [{"type": "server", "server": {"id": s}} for s in firewall.applied_to.server_ids]
    applied += [
        {
            "type": "label_selector",
            "label_selector": {"selector": selector},
            "applied_to_resources": [{"type": "server", "server": {"id": s}} for s in matched.get(selector, [])],
        }
        for selector in firewall.applied_to.label_selectors
    ]
    return FirewallOut(
        id=firewall.id,
        name=firewall.name,
        labels=dict(firewall.labels),
        created=as_datetime(firewall.created_at),
        rules=[
            RuleOut(
                direction=r.direction,
                protocol=r.protocol,
                port=r.port or None,
                source_ips=list(r.source_ips),
                destination_ips=list(r.destination_ips),
                description=r.description if r.HasField("description") else None,
            )
            for r in firewall.rules
        ],
        applied_to=applied,
    )


def _rule(body: RuleModel) -> npb.FirewallRule:
    rule = npb.FirewallRule(
        direction=body.direction,
        protocol=body.protocol,
        port=body.port or "",
        source_ips=body.source_ips,
        destination_ips=body.destination_ips,
    )
    if body.description is not None:
        rule.description = body.description
    return rule


def _targets(resources: list[ResourceBody], field: str) -> npb.FirewallTargets:
    """Servers and selectors of a request's resources; a resource missing what its type names
    is the request's bad ``field``; a selector is checked here (Hetzner's syntax)."""
    targets = npb.FirewallTargets()
    for resource in resources:
        if resource.type == "server":
            if resource.server is None:
                raise invalid_field(field, "a resource of type server names server.id")
            targets.server_ids.append(resource.server.id)
        else:
            if resource.label_selector is None:
                raise invalid_field(field, "a resource of type label_selector names label_selector.selector")
            parse_label_selector(resource.label_selector.selector)
            targets.label_selectors.append(resource.label_selector.selector)
    return targets


@router.get("")
@scope(Family.FIREWALLS, Access.READ)
async def list_firewalls(
    request: Request,
    response: Response,
    principal: Authenticated,
    name: Annotated[str | None, Query(max_length=128, description="Only the firewall with this name.")] = None,
    label_selector: Annotated[str | None, Query(max_length=1000)] = None,
    sort: Annotated[list[str] | None, Query(description="id, name or created, optionally :asc or :desc.")] = None,
    page: str | None = None,
    per_page: str | None = None,
) -> FirewallsAnswer:
    """The caller's firewalls matching every filter given, one page of them."""
    page_request = parse_page_request(page, per_page)
    sort_keys = parse_sort(sort or [], SORTABLE)
    selector = parse_label_selector(label_selector)
    answer = await backends(request).firewalls.search(
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
    return FirewallsAnswer(firewalls=[firewall_out(f) for f in answer.firewalls], meta=meta)


@router.post("", status_code=201)
@scope(Family.FIREWALLS, Access.WRITE)
async def create_firewall(request: Request, principal: Authenticated, body: NewFirewall) -> CreatedFirewall:
    """A new firewall in the caller's tenant; network's worker makes it upstream."""
    answer = await backends(request).firewalls.create(
        *tenant(principal),
        name=body.name,
        rules=[_rule(r) for r in body.rules],
        labels=body.labels,
        apply_to=_targets(body.apply_to, "apply_to"),
    )
    return CreatedFirewall(firewall=firewall_out(answer.firewall), actions=[action_out(a) for a in answer.actions])


async def _actions(
    request: Request,
    response: Response,
    principal: Authenticated,
    firewall_id: int,
    id: list[int] | None,
    status: list[str] | None,
    sort: list[str] | None,
    page: str | None,
    per_page: str | None,
) -> ActionsAnswer:
    page_request = parse_page_request(page, per_page)
    keys = parse_sort(sort or [], ACTION_SORT)
    answer = await backends(request).firewalls.actions(
        *tenant(principal),
        firewall_id=firewall_id,
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
@scope(Family.FIREWALLS, Access.READ)
async def list_firewall_actions(
    request: Request,
    response: Response,
    principal: Authenticated,
    id: ActionIds = None,
    status: ActionStatuses = None,
    sort: ActionSort = None,
    page: str | None = None,
    per_page: str | None = None,
) -> ActionsAnswer:
    """The actions of the caller's firewalls."""
    return await _actions(request, response, principal, 0, id, list(status or []), sort, page, per_page)


@router.get("/actions/{action_id:int}")
@scope(Family.FIREWALLS, Access.READ)
async def get_firewall_action(request: Request, principal: Authenticated, action_id: ActionId) -> ActionAnswer:
    """One action of the caller's firewalls."""
    action = await backends(request).firewalls.action(action_id, tenant(principal)[1])
    return ActionAnswer(action=action_out(action))


@router.get("/{id:int}")
@scope(Family.FIREWALLS, Access.READ)
async def get_firewall(request: Request, principal: Authenticated, id: FirewallId) -> FirewallAnswer:
    """One firewall the caller reaches."""
    return FirewallAnswer(firewall=firewall_out(await backends(request).firewalls.get(id, tenant(principal)[1])))


@router.put("/{id:int}")
@scope(Family.FIREWALLS, Access.WRITE)
async def update_firewall(
    request: Request, principal: Authenticated, id: FirewallId, body: FirewallChange
) -> FirewallAnswer:
    """Rename a firewall or replace its labels."""
    firewall = await backends(request).firewalls.update(id, tenant(principal)[1], name=body.name, labels=body.labels)
    return FirewallAnswer(firewall=firewall_out(firewall))


@router.delete("/{id:int}", status_code=204)
@scope(Family.FIREWALLS, Access.WRITE)
async def delete_firewall(request: Request, principal: Authenticated, id: FirewallId) -> Response:
    """Delete a firewall applied to nothing (``422 resource_in_use`` otherwise)."""
    await backends(request).firewalls.delete(id, tenant(principal)[1])
    return Response(status_code=204)


@router.get("/{id:int}/actions")
@scope(Family.FIREWALLS, Access.READ)
async def list_actions_of_firewall(
    request: Request,
    response: Response,
    principal: Authenticated,
    id: FirewallId,
    status: ActionStatuses = None,
    sort: ActionSort = None,
    page: str | None = None,
    per_page: str | None = None,
) -> ActionsAnswer:
    """The actions of one firewall the caller reaches."""
    return await _actions(request, response, principal, id, None, list(status or []), sort, page, per_page)


@router.get("/{id:int}/actions/{action_id:int}")
@scope(Family.FIREWALLS, Access.READ)
async def get_action_of_firewall(
    request: Request, principal: Authenticated, id: FirewallId, action_id: ActionId
) -> ActionAnswer:
    """One action of one firewall the caller reaches."""
    action = await backends(request).firewalls.action(action_id, tenant(principal)[1])
    if not any(r.type == "firewall" and r.id == id for r in action.resources):
        raise NotFound(f"action {action_id} of firewall {id} does not exist")
    return ActionAnswer(action=action_out(action))


@router.post("/{id:int}/actions/set_rules", status_code=201)
@scope(Family.FIREWALLS, Access.WRITE)
async def set_rules(
    request: Request, principal: Authenticated, id: FirewallId, body: Annotated[RulesBody, Body()]
) -> ActionList:
    """Replace the firewall's rules."""
    action = await backends(request).firewalls.set_rules(id, tenant(principal)[1], [_rule(r) for r in body.rules])
    return ActionList(actions=[action_out(action)])


@router.post("/{id:int}/actions/apply_to_resources", status_code=201)
@scope(Family.FIREWALLS, Access.WRITE)
async def apply_to_resources(
    request: Request, principal: Authenticated, id: FirewallId, body: Annotated[ApplyBody, Body()]
) -> ActionList:
    """Apply the firewall to servers or label selectors."""
    targets = _targets(body.apply_to, "apply_to")
    action = await backends(request).firewalls.apply(id, tenant(principal)[1], targets)
    return ActionList(actions=[action_out(action)])


@router.post("/{id:int}/actions/remove_from_resources", status_code=201)
@scope(Family.FIREWALLS, Access.WRITE)
async def remove_from_resources(
    request: Request, principal: Authenticated, id: FirewallId, body: Annotated[RemoveBody, Body()]
) -> ActionList:
    """Remove the firewall from servers or label selectors."""
    targets = _targets(body.remove_from, "remove_from")
    action = await backends(request).firewalls.remove(id, tenant(principal)[1], targets)
    return ActionList(actions=[action_out(action)])
