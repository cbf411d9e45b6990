"""What every resource module of the simulator shares: the request's simulator and project, a
list answer (label selector, sort, pages), action answers and lists; and what the network and
storage families share: locks, protection, names, limits, IP pointer records, and the four
action routes every resource has.

The resource modules import this one and ``app`` assembles them; nothing here imports a
resource module or ``app`` (import-linter holds that).

A resource is locked while an action that names it runs (``Simulator.running_on``); a second
action on it answers ``locked``. ``delete`` on a protected resource answers ``protected``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol

from fastapi import FastAPI, Request
from pydantic import BaseModel

from cpshared.errors import AlreadyExists, LimitExceeded, NotFound
from hetzner_conventions.errors import field_errors, invalid_field
from hetzner_conventions.label_selector import parse_label_selector
from hetzner_conventions.pagination import paginate, parse_page_request
from hetzner_conventions.sorting import parse_sort
from hetzner_sim import catalog
from hetzner_sim.faults import Faults, RateLimiter
from hetzner_sim.state import Action, Effect, Locked, Project, Protected, Server, Simulator


class Ctx:
    """What every request reaches through ``app.state.ctx``: the simulator, the fault rules, the
    rate limiter, the project of each token and the console tokens handed out."""

    def __init__(self, sim: Simulator, faults: Faults, limiter: RateLimiter, tokens: Sequence[str]) -> None:
        self.sim, self.faults, self.limiter = sim, faults, limiter
        # One project per token, named after its position, so a token never shows in /_sim/state.
        self.projects = {token: f"project-{i + 1}" for i, token in enumerate(tokens)}
        # Console tokens handed out by request_console: token -> (project, server id, expiry).
        self.consoles: dict[str, tuple[str, int, float]] = {}


def project_of(request: Request) -> Project:
    ctx: Ctx = request.app.state.ctx
    return ctx.sim.project(request.scope["state"]["project"])


def sim_of(request: Request) -> Simulator:
    ctx: Ctx = request.app.state.ctx
    return ctx.sim


def listing(
    request: Request,
    key: str,
    items: list[Any],
    render: Callable[[Any], dict[str, Any]],
    sort_fields: dict[str, Callable[[Any], Any]],
) -> dict[str, Any]:
    query = request.query_params
    selector_text = query.get("label_selector")
    if selector_text is not None:
        selector = parse_label_selector(selector_text)
        items = [item for item in items if selector.matches(_labels_of(item))]
    items = sorted(items, key=sort_fields["id"])
    for sort_key in reversed(parse_sort(query.getlist("sort"), sort_fields)):
        items = sorted(items, key=sort_fields[sort_key.field], reverse=sort_key.descending)
    page_request = parse_page_request(query.get("page"), query.get("per_page"))
    pagination = paginate(page_request, len(items))
    page = items[page_request.offset : page_request.offset + page_request.limit]
    return {key: [render(item) for item in page], "meta": pagination.as_meta()}


def _labels_of(item: Any) -> dict[str, str]:
    labels: dict[str, str] = item["labels"] if isinstance(item, dict) else getattr(item, "labels", {})
    return labels


def multi(request: Request, name: str) -> list[str]:
    return [part for value in request.query_params.getlist(name) for part in value.split(",") if part]


ACTION_SORTS: dict[str, Callable[[Any], Any]] = {
    "id": lambda a: a.id,
    "command": lambda a: a.command,
    "status": lambda a: a.done,
    "started": lambda a: a.started,
    "finished": lambda a: a.ends,
}


def action_list(request: Request, actions: list[Action]) -> dict[str, Any]:
    sim = sim_of(request)
    now = sim.now()
    ids = {int(i) for i in multi(request, "id") if i.isdigit()}
    statuses = set(multi(request, "status"))
    if ids:
        actions = [a for a in actions if a.id in ids]
    if statuses:
        actions = [a for a in actions if a.status(now) in statuses]
    return listing(request, "actions", actions, lambda a: a.as_json(now), ACTION_SORTS)


class ActionAnswer:
    @staticmethod
    def of(sim: Simulator, action: Action, **extra: Any) -> dict[str, Any]:
        return {"action": action.as_json(sim.now()), **extra}


class NameLabels(BaseModel):
    name: str | None = None
    labels: dict[str, str] | None = None


def parse_time(name: str, raw: str | None) -> float:
    if raw is None:
        raise invalid_field(name, f"{name} is required")
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise invalid_field(name, f"{name} must be an RFC 3339 time") from None


class Named(Protocol):
    id: int
    name: str


def unlocked(sim: Simulator, resource_id: int, resource_type: str) -> None:
    if sim.running_on(resource_id, resource_type):
        raise Locked(f"{resource_type} {resource_id} is locked by a running action; retry when it has finished")


def unprotected(protected: bool, resource_id: int, resource_type: str) -> None:
    if protected:
        raise Protected(f"{resource_type} {resource_id} is protected against deletion")


def check_name(items: Iterable[Named], name: str, own_id: int | None = None) -> None:
    if not name.strip():
        raise invalid_field("name", "name must not be empty")
    if any(item.name == name and item.id != own_id for item in items):
        raise AlreadyExists(f"name {name!r} is already used", details=field_errors({"name": ["is already used"]}))


def check_limit(count: int, limit: int, what: str) -> None:
    if count >= limit:
        raise LimitExceeded(f"{what} limit ({limit}) exceeded")


def start(
    sim: Simulator,
    project: Project,
    command: str,
    resources: list[tuple[int, str]],
    on_success: Effect | None = None,
    on_error: Effect | None = None,
) -> Action:
    """Start ``command`` once every named resource is unlocked; ``on_success`` applies when it ends."""
    for rid, rtype in resources:
        unlocked(sim, rid, rtype)
    return sim.start_action(project, command, resources, on_success, on_error)


def server_of(sim: Simulator, project: Project, server_id: int, field: str = "server") -> Server:
    if server_id not in project.servers:
        raise invalid_field(field, f"server {server_id} not found")
    return project.servers[server_id]


def location_of(name: str | int, field: str = "location") -> catalog.Location:
    loc = catalog.location(name)
    if loc is None:
        raise invalid_field(field, f"location {name!r} not found")
    return loc


def ip_address(text: str, field: str = "ip") -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise invalid_field(field, f"{text!r} is not an IP address") from None


def reverse_dns(ip: str, records: dict[str, str]) -> list[dict[str, str]]:
    """The dns_ptr list of an address: set records, else the default name of an IPv4 address."""
    if records:
        return [{"ip": address, "dns_ptr": name} for address, name in sorted(records.items())]
    if ":" not in ip:
        reverse = ".".join(reversed(ip.split(".")))
        return [{"ip": ip, "dns_ptr": f"static.{reverse}.clients.your-server.de"}]
    return []


def change_dns_ptr(records: dict[str, str], ip: str, network: str, ip_text: str, dns_ptr: str | None) -> Effect:
    """Validate ``ip_text`` against the resource's address (or IPv6 network); the effect sets it."""
    address = ip_address(ip_text)
    inside = address in ipaddress.ip_network(network, strict=False) if ":" in network else str(address) == ip
    if not inside:
        raise invalid_field("ip", f"{ip_text} is not an address of this resource")

    def changed() -> None:
        if dns_ptr is None:
            records.pop(str(address), None)
        else:
            records[str(address)] = dns_ptr

    return changed


def register_action_routes(app: FastAPI, plural: str, rtype: str, lookup: Callable[[Project, int], Any]) -> None:
    """``/v1/{plural}/actions[/{id}]`` and ``/v1/{plural}/{id}/actions[/{action_id}]``."""

    def mine(action: Action) -> bool:
        return any(t == rtype for _, t in action.resources)

    async def list_all(request: Request) -> dict[str, Any]:
        sim, project = sim_of(request), project_of(request)
        return action_list(request, [a for a in sim.project_actions(project) if mine(a)])

    async def get_any(request: Request, action_id: int) -> dict[str, Any]:
        sim = sim_of(request)
        action = sim.action(project_of(request), action_id)
        if not mine(action):
            raise NotFound(f"action {action_id} not found")
        return ActionAnswer.of(sim, action)

    async def list_one(request: Request, resource_id: int) -> dict[str, Any]:
        sim, project = sim_of(request), project_of(request)
        lookup(project, resource_id)
        actions = [a for a in sim.project_actions(project) if (resource_id, rtype) in a.resources]
        return action_list(request, actions)

    async def get_one(request: Request, resource_id: int, action_id: int) -> dict[str, Any]:
        sim = sim_of(request)
        action = sim.action(project_of(request), action_id)
        if (resource_id, rtype) not in action.resources:
            raise NotFound(f"action {action_id} not found")
        return ActionAnswer.of(sim, action)

    app.get(f"/v1/{plural}/actions", name=f"list_{plural}_actions")(list_all)
    app.get(f"/v1/{plural}/actions/{{action_id:int}}", name=f"get_{plural}_action")(get_any)
    app.get(f"/v1/{plural}/{{resource_id:int}}/actions", name=f"list_{rtype}_actions")(list_one)
    app.get(f"/v1/{plural}/{{resource_id:int}}/actions/{{action_id:int}}", name=f"get_{rtype}_action")(get_one)
