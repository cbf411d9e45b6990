"""Placement groups (type ``spread``): at most 10 servers each, shown in a server's
``placement_group``. A server joins one at creation (``placement_group``) or with
``add_to_placement_group`` (only when it is ``off``: ``server_not_stopped``) and leaves with
``remove_from_placement_group``. A group that still has servers cannot be deleted
(``resource_in_use``); a server that goes away leaves its group. Creating a group answers no
action (``action: null``), as Hetzner's does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from pydantic import BaseModel

from cpshared.errors import DomainError, InvalidInput, LimitExceeded, NotFound
from hetzner_conventions.errors import invalid_field
from hetzner_sim import catalog
from hetzner_sim.common import ActionAnswer, check_limit, check_name, listing, project_of, sim_of, start, unlocked
from hetzner_sim.state import (
    SERVER_CREATE_OPTIONS,
    SERVER_GONE,
    SERVER_VIEWS,
    CreateServer,
    Project,
    Server,
    ServerNotStopped,
    Simulator,
    check_labels,
    iso8601,
)

TYPES = ("spread",)
MAX_SERVERS = 10
MAX_GROUPS = 50


class InUse(DomainError):
    code = "resource_in_use"


@dataclass
class PlacementGroup:
    id: int
    name: str
    type: str
    created: float
    labels: dict[str, str] = field(default_factory=dict)
    servers: list[int] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "type": self.type,
            "labels": dict(self.labels),
            "created": iso8601(self.created),
            "servers": sorted(self.servers),
        }


class CreatePlacementGroup(BaseModel):
    name: str
    type: str
    labels: dict[str, str] | None = None


class UpdatePlacementGroup(BaseModel):
    name: str | None = None
    labels: dict[str, str] | None = None


class AddToPlacementGroup(BaseModel):
    placement_group: int


def placement_group(project: Project, group_id: int) -> PlacementGroup:
    if group_id not in project.placement_groups:
        raise NotFound(f"placement group {group_id} not found")
    return project.placement_groups[group_id]


def _group_of(project: Project, server: Server) -> PlacementGroup | None:
    return next((g for g in project.placement_groups.values() if server.id in g.servers), None)


def _room_for_one(group: PlacementGroup) -> None:
    if len(group.servers) >= MAX_SERVERS:
        raise LimitExceeded(f"placement group {group.id} contains already {MAX_SERVERS} servers")


def _view(project: Project, server: Server, answer: dict[str, Any]) -> None:
    group = _group_of(project, server)
    answer["placement_group"] = group.as_json() if group is not None else None


def _server_gone(sim: Simulator, project: Project, server: Server) -> None:
    for group in project.placement_groups.values():
        if server.id in group.servers:
            group.servers.remove(server.id)


def _on_create(
    sim: Simulator, project: Project, request: CreateServer, dc: catalog.Datacenter
) -> Callable[[Server], None] | None:
    """``placement_group`` (an id) in a server's create request: the new server joins it."""
    if request.placement_group is None:
        return None
    group = project.placement_groups.get(request.placement_group)
    if group is None:
        raise invalid_field("placement_group", f"placement group {request.placement_group} not found")
    _room_for_one(group)

    def join(server: Server) -> None:
        group.servers.append(server.id)

    return join


SERVER_VIEWS.append(_view)
SERVER_GONE.append(_server_gone)
SERVER_CREATE_OPTIONS.append(_on_create)

SORTS: dict[str, Callable[[Any], Any]] = {
    "id": lambda g: g.id,
    "name": lambda g: g.name,
    "created": lambda g: g.created,
}


def register(app: FastAPI) -> None:
    @app.get("/v1/placement_groups")
    async def list_placement_groups(request: Request) -> dict[str, Any]:
        project = project_of(request)
        name = request.query_params.get("name")
        types = request.query_params.getlist("type")
        items = [
            g for g in project.placement_groups.values() if name in (None, g.name) and (not types or g.type in types)
        ]
        return listing(request, "placement_groups", items, PlacementGroup.as_json, SORTS)

    @app.post("/v1/placement_groups", status_code=201)
    async def create_placement_group(request: Request, body: CreatePlacementGroup) -> dict[str, Any]:
        sim, project = sim_of(request), project_of(request)
        if body.type not in TYPES:
            raise invalid_field("type", f"type must be one of {', '.join(TYPES)}")
        labels = check_labels(body.labels)
        check_name(project.placement_groups.values(), body.name)
        check_limit(len(project.placement_groups), MAX_GROUPS, "placement group")
        group = PlacementGroup(sim.next_id(), body.name, body.type, sim.now(), labels)
        project.placement_groups[group.id] = group
        return {"placement_group": group.as_json(), "action": None}

    @app.get("/v1/placement_groups/{group_id:int}")
    async def get_placement_group(request: Request, group_id: int) -> dict[str, Any]:
        return {"placement_group": placement_group(project_of(request), group_id).as_json()}

    @app.put("/v1/placement_groups/{group_id:int}")
    async def update_placement_group(request: Request, group_id: int, body: UpdatePlacementGroup) -> dict[str, Any]:
        project = project_of(request)
        group = placement_group(project, group_id)
        if body.name is not None:
            check_name(project.placement_groups.values(), body.name, group.id)
        labels = check_labels(body.labels) if body.labels is not None else group.labels
        group.name = body.name if body.name is not None else group.name
        group.labels = labels
        return {"placement_group": group.as_json()}

    @app.delete("/v1/placement_groups/{group_id:int}", status_code=204)
    async def delete_placement_group(request: Request, group_id: int) -> None:
        project = project_of(request)
        group = placement_group(project, group_id)
        if group.servers:
            raise InUse(f"placement group {group.id} still has servers; remove them from it first")
        del project.placement_groups[group.id]

    server_prefix = "/v1/servers/{server_id:int}/actions"

    @app.post(f"{server_prefix}/add_to_placement_group", status_code=201)
    async def add_to_placement_group(request: Request, server_id: int, body: AddToPlacementGroup) -> dict[str, Any]:
        sim, project = sim_of(request), project_of(request)
        server = sim.server(project, server_id)
        group = project.placement_groups.get(body.placement_group)
        if group is None:
            raise invalid_field("placement_group", f"placement group {body.placement_group} not found")
        unlocked(sim, server.id, "server")
        if _group_of(project, server) is not None:
            raise InvalidInput(f"server {server.id} is already in a placement group; remove it from that one first")
        if server.status != "off":
            raise ServerNotStopped("the server must be powered off to add it to a placement group")
        _room_for_one(group)

        def added() -> None:
            if server.id not in group.servers:
                group.servers.append(server.id)

        return ActionAnswer.of(sim, start(sim, project, "add_to_placement_group", [(server.id, "server")], added))

    @app.post(f"{server_prefix}/remove_from_placement_group", status_code=201)
    async def remove_from_placement_group(request: Request, server_id: int) -> dict[str, Any]:
        sim, project = sim_of(request), project_of(request)
        server = sim.server(project, server_id)
        group = _group_of(project, server)
        if group is None:
            raise InvalidInput(f"server {server.id} is in no placement group")

        def removed() -> None:
            if server.id in group.servers:
                group.servers.remove(server.id)

        return ActionAnswer.of(
            sim, start(sim, project, "remove_from_placement_group", [(server.id, "server")], removed)
        )
