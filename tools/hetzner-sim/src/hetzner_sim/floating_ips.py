"""Floating IPs: an IPv4 address or an IPv6 /64 from their own pool, homed in a location,
assignable to a server of the same network zone (it shows in the server's
``public_net.floating_ips``); a server that goes away leaves its floating IPs unassigned.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from pydantic import BaseModel

from cpshared.errors import NotFound
from hetzner_conventions.errors import invalid_field
from hetzner_sim import catalog
from hetzner_sim.common import (
    ActionAnswer,
    change_dns_ptr,
    check_limit,
    check_name,
    listing,
    location_of,
    project_of,
    register_action_routes,
    reverse_dns,
    server_of,
    sim_of,
    start,
    unlocked,
    unprotected,
)
from hetzner_sim.state import SERVER_GONE, SERVER_VIEWS, Project, Server, Simulator, check_labels, iso8601


@dataclass
class FloatingIp:
    id: int
    name: str
    type: str
    ip: str
    home_location: catalog.Location
    created: float
    description: str | None = None
    server: int | None = None
    labels: dict[str, str] = field(default_factory=dict)
    dns_ptr: dict[str, str] = field(default_factory=dict)
    protection_delete: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "ip": self.ip,
            "type": self.type,
            "server": self.server,
            "dns_ptr": reverse_dns(self.ip, self.dns_ptr),
            "home_location": self.home_location.as_json(),
            "blocked": False,
            "protection": {"delete": self.protection_delete},
            "labels": dict(self.labels),
            "created": iso8601(self.created),
        }


class CreateFloatingIp(BaseModel):
    type: str
    name: str | None = None
    description: str | None = None
    home_location: str | None = None
    server: int | None = None
    labels: dict[str, str] | None = None


class UpdateFloatingIp(BaseModel):
    name: str | None = None
    description: str | None = None
    labels: dict[str, str] | None = None


class Assign(BaseModel):
    server: int | None


class DnsPtr(BaseModel):
    ip: str
    dns_ptr: str | None


class DeleteProtection(BaseModel):
    delete: bool | None = None


def floating_ip(project: Project, fip_id: int) -> FloatingIp:
    if fip_id not in project.floating_ips:
        raise NotFound(f"floating IP {fip_id} not found")
    return project.floating_ips[fip_id]


def _assignable(sim: Simulator, project: Project, fip: FloatingIp, server_id: int) -> Server:
    server = server_of(sim, project, server_id)
    if server.datacenter.location.network_zone != fip.home_location.network_zone:
        raise invalid_field("server", "the server is not in the floating IP's network zone")
    return server


def _view(project: Project, server: Server, answer: dict[str, Any]) -> None:
    answer["public_net"]["floating_ips"] = sorted(f.id for f in project.floating_ips.values() if f.server == server.id)


def _server_gone(sim: Simulator, project: Project, server: Server) -> None:
    for fip in project.floating_ips.values():
        if fip.server == server.id:
            fip.server = None


SERVER_VIEWS.append(_view)
SERVER_GONE.append(_server_gone)

SORTS: dict[str, Callable[[Any], Any]] = {
    "id": lambda f: f.id,
    "name": lambda f: f.name,
    "created": lambda f: f.created,
}


def register(app: FastAPI) -> None:
    register_action_routes(app, "floating_ips", "floating_ip", floating_ip)

    @app.get("/v1/floating_ips")
    async def list_floating_ips(request: Request) -> dict[str, Any]:
        name = request.query_params.get("name")
        items = [f for f in project_of(request).floating_ips.values() if name in (None, f.name)]
        return listing(request, "floating_ips", items, lambda f: f.as_json(), SORTS)

    @app.post("/v1/floating_ips", status_code=201)
    async def create_floating_ip(request: Request, body: CreateFloatingIp) -> dict[str, Any]:
        sim, project = sim_of(request), project_of(request)
        if body.type not in ("ipv4", "ipv6"):
            raise invalid_field("type", "type must be ipv4 or ipv6")
        server = server_of(sim, project, body.server) if body.server is not None else None
        if body.home_location is not None:
            home = location_of(body.home_location, "home_location")
        elif server is not None:
            home = server.datacenter.location
        else:
            raise invalid_field("home_location", "give home_location or server")
        if server is not None and server.datacenter.location.network_zone != home.network_zone:
            raise invalid_field("server", "the server is not in the home location's network zone")
        labels = check_labels(body.labels)
        fip_id = sim.next_id()
        name = body.name if body.name is not None else f"floating-ip-{fip_id}"
        check_name(project.floating_ips.values(), name)
        check_limit(len(project.floating_ips), sim.config.max_floating_ips, "floating IP")
        pool = sim.floating_pool
        ip = pool.take_v4() if body.type == "ipv4" else pool.take_v6()
        fip = FloatingIp(fip_id, name, body.type, ip, home, sim.now(), body.description, labels=labels)
        project.floating_ips[fip.id] = fip
        answer: dict[str, Any] = {}
        if server is not None:
            target = server.id

            def assigned() -> None:
                fip.server = target

            action = start(sim, project, "assign_floating_ip", [(fip.id, "floating_ip"), (target, "server")], assigned)
            answer["action"] = action.as_json(sim.now())
        answer["floating_ip"] = fip.as_json()
        return answer

    @app.get("/v1/floating_ips/{fip_id:int}")
    async def get_floating_ip(request: Request, fip_id: int) -> dict[str, Any]:
        return {"floating_ip": floating_ip(project_of(request), fip_id).as_json()}

    @app.put("/v1/floating_ips/{fip_id:int}")
    async def update_floating_ip(request: Request, fip_id: int, body: UpdateFloatingIp) -> dict[str, Any]:
        project = project_of(request)
        fip = floating_ip(project, fip_id)
        if body.name is not None:
            check_name(project.floating_ips.values(), body.name, fip.id)
        labels = check_labels(body.labels) if body.labels is not None else fip.labels
        fip.name = body.name if body.name is not None else fip.name
        fip.labels = labels
        if body.description is not None:
            fip.description = body.description
        return {"floating_ip": fip.as_json()}

    @app.delete("/v1/floating_ips/{fip_id:int}", status_code=204)
    async def delete_floating_ip(request: Request, fip_id: int) -> None:
        sim, project = sim_of(request), project_of(request)
        fip = floating_ip(project, fip_id)
        unprotected(fip.protection_delete, fip.id, "floating_ip")
        unlocked(sim, fip.id, "floating_ip")
        del project.floating_ips[fip.id]
        if fip.type == "ipv4":
            sim.floating_pool.release_v4(fip.ip)
        else:
            sim.floating_pool.release_v6(fip.ip)

    prefix = "/v1/floating_ips/{fip_id:int}/actions"

    @app.post(f"{prefix}/assign", status_code=201)
    async def assign(request: Request, fip_id: int, body: Assign) -> dict[str, Any]:
        sim, project = sim_of(request), project_of(request)
        fip = floating_ip(project, fip_id)
        if body.server is None:
            return await unassign(request, fip_id)
        target = _assignable(sim, project, fip, body.server).id

        def assigned() -> None:
            fip.server = target

        resources = [(fip.id, "floating_ip"), (target, "server")]
        return ActionAnswer.of(sim, start(sim, project, "assign_floating_ip", resources, assigned))

    @app.post(f"{prefix}/unassign", status_code=201)
    async def unassign(request: Request, fip_id: int) -> dict[str, Any]:
        sim, project = sim_of(request), project_of(request)
        fip = floating_ip(project, fip_id)
        resources = [(fip.id, "floating_ip")]
        if fip.server is not None:
            resources.append((fip.server, "server"))

        def unassigned() -> None:
            fip.server = None

        return ActionAnswer.of(sim, start(sim, project, "unassign_floating_ip", resources, unassigned))

    @app.post(f"{prefix}/change_dns_ptr", status_code=201)
    async def change_floating_dns_ptr(request: Request, fip_id: int, body: DnsPtr) -> dict[str, Any]:
        sim, project = sim_of(request), project_of(request)
        fip = floating_ip(project, fip_id)
        effect = change_dns_ptr(fip.dns_ptr, fip.ip, fip.ip, body.ip, body.dns_ptr)
        return ActionAnswer.of(sim, start(sim, project, "change_dns_ptr", [(fip.id, "floating_ip")], effect))

    @app.post(f"{prefix}/change_protection", status_code=201)
    async def change_floating_protection(request: Request, fip_id: int, body: DeleteProtection) -> dict[str, Any]:
        sim, project = sim_of(request), project_of(request)
        fip = floating_ip(project, fip_id)

        def changed() -> None:
            if body.delete is not None:
                fip.protection_delete = body.delete

        return ActionAnswer.of(sim, start(sim, project, "change_protection", [(fip.id, "floating_ip")], changed))
