"""Servers: list, create, get, update, delete, metrics, their actions (listed, by id, and every
server action), and the console websocket a ``request_console`` answer points at."""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request, WebSocket
from pydantic import BaseModel
from starlette.websockets import WebSocketDisconnect

from cpshared.errors import NotFound
from hetzner_conventions.errors import invalid_field
from hetzner_sim import catalog
from hetzner_sim.common import (
    ActionAnswer,
    Ctx,
    NameLabels,
    action_list,
    listing,
    multi,
    parse_time,
    project_of,
    sim_of,
)
from hetzner_sim.state import BACKUP_WINDOW, CreateServer, Protected, Server


class Rebuild(BaseModel):
    image: str | int
    user_data: str | None = None


class ChangeType(BaseModel):
    server_type: str | int
    upgrade_disk: bool


class ChangeProtection(BaseModel):
    delete: bool | None = None
    rebuild: bool | None = None


class ChangeDnsPtr(BaseModel):
    ip: str
    dns_ptr: str | None


class EnableRescue(BaseModel):
    type: str | None = "linux64"
    ssh_keys: list[int] | None = None


class AttachIso(BaseModel):
    iso: str | int


class CreateImage(BaseModel):
    type: str | None = "snapshot"
    description: str | None = None
    labels: dict[str, str] | None = None


def register(app: FastAPI) -> None:
    server_sorts: dict[str, Callable[[Any], Any]] = {
        "id": lambda s: s.id,
        "name": lambda s: s.name,
        "created": lambda s: s.created,
    }

    @app.get("/v1/servers")
    async def list_servers(request: Request) -> dict[str, Any]:
        sim, project = sim_of(request), project_of(request)
        statuses = set(multi(request, "status"))
        name = request.query_params.get("name")
        servers = [
            s for s in project.servers.values() if name in (None, s.name) and (not statuses or s.status in statuses)
        ]
        return listing(request, "servers", servers, sim.server_json, server_sorts)

    @app.post("/v1/servers", status_code=201)
    async def create_server(request: Request, body: CreateServer) -> dict[str, Any]:
        sim = sim_of(request)
        server, action, next_actions, password = sim.create_server(project_of(request), body)
        now = sim.now()
        return {
            "server": sim.server_json(server),
            "action": action.as_json(now),
            "next_actions": [a.as_json(now) for a in next_actions],
            "root_password": password,
        }

    @app.get("/v1/servers/{server_id:int}")
    async def get_server(request: Request, server_id: int) -> dict[str, Any]:
        sim = sim_of(request)
        return {"server": sim.server_json(sim.server(project_of(request), server_id))}

    @app.put("/v1/servers/{server_id:int}")
    async def update_server(request: Request, server_id: int, body: NameLabels) -> dict[str, Any]:
        sim = sim_of(request)
        return {"server": sim.server_json(sim.update_server(project_of(request), server_id, body.name, body.labels))}

    @app.delete("/v1/servers/{server_id:int}")
    async def delete_server(request: Request, server_id: int) -> dict[str, Any]:
        sim = sim_of(request)
        return ActionAnswer.of(sim, sim.delete_server(project_of(request), server_id))

    @app.get("/v1/servers/{server_id:int}/metrics")
    async def server_metrics(request: Request, server_id: int) -> dict[str, Any]:
        sim = sim_of(request)
        server = sim.server(project_of(request), server_id)
        kinds = multi(request, "type")
        if not kinds or any(k not in ("cpu", "disk", "network") for k in kinds):
            raise invalid_field("type", "type must be one or more of cpu, disk, network")
        start = parse_time("start", request.query_params.get("start"))
        end = parse_time("end", request.query_params.get("end"))
        if end < start:
            raise invalid_field("end", "end must not be before start")
        step_raw = request.query_params.get("step")
        try:
            step = max(1, int(float(step_raw))) if step_raw else max(1, int((end - start) // 100))
        except ValueError:
            raise invalid_field("step", "step must be a number of seconds") from None
        if (end - start) / step > 10_000:
            raise invalid_field("step", "too many samples; choose a larger step")
        return sim.metrics(server, kinds, start, end, step)

    @app.get("/v1/servers/{server_id:int}/actions")
    async def list_server_actions(request: Request, server_id: int) -> dict[str, Any]:
        sim, project = sim_of(request), project_of(request)
        sim.server(project, server_id)
        actions = [a for a in sim.project_actions(project) if (server_id, "server") in a.resources]
        return action_list(request, actions)

    @app.get("/v1/servers/actions")
    async def list_all_server_actions(request: Request) -> dict[str, Any]:
        sim, project = sim_of(request), project_of(request)
        actions = [a for a in sim.project_actions(project) if any(t == "server" for _, t in a.resources)]
        return action_list(request, actions)

    @app.get("/v1/servers/actions/{action_id}")
    async def get_any_server_action(request: Request, action_id: int) -> dict[str, Any]:
        sim = sim_of(request)
        return ActionAnswer.of(sim, sim.action(project_of(request), action_id))

    @app.get("/v1/servers/{server_id:int}/actions/{action_id}")
    async def get_server_action(request: Request, server_id: int, action_id: int) -> dict[str, Any]:
        sim = sim_of(request)
        action = sim.action(project_of(request), action_id)
        if (server_id, "server") not in action.resources:
            raise NotFound(f"action {action_id} not found")
        return ActionAnswer.of(sim, action)


def register_actions(app: FastAPI) -> None:
    """``POST /v1/servers/{id}/actions/<action>``: every server action."""
    prefix = "/v1/servers/{server_id:int}/actions"

    def simple(command: str, name: str, during: str | None, final: str | None) -> None:
        def effect(server: Server) -> None:
            if final is not None:
                server.status = final

        async def handler(request: Request, server_id: int) -> dict[str, Any]:
            sim = sim_of(request)
            return ActionAnswer.of(sim, sim.server_action(project_of(request), server_id, command, effect, during))

        app.post(f"{prefix}/{name}", status_code=201, name=name)(handler)

    simple("start_server", "poweron", "starting", "running")
    simple("stop_server", "poweroff", "stopping", "off")
    simple("shutdown_server", "shutdown", "stopping", "off")
    simple("reboot_server", "reboot", None, "running")
    simple("reset_server", "reset", None, "running")

    @app.post(f"{prefix}/rebuild", status_code=201)
    async def rebuild(request: Request, server_id: int, body: Rebuild) -> dict[str, Any]:
        sim, project = sim_of(request), project_of(request)
        server = sim.server(project, server_id)
        if server.protection_rebuild:
            raise Protected(f"server {server_id} is protected against rebuilding")
        image = sim.find_image(project, body.image, server.server_type.architecture)
        if image is None or image.architecture != server.server_type.architecture:
            raise invalid_field("image", f"image {body.image!r} not found for this server")

        def rebuilt(s: Server) -> None:
            s.image = image
            s.user_data = body.user_data
            s.status = "running"

        action = sim.server_action(project, server_id, "rebuild_server", rebuilt, "rebuilding")
        return ActionAnswer.of(sim, action, root_password=None if server.ssh_keys else secrets.token_urlsafe(15))

    @app.post(f"{prefix}/change_type", status_code=201)
    async def change_type(request: Request, server_id: int, body: ChangeType) -> dict[str, Any]:
        sim = sim_of(request)
        action = sim.change_type(project_of(request), server_id, body.server_type, body.upgrade_disk)
        return ActionAnswer.of(sim, action)

    @app.post(f"{prefix}/enable_rescue", status_code=201)
    async def enable_rescue(request: Request, server_id: int, body: EnableRescue | None = None) -> dict[str, Any]:
        sim, project = sim_of(request), project_of(request)
        body = body or EnableRescue()
        if body.type not in (None, "linux64"):
            raise invalid_field("type", "type must be linux64")
        for key in body.ssh_keys or []:
            sim.find_ssh_key(project, key)  # unknown keys are refused

        def enabled(s: Server) -> None:
            s.rescue_enabled = True

        action = sim.server_action(project, server_id, "enable_rescue", enabled)
        # The spec's root_password here is a string, never null: the rescue system gets one with SSH keys too.
        return ActionAnswer.of(sim, action, root_password=secrets.token_urlsafe(15))

    def flag(command: str, name: str, apply: Callable[[Server], None]) -> None:
        async def handler(request: Request, server_id: int) -> dict[str, Any]:
            sim = sim_of(request)
            return ActionAnswer.of(sim, sim.server_action(project_of(request), server_id, command, apply))

        app.post(f"{prefix}/{name}", status_code=201, name=name)(handler)

    def rescue_off(s: Server) -> None:
        s.rescue_enabled = False

    def iso_off(s: Server) -> None:
        s.iso = None

    flag("disable_rescue", "disable_rescue", rescue_off)
    flag("detach_iso", "detach_iso", iso_off)

    @app.post(f"{prefix}/enable_backup", status_code=201)
    async def enable_backup(request: Request, server_id: int) -> dict[str, Any]:
        """Seven slots of backup images; one automated backup a day, at the window's start."""
        sim, project = sim_of(request), project_of(request)

        def enabled(s: Server) -> None:
            if s.backup_window is None:
                s.backup_window = BACKUP_WINDOW
                s.backups_since = sim.now()

        return ActionAnswer.of(sim, sim.server_action(project, server_id, "enable_backup", enabled))

    @app.post(f"{prefix}/disable_backup", status_code=201)
    async def disable_backup(request: Request, server_id: int) -> dict[str, Any]:
        """Hetzner: disabling "immediately removes all existing backups for the Server"."""
        sim, project = sim_of(request), project_of(request)

        def disabled(s: Server) -> None:
            s.backup_window = None
            s.backups_since = None
            sim.drop_backups(project, s.id)

        return ActionAnswer.of(sim, sim.server_action(project, server_id, "disable_backup", disabled))

    @app.post(f"{prefix}/attach_iso", status_code=201)
    async def attach_iso(request: Request, server_id: int, body: AttachIso) -> dict[str, Any]:
        sim, project = sim_of(request), project_of(request)
        server = sim.server(project, server_id)
        iso = catalog.iso(body.iso)
        if iso is None:
            raise invalid_field("iso", f"ISO {body.iso!r} not found")
        if iso.architecture not in (None, server.server_type.architecture):
            raise invalid_field("iso", "the ISO's architecture does not match the server's")

        def attached(s: Server) -> None:
            s.iso = iso

        return ActionAnswer.of(sim, sim.server_action(project, server_id, "attach_iso", attached))

    @app.post(f"{prefix}/change_protection", status_code=201)
    async def change_protection(request: Request, server_id: int, body: ChangeProtection) -> dict[str, Any]:
        sim = sim_of(request)

        def changed(s: Server) -> None:
            if body.delete is not None:
                s.protection_delete = body.delete
            if body.rebuild is not None:
                s.protection_rebuild = body.rebuild

        return ActionAnswer.of(sim, sim.server_action(project_of(request), server_id, "change_protection", changed))

    @app.post(f"{prefix}/change_dns_ptr", status_code=201)
    async def change_dns_ptr(request: Request, server_id: int, body: ChangeDnsPtr) -> dict[str, Any]:
        sim, project = sim_of(request), project_of(request)
        server = sim.server(project, server_id)
        try:
            address = ipaddress.ip_address(body.ip)
        except ValueError:
            raise invalid_field("ip", f"{body.ip!r} is not an IP address") from None
        is_v4 = server.ipv4 is not None and str(address) == server.ipv4
        is_v6 = server.ipv6 is not None and address in ipaddress.ip_network(server.ipv6)
        if not (is_v4 or is_v6):
            raise invalid_field("ip", f"{body.ip} is not an address of server {server_id}")

        def changed(s: Server) -> None:
            if is_v4:
                s.dns_ptr_v4 = body.dns_ptr
            elif body.dns_ptr is None:
                s.dns_ptr_v6.pop(str(address), None)
            else:
                s.dns_ptr_v6[str(address)] = body.dns_ptr

        return ActionAnswer.of(sim, sim.server_action(project, server_id, "change_dns_ptr", changed))

    @app.post(f"{prefix}/create_image", status_code=201)
    async def create_image(request: Request, server_id: int, body: CreateImage | None = None) -> dict[str, Any]:
        sim = sim_of(request)
        body = body or CreateImage()
        kind = body.type or "snapshot"
        if kind not in ("snapshot", "backup"):
            raise invalid_field("type", "type must be snapshot or backup")
        if kind == "backup" and sim.server(project_of(request), server_id).backup_window is None:
            raise invalid_field("type", "backup images need the server's backup option enabled")
        image, action = sim.create_image(project_of(request), server_id, kind, body.description, body.labels)
        return {"image": sim.image_json(image), "action": action.as_json(sim.now())}

    @app.post(f"{prefix}/request_console", status_code=201)
    async def request_console(request: Request, server_id: int) -> dict[str, Any]:
        sim = sim_of(request)
        project = project_of(request)
        action = sim.server_action(project, server_id, "request_console")
        token = secrets.token_urlsafe(24)
        ctx: Ctx = request.app.state.ctx
        ctx.consoles = {t: c for t, c in ctx.consoles.items() if c[2] > sim.now()}
        ctx.consoles[token] = (project.name, server_id, sim.now() + CONSOLE_TOKEN_SECONDS)
        # Hetzner's is wss://console.hetzner.cloud/?server_id=…&token=…; the simulator serves
        # its own console websocket (see /console) on the host and scheme it was reached at.
        scheme = "wss" if request.url.scheme == "https" else "ws"
        return ActionAnswer.of(
            sim,
            action,
            wss_url=f"{scheme}://{request.url.netloc}/console?server_id={server_id}&token={token}",
            password=secrets.token_urlsafe(12),
        )

    @app.post(f"{prefix}/reset_password", status_code=201)
    async def reset_password(request: Request, server_id: int) -> dict[str, Any]:
        sim = sim_of(request)
        action = sim.server_action(project_of(request), server_id, "reset_password")
        return ActionAnswer.of(sim, action, root_password=secrets.token_urlsafe(15))


CONSOLE_TOKEN_SECONDS = 60.0
RFB_VERSION = b"RFB 003.008\n"


def register_console(app: FastAPI) -> None:
    """The console websocket a request_console answer points at: a token opens it once, within
    a minute, for its server. It speaks the start of VNC's RFB (the server's ProtocolVersion
    greeting) and then echoes every frame, so a relay can be tested end to end; it draws no
    screen. The subprotocol a client asks for (noVNC's ``binary``) is accepted."""

    @app.websocket("/console")
    async def console(websocket: WebSocket, server_id: int = 0, token: str = "") -> None:
        ctx: Ctx = websocket.app.state.ctx
        granted = ctx.consoles.pop(token, None)
        project = ctx.sim.projects.get(granted[0]) if granted else None
        valid = (
            granted is not None
            and granted[1] == server_id
            and granted[2] > ctx.sim.now()
            and project is not None
            and server_id in project.servers
        )
        if not valid:
            await websocket.close(code=1008, reason="invalid console token")
            return
        asked = websocket.scope.get("subprotocols") or []
        await websocket.accept(subprotocol=asked[0] if asked else None)
        await websocket.send_bytes(RFB_VERSION)
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                if message.get("bytes") is not None:
                    await websocket.send_bytes(message["bytes"])
                elif message.get("text") is not None:
                    await websocket.send_text(message["text"])
        except WebSocketDisconnect:
            return
