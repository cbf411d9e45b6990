"""Volumes: block storage of 10 to 10240 GB in a location, attachable to one server there (it
shows in the server's ``volumes``); a resize only grows; a server that goes away detaches them.
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
    check_limit,
    check_name,
    listing,
    location_of,
    multi,
    project_of,
    register_action_routes,
    server_of,
    sim_of,
    start,
    unlocked,
)
from hetzner_sim.common import unprotected as check_unprotected
from hetzner_sim.state import (
    SERVER_CREATE_OPTIONS,
    SERVER_GONE,
    SERVER_VIEWS,
    Action,
    CreateServer,
    Project,
    Server,
    Simulator,
    check_labels,
    iso8601,
)

MIN_SIZE, MAX_SIZE = 10, 10240
FORMATS = ("ext4", "xfs")


@dataclass
class Volume:
    id: int
    name: str
    size: int
    location: catalog.Location
    created: float
    status: str = "creating"
    format: str | None = None
    server: int | None = None
    labels: dict[str, str] = field(default_factory=dict)
    protection_delete: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "size": self.size,
            "status": self.status,
            "server": self.server,
            "location": self.location.as_json(),
            "linux_device": f"/dev/disk/by-id/scsi-0HC_Volume_{self.id}",
            "format": self.format,
            "protection": {"delete": self.protection_delete},
            "labels": dict(self.labels),
            "created": iso8601(self.created),
        }


class CreateVolume(BaseModel):
    name: str
    size: int
    location: str | None = None
    server: int | None = None
    automount: bool | None = None
    format: str | None = None
    labels: dict[str, str] | None = None


class UpdateVolume(BaseModel):
    name: str | None = None
    labels: dict[str, str] | None = None


class Attach(BaseModel):
    server: int
    automount: bool | None = None


class Resize(BaseModel):
    size: float


class DeleteProtection(BaseModel):
    delete: bool | None = None


def volume(project: Project, volume_id: int) -> Volume:
    if volume_id not in project.volumes:
        raise NotFound(f"volume {volume_id} not found")
    return project.volumes[volume_id]


def _attach(sim: Simulator, project: Project, vol: Volume, server: Server) -> Action:
    if vol.server is not None:
        raise InvalidInput(f"volume {vol.id} is already attached to server {vol.server}")
    if server.datacenter.location != vol.location:
        raise invalid_field("server", "the server is not in the volume's location")

    def attached() -> None:
        vol.server = server.id

    return start(sim, project, "attach_volume", [(vol.id, "volume"), (server.id, "server")], attached)


def _view(project: Project, server: Server, answer: dict[str, Any]) -> None:
    answer["volumes"] = sorted(v.id for v in project.volumes.values() if v.server == server.id)


def _server_gone(sim: Simulator, project: Project, server: Server) -> None:
    for vol in project.volumes.values():
        if vol.server == server.id:
            vol.server = None


def _on_create(
    sim: Simulator, project: Project, request: CreateServer, dc: catalog.Datacenter
) -> Callable[[Server], None] | None:
    """``volumes`` in a server's create request: existing, detached volumes of its location."""
    if not request.volumes:
        return None
    chosen = []
    for volume_id in request.volumes:
        vol = project.volumes.get(volume_id)
        if vol is None:
            raise invalid_field("volumes", f"volume {volume_id} not found")
        if vol.server is not None or vol.location != dc.location:
            raise invalid_field("volumes", f"volume {volume_id} is attached or in another location")
        unlocked(sim, vol.id, "volume")
        chosen.append(vol)

    def attach(server: Server) -> None:
        for vol in chosen:
            vol.server = server.id

    return attach


SERVER_VIEWS.append(_view)
SERVER_GONE.append(_server_gone)
SERVER_CREATE_OPTIONS.append(_on_create)

SORTS: dict[str, Callable[[Any], Any]] = {
    "id": lambda v: v.id,
    "name": lambda v: v.name,
    "created": lambda v: v.created,
}


def register(app: FastAPI) -> None:
    register_action_routes(app, "volumes", "volume", volume)

    @app.get("/v1/volumes")
    async def list_volumes(request: Request) -> dict[str, Any]:
        name = request.query_params.get("name")
        statuses = set(multi(request, "status"))
        items = [
            v
            for v in project_of(request).volumes.values()
            if name in (None, v.name) and (not statuses or v.status in statuses)
        ]
        return listing(request, "volumes", items, lambda v: v.as_json(), SORTS)

    @app.post("/v1/volumes", status_code=201)
    async def create_volume(request: Request, body: CreateVolume) -> dict[str, Any]:
        sim, project = sim_of(request), project_of(request)
        if not MIN_SIZE <= body.size <= MAX_SIZE:
            raise invalid_field("size", f"size must be between {MIN_SIZE} and {MAX_SIZE} GB")
        if (body.location is None) == (body.server is None):
            raise invalid_field("location", "give either location or server")
        if body.format is not None and body.format not in FORMATS:
            raise invalid_field("format", "format must be ext4 or xfs")
        if body.automount and body.server is None:
            raise invalid_field("automount", "automount needs a server")
        server = server_of(sim, project, body.server) if body.server is not None else None
        if server is not None:
            unlocked(sim, server.id, "server")
        loc = server.datacenter.location if server is not None else location_of(str(body.location))
        labels = check_labels(body.labels)
        check_name(project.volumes.values(), body.name)
        check_limit(len(project.volumes), sim.config.max_volumes, "volume")
        vol = Volume(sim.next_id(), body.name, body.size, loc, sim.now(), format=body.format, labels=labels)
        project.volumes[vol.id] = vol

        def created() -> None:
            vol.status = "available"

        def failed() -> None:
            project.volumes.pop(vol.id, None)

        action = start(sim, project, "create_volume", [(vol.id, "volume")], created, failed)
        next_actions = []
        if server is not None:
            target = server

            def attached() -> None:
                vol.server = target.id

            resources = [(vol.id, "volume"), (target.id, "server")]
            next_actions.append(sim.start_action(project, "attach_volume", resources, attached))
        now = sim.now()
        return {
            "volume": vol.as_json(),
            "action": action.as_json(now),
            "next_actions": [a.as_json(now) for a in next_actions],
        }

    @app.get("/v1/volumes/{volume_id:int}")
    async def get_volume(request: Request, volume_id: int) -> dict[str, Any]:
        return {"volume": volume(project_of(request), volume_id).as_json()}

    @app.put("/v1/volumes/{volume_id:int}")
    async def update_volume(request: Request, volume_id: int, body: UpdateVolume) -> dict[str, Any]:
        project = project_of(request)
        vol = volume(project, volume_id)
        if body.name is not None:
            check_name(project.volumes.values(), body.name, vol.id)
        labels = check_labels(body.labels) if body.labels is not None else vol.labels
        vol.name = body.name if body.name is not None else vol.name
        vol.labels = labels
        return {"volume": vol.as_json()}

    @app.delete("/v1/volumes/{volume_id:int}", status_code=204)
    async def delete_volume(request: Request, volume_id: int) -> None:
        sim, project = sim_of(request), project_of(request)
        vol = volume(project, volume_id)
        check_unprotected(vol.protection_delete, vol.id, "volume")
        unlocked(sim, vol.id, "volume")
        if vol.server is not None:
            raise InvalidInput(f"volume {vol.id} is attached to server {vol.server}; detach it first")
        del project.volumes[vol.id]

    prefix = "/v1/volumes/{volume_id:int}/actions"

    @app.post(f"{prefix}/attach", status_code=201)
    async def attach(request: Request, volume_id: int, body: Attach) -> dict[str, Any]:
        sim, project = sim_of(request), project_of(request)
        vol = volume(project, volume_id)
        return ActionAnswer.of(sim, _attach(sim, project, vol, server_of(sim, project, body.server)))

    @app.post(f"{prefix}/detach", status_code=201)
    async def detach(request: Request, volume_id: int) -> dict[str, Any]:
        sim, project = sim_of(request), project_of(request)
        vol = volume(project, volume_id)
        if vol.server is None:
            raise InvalidInput(f"volume {vol.id} is not attached")
        resources = [(vol.id, "volume"), (vol.server, "server")]

        def detached() -> None:
            vol.server = None

        return ActionAnswer.of(sim, start(sim, project, "detach_volume", resources, detached))

    @app.post(f"{prefix}/resize", status_code=201)
    async def resize(request: Request, volume_id: int, body: Resize) -> dict[str, Any]:
        sim, project = sim_of(request), project_of(request)
        vol = volume(project, volume_id)
        size = int(body.size)
        if size != body.size or size <= vol.size or size > MAX_SIZE:
            raise invalid_field("size", f"a volume only grows: size must be a whole number in ({vol.size}, {MAX_SIZE}]")

        def resized() -> None:
            vol.size = size

        return ActionAnswer.of(sim, start(sim, project, "resize_volume", [(vol.id, "volume")], resized))

    @app.post(f"{prefix}/change_protection", status_code=201)
    async def change_volume_protection(request: Request, volume_id: int, body: DeleteProtection) -> dict[str, Any]:
        sim, project = sim_of(request), project_of(request)
        vol = volume(project, volume_id)

        def changed() -> None:
            if body.delete is not None:
                vol.protection_delete = body.delete

        return ActionAnswer.of(sim, start(sim, project, "change_protection", [(vol.id, "volume")], changed))
