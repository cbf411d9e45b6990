"""Primary IPs: the public IPv4 address or IPv6 /64 of a server, as resources of their own.

A server's addresses are primary IPs too: creating a server creates them (``auto_delete``
true, deleted with the server); one created alone lives in a datacenter until it is assigned
to a powered-off server there that has no primary IP of its type. A server that goes away
leaves its primary IPs without ``auto_delete`` unassigned. While assigned, the reverse DNS
records are the server's (what ``change_dns_ptr`` on either changes).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from pydantic import BaseModel

from cpshared.errors import InvalidInput, NotFound
from hetzner_conventions.errors import invalid_field
from hetzner_sim import catalog
from hetzner_sim.common import (
    ActionAnswer,
    change_dns_ptr,
    check_limit,
    check_name,
    listing,
    project_of,
    register_action_routes,
    reverse_dns,
    server_of,
    sim_of,
    start,
    unlocked,
    unprotected,
)
from hetzner_sim.state import (
    SERVER_CREATE_OPTIONS,
    SERVER_CREATED,
    SERVER_GONE,
    Action,
    CreateServer,
    Project,
    Server,
    ServerNotStopped,
    Simulator,
    check_labels,
    iso8601,
)


@dataclass
class PrimaryIp:
    id: int
    name: str
    type: str
    ip: str
    datacenter: catalog.Datacenter
    created: float
    assignee_id: int | None = None
    auto_delete: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    dns_ptr: dict[str, str] = field(default_factory=dict)
    protection_delete: bool = False


class CreatePrimaryIp(BaseModel):
    name: str
    type: str
    assignee_type: str = "server"
    assignee_id: int | None = None
    datacenter: str | None = None
    location: str | None = None
    auto_delete: bool | None = False
    labels: dict[str, str] | None = None


class UpdatePrimaryIp(BaseModel):
    name: str | None = None
    labels: dict[str, str] | None = None
    auto_delete: bool | None = None


class Assign(BaseModel):
    assignee_id: int
    assignee_type: str = "server"


class DnsPtr(BaseModel):
    ip: str
    dns_ptr: str | None


class DeleteProtection(BaseModel):
    delete: bool | None = None


def primary_ip(project: Project, pip_id: int) -> PrimaryIp:
    if pip_id not in project.primary_ips:
        raise NotFound(f"primary IP {pip_id} not found")
    return project.primary_ips[pip_id]


def _records(project: Project, pip: PrimaryIp) -> dict[str, str]:
    """The reverse DNS records in force: the server's while assigned (a live view), else its own."""
    server = project.servers.get(pip.assignee_id) if pip.assignee_id is not None else None
    if server is None:
        return pip.dns_ptr
    if pip.type == "ipv6":
        return server.dns_ptr_v6
    return _V4Records(server)


class _V4Records(dict[str, str]):
    """A server's single IPv4 record seen as a dict, writes going back to the server."""

    def __init__(self, server: Server) -> None:
        super().__init__({server.ipv4: server.dns_ptr_v4} if server.ipv4 and server.dns_ptr_v4 else {})
        self._server = server

    def __setitem__(self, key: str, value: str) -> None:
        super().__setitem__(key, value)
        self._server.dns_ptr_v4 = value

    def pop(self, key: str, default: Any = None) -> Any:
        self._server.dns_ptr_v4 = None
        return super().pop(key, default)


def as_json(project: Project, pip: PrimaryIp) -> dict[str, Any]:
    return {
        "id": pip.id,
        "name": pip.name,
        "ip": pip.ip,
        "type": pip.type,
        "assignee_id": pip.assignee_id,
        "assignee_type": "server",
        "auto_delete": pip.auto_delete,
        "blocked": False,
        "datacenter": catalog.datacenter_json(pip.datacenter),
        "location": pip.datacenter.location.as_json(),
        "dns_ptr": reverse_dns(pip.ip, dict(_records(project, pip))),
        "protection": {"delete": pip.protection_delete},
        "labels": dict(pip.labels),
        "created": iso8601(pip.created),
    }


def _bind(server: Server, pip: PrimaryIp) -> None:
    if pip.type == "ipv4":
        server.ipv4, server.ipv4_id = pip.ip, pip.id
        server.dns_ptr_v4 = pip.dns_ptr.get(pip.ip)
    else:
        server.ipv6, server.ipv6_id = pip.ip, pip.id
        server.dns_ptr_v6 = dict(pip.dns_ptr)
    pip.assignee_id = server.id


def _unbind(server: Server | None, pip: PrimaryIp) -> None:
    if server is not None and pip.type == "ipv4":
        pip.dns_ptr = {pip.ip: server.dns_ptr_v4} if server.dns_ptr_v4 else {}
        server.ipv4 = server.ipv4_id = server.dns_ptr_v4 = None
    elif server is not None:
        pip.dns_ptr = dict(server.dns_ptr_v6)
        server.ipv6 = server.ipv6_id = None
        server.dns_ptr_v6 = {}
    pip.assignee_id = None


def _check_assignable(sim: Simulator, project: Project, pip: PrimaryIp, server_id: int, field: str) -> Server:
    server = server_of(sim, project, server_id, field)
    if pip.assignee_id is not None:
        raise InvalidInput(f"primary IP {pip.id} is already assigned to server {pip.assignee_id}")
    if server.datacenter != pip.datacenter:
        raise invalid_field(field, "the server is not in the primary IP's datacenter")
    if (server.ipv4 if pip.type == "ipv4" else server.ipv6) is not None:
        raise InvalidInput(f"server {server.id} already has a primary {pip.type}")
    unlocked(sim, server.id, "server")
    if server.status != "off":
        raise ServerNotStopped("the server must be powered off to change its primary IPs")
    return server


def _assign(sim: Simulator, project: Project, pip: PrimaryIp, server: Server) -> Action:
    resources = [(pip.id, "primary_ip"), (server.id, "server")]
    return start(sim, project, "assign_primary_ip", resources, lambda: _bind(server, pip))


def _server_created(sim: Simulator, project: Project, server: Server) -> None:
    for kind, ip, pip_id in (("ipv4", server.ipv4, server.ipv4_id), ("ipv6", server.ipv6, server.ipv6_id)):
        if ip is not None and pip_id is not None:
            pip = PrimaryIp(pip_id, f"primary_ip-{pip_id}", kind, ip, server.datacenter, sim.now(), server.id, True)
            project.primary_ips[pip.id] = pip


def _server_gone(sim: Simulator, project: Project, server: Server) -> None:
    for pip in list(project.primary_ips.values()):
        if pip.assignee_id != server.id:
            continue
        if pip.auto_delete:
            del project.primary_ips[pip.id]  # the server's delete returns its address to the pool
        else:
            _unbind(server, pip)


def _on_create(
    sim: Simulator, project: Project, request: CreateServer, dc: catalog.Datacenter
) -> Callable[[Server], None] | None:
    """``public_net.ipv4``/``ipv6`` (primary IP ids) in a server's create request: bound to it."""
    public_net = request.public_net
    if public_net is None:
        return None
    chosen = []
    for kind, pip_id, enabled in (
        ("ipv4", public_net.ipv4, public_net.enable_ipv4),
        ("ipv6", public_net.ipv6, public_net.enable_ipv6),
    ):
        if pip_id is None:
            continue
        pip = project.primary_ips.get(pip_id)
        name = f"public_net.{kind}"
        if pip is None or pip.type != kind:
            raise invalid_field(name, f"primary IP {pip_id} of type {kind} not found")
        if not enabled:
            raise invalid_field(name, f"enable_{kind} is false")
        if pip.assignee_id is not None or pip.datacenter != dc:
            raise invalid_field(name, f"primary IP {pip_id} is assigned or in another datacenter")
        unlocked(sim, pip.id, "primary_ip")
        chosen.append(pip)

    def bind(server: Server) -> None:
        for pip in chosen:
            _bind(server, pip)

    return bind if chosen else None


SERVER_CREATED.append(_server_created)
SERVER_GONE.append(_server_gone)
SERVER_CREATE_OPTIONS.append(_on_create)

SORTS: dict[str, Callable[[Any], Any]] = {
    "id": lambda p: p.id,
    "name": lambda p: p.name,
    "created": lambda p: p.created,
}


def register(app: FastAPI) -> None:
    register_action_routes(app, "primary_ips", "primary_ip", primary_ip)

    @app.get("/v1/primary_ips")
    async def list_primary_ips(request: Request) -> dict[str, Any]:
        project = project_of(request)
        query = request.query_params
        items = [
            p
            for p in project.primary_ips.values()
            if query.get("name") in (None, p.name) and query.get("ip") in (None, p.ip)
        ]
        return listing(request, "primary_ips", items, lambda p: as_json(project, p), SORTS)

    @app.post("/v1/primary_ips", status_code=201)
    async def create_primary_ip(request: Request, body: CreatePrimaryIp) -> dict[str, Any]:
        sim, project = sim_of(request), project_of(request)
        if body.type not in ("ipv4", "ipv6"):
            raise invalid_field("type", "type must be ipv4 or ipv6")
        if body.assignee_type != "server":
            raise invalid_field("assignee_type", "assignee_type must be server")
        places = [x for x in (body.assignee_id, body.datacenter, body.location) if x is not None]
        if len(places) != 1:
            raise invalid_field("datacenter", "give exactly one of assignee_id, datacenter and location")
        if body.assignee_id is not None:
            dc = server_of(sim, project, body.assignee_id, "assignee_id").datacenter
        elif body.datacenter is not None:
            found = catalog.datacenter(body.datacenter)
            if found is None:
                raise invalid_field("datacenter", f"datacenter {body.datacenter!r} not found")
            dc = found
        else:
            loc = catalog.location(str(body.location))
            if loc is None:
                raise invalid_field("location", f"location {body.location!r} not found")
            dc = catalog.datacenter_of(loc)
        labels = check_labels(body.labels)
        check_name(project.primary_ips.values(), body.name)
        check_limit(len(project.primary_ips), sim.config.max_primary_ips, "primary IP")
        pip = PrimaryIp(sim.next_id(), body.name, body.type, "", dc, sim.now(), None, bool(body.auto_delete), labels)
        server = None
        if body.assignee_id is not None:
            server = _check_assignable(sim, project, pip, body.assignee_id, "assignee_id")
        pip.ip = sim.pool.take_v4() if body.type == "ipv4" else sim.pool.take_v6()
        project.primary_ips[pip.id] = pip
        answer: dict[str, Any] = {"primary_ip": as_json(project, pip)}
        if server is not None:
            answer["action"] = _assign(sim, project, pip, server).as_json(sim.now())
        return answer

    @app.get("/v1/primary_ips/{pip_id:int}")
    async def get_primary_ip(request: Request, pip_id: int) -> dict[str, Any]:
        project = project_of(request)
        return {"primary_ip": as_json(project, primary_ip(project, pip_id))}

    @app.put("/v1/primary_ips/{pip_id:int}")
    async def update_primary_ip(request: Request, pip_id: int, body: UpdatePrimaryIp) -> dict[str, Any]:
        project = project_of(request)
        pip = primary_ip(project, pip_id)
        if body.name is not None:
            check_name(project.primary_ips.values(), body.name, pip.id)
        labels = check_labels(body.labels) if body.labels is not None else pip.labels
        pip.name = body.name if body.name is not None else pip.name
        pip.labels = labels
        if body.auto_delete is not None:
            pip.auto_delete = body.auto_delete
        return {"primary_ip": as_json(project, pip)}

    @app.delete("/v1/primary_ips/{pip_id:int}", status_code=204)
    async def delete_primary_ip(request: Request, pip_id: int) -> None:
        sim, project = sim_of(request), project_of(request)
        pip = primary_ip(project, pip_id)
        unprotected(pip.protection_delete, pip.id, "primary_ip")
        unlocked(sim, pip.id, "primary_ip")
        server = project.servers.get(pip.assignee_id) if pip.assignee_id is not None else None
        if server is not None:
            unlocked(sim, server.id, "server")
            if server.status != "off":
                raise ServerNotStopped("the server must be powered off to delete its primary IP")
            _unbind(server, pip)
        del project.primary_ips[pip.id]
        if pip.type == "ipv4":
            sim.pool.release_v4(pip.ip)
        else:
            sim.pool.release_v6(pip.ip)

    prefix = "/v1/primary_ips/{pip_id:int}/actions"

    @app.post(f"{prefix}/assign", status_code=201)
    async def assign(request: Request, pip_id: int, body: Assign) -> dict[str, Any]:
        sim, project = sim_of(request), project_of(request)
        pip = primary_ip(project, pip_id)
        if body.assignee_type != "server":
            raise invalid_field("assignee_type", "assignee_type must be server")
        server = _check_assignable(sim, project, pip, body.assignee_id, "assignee_id")
        return ActionAnswer.of(sim, _assign(sim, project, pip, server))

    @app.post(f"{prefix}/unassign", status_code=201)
    async def unassign(request: Request, pip_id: int) -> dict[str, Any]:
        sim, project = sim_of(request), project_of(request)
        pip = primary_ip(project, pip_id)
        if pip.assignee_id is None:
            raise InvalidInput(f"primary IP {pip.id} is not assigned")
        server = project.servers.get(pip.assignee_id)
        resources = [(pip.id, "primary_ip")]
        if server is not None:
            unlocked(sim, server.id, "server")
            if server.status != "off":
                raise ServerNotStopped("the server must be powered off to change its primary IPs")
            resources.append((server.id, "server"))
        return ActionAnswer.of(sim, start(sim, project, "unassign_primary_ip", resources, lambda: _unbind(server, pip)))

    @app.post(f"{prefix}/change_dns_ptr", status_code=201)
    async def change_primary_dns_ptr(request: Request, pip_id: int, body: DnsPtr) -> dict[str, Any]:
        sim, project = sim_of(request), project_of(request)
        pip = primary_ip(project, pip_id)
        records = _records(project, pip)
        effect = change_dns_ptr(records, pip.ip, pip.ip, body.ip, body.dns_ptr)
        return ActionAnswer.of(sim, start(sim, project, "change_dns_ptr", [(pip.id, "primary_ip")], effect))

    @app.post(f"{prefix}/change_protection", status_code=201)
    async def change_primary_protection(request: Request, pip_id: int, body: DeleteProtection) -> dict[str, Any]:
        sim, project = sim_of(request), project_of(request)
        pip = primary_ip(project, pip_id)

        def changed() -> None:
            if body.delete is not None:
                pip.protection_delete = body.delete

        return ActionAnswer.of(sim, start(sim, project, "change_protection", [(pip.id, "primary_ip")], changed))
