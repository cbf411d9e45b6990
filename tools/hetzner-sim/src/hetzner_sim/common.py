"""What the network and storage resource families share: locks, protection, names, limits,
labels, IP pointer records, and the four action routes every resource has.

A resource is locked while an action that names it runs (``Simulator.running_on``); a second
action on it answers ``locked``. ``delete`` on a protected resource answers ``protected``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from fastapi import FastAPI, Request

from cpshared.errors import AlreadyExists, LimitExceeded, NotFound
from hetzner_conventions.errors import field_errors, invalid_field
from hetzner_sim import catalog
from hetzner_sim.app import ActionAnswer, _action_list, _project, _sim
from hetzner_sim.state import Action, Effect, Locked, Project, Protected, Server, Simulator


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
        sim, project = _sim(request), _project(request)
        return _action_list(request, [a for a in sim.project_actions(project) if mine(a)])

    async def get_any(request: Request, action_id: int) -> dict[str, Any]:
        sim = _sim(request)
        action = sim.action(_project(request), action_id)
        if not mine(action):
            raise NotFound(f"action {action_id} not found")
        return ActionAnswer.of(sim, action)

    async def list_one(request: Request, resource_id: int) -> dict[str, Any]:
        sim, project = _sim(request), _project(request)
        lookup(project, resource_id)
        actions = [a for a in sim.project_actions(project) if (resource_id, rtype) in a.resources]
        return _action_list(request, actions)

    async def get_one(request: Request, resource_id: int, action_id: int) -> dict[str, Any]:
        sim = _sim(request)
        action = sim.action(_project(request), action_id)
        if (resource_id, rtype) not in action.resources:
            raise NotFound(f"action {action_id} not found")
        return ActionAnswer.of(sim, action)

    app.get(f"/v1/{plural}/actions", name=f"list_{plural}_actions")(list_all)
    app.get(f"/v1/{plural}/actions/{{action_id:int}}", name=f"get_{plural}_action")(get_any)
    app.get(f"/v1/{plural}/{{resource_id:int}}/actions", name=f"list_{rtype}_actions")(list_one)
    app.get(f"/v1/{plural}/{{resource_id:int}}/actions/{{action_id:int}}", name=f"get_{rtype}_action")(get_one)
