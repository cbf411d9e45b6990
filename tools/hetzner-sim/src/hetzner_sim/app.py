"""The HTTP face: Hetzner Cloud API v1 under /v1, the control endpoints under /_sim, /healthz.

Every handler is ``async`` and never awaits while it touches the state, so the event loop
serialises them and the state needs no lock.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from fastapi import Body, FastAPI, Request, WebSocket
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocketDisconnect

from cpshared.errors import InvalidInput, NotFound
from hetzner_conventions.error_handlers import error_response, install_error_handlers
from hetzner_conventions.errors import error_body, invalid_field, status_for
from hetzner_conventions.label_selector import parse_label_selector
from hetzner_conventions.pagination import paginate, parse_page_request
from hetzner_conventions.sorting import parse_sort
from hetzner_sim import catalog
from hetzner_sim.faults import FaultRule, Faults, RateLimiter, headers
from hetzner_sim.state import (
    PLANNED_ACTION_ERROR,
    Action,
    Clock,
    CreateServer,
    Project,
    Protected,
    Server,
    SimConfig,
    Simulator,
    SnapshotImage,
)

DEFAULT_TOKEN = "sim-token"  # noqa: S105 - the simulator's documented development token


def tokens_from_env() -> list[str]:
    """CP_HETZNER_SIM_TOKEN: one token, or several separated by commas (one project each); or
    CP_HETZNER_SIM_TOKEN_FILE: a file holding them (a mounted secret), which wins when set."""
    token_file = os.environ.get("CP_HETZNER_SIM_TOKEN_FILE", "")
    if token_file:
        with open(token_file, encoding="utf-8") as source:
            raw = source.read()
    else:
        raw = os.environ.get("CP_HETZNER_SIM_TOKEN", DEFAULT_TOKEN)
    return [token.strip() for token in raw.split(",") if token.strip()]


class Ctx:
    def __init__(self, sim: Simulator, faults: Faults, limiter: RateLimiter, tokens: Sequence[str]) -> None:
        self.sim, self.faults, self.limiter = sim, faults, limiter
        # One project per token, named after its position, so a token never shows in /_sim/state.
        self.projects = {token: f"project-{i + 1}" for i, token in enumerate(tokens)}
        # Console tokens handed out by request_console: token -> (project, server id, expiry).
        self.consoles: dict[str, tuple[str, int, float]] = {}


def _project(request: Request) -> Project:
    ctx: Ctx = request.app.state.ctx
    return ctx.sim.project(request.scope["state"]["project"])


def _sim(request: Request) -> Simulator:
    ctx: Ctx = request.app.state.ctx
    return ctx.sim


def _listing(
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


def _multi(request: Request, name: str) -> list[str]:
    return [part for value in request.query_params.getlist(name) for part in value.split(",") if part]


ACTION_SORTS: dict[str, Callable[[Any], Any]] = {
    "id": lambda a: a.id,
    "command": lambda a: a.command,
    "status": lambda a: a.done,
    "started": lambda a: a.started,
    "finished": lambda a: a.ends,
}


def _action_list(request: Request, actions: list[Action]) -> dict[str, Any]:
    sim = _sim(request)
    now = sim.now()
    ids = {int(i) for i in _multi(request, "id") if i.isdigit()}
    statuses = set(_multi(request, "status"))
    if ids:
        actions = [a for a in actions if a.id in ids]
    if statuses:
        actions = [a for a in actions if a.status(now) in statuses]
    return _listing(request, "actions", actions, lambda a: a.as_json(now), ACTION_SORTS)


class ActionAnswer:
    @staticmethod
    def of(sim: Simulator, action: Action, **extra: Any) -> dict[str, Any]:
        return {"action": action.as_json(sim.now()), **extra}


class SshKeyCreate(BaseModel):
    name: str
    public_key: str
    labels: dict[str, str] | None = None


class NameLabels(BaseModel):
    name: str | None = None
    labels: dict[str, str] | None = None


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


def _parse_time(name: str, raw: str | None) -> float:
    if raw is None:
        raise invalid_field(name, f"{name} is required")
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise invalid_field(name, f"{name} must be an RFC 3339 time") from None


def register_v1(app: FastAPI) -> None:
    # -- catalog --------------------------------------------------------------------------
    @app.get("/v1/locations")
    async def list_locations(request: Request) -> dict[str, Any]:
        items = [loc for loc in catalog.LOCATIONS if request.query_params.get("name") in (None, loc.name)]
        sorts: dict[str, Callable[[Any], Any]] = {"id": lambda x: x.id, "name": lambda x: x.name}
        return _listing(request, "locations", items, lambda loc: loc.as_json(), sorts)

    @app.get("/v1/locations/{location_id}")
    async def get_location(location_id: int) -> dict[str, Any]:
        loc = next((x for x in catalog.LOCATIONS if x.id == location_id), None)
        if loc is None:
            raise NotFound(f"location {location_id} not found")
        return {"location": loc.as_json()}

    @app.get("/v1/datacenters")
    async def list_datacenters(request: Request) -> dict[str, Any]:
        items = [dc for dc in catalog.DATACENTERS if request.query_params.get("name") in (None, dc.name)]
        sorts: dict[str, Callable[[Any], Any]] = {"id": lambda x: x.id, "name": lambda x: x.name}
        answer = _listing(request, "datacenters", items, catalog.datacenter_json, sorts)
        answer["recommendation"] = catalog.DATACENTERS[0].id
        return answer

    @app.get("/v1/datacenters/{datacenter_id}")
    async def get_datacenter(datacenter_id: int) -> dict[str, Any]:
        dc = next((x for x in catalog.DATACENTERS if x.id == datacenter_id), None)
        if dc is None:
            raise NotFound(f"datacenter {datacenter_id} not found")
        return {"datacenter": catalog.datacenter_json(dc)}

    @app.get("/v1/server_types")
    async def list_server_types(request: Request) -> dict[str, Any]:
        items = [st for st in catalog.SERVER_TYPES if request.query_params.get("name") in (None, st.name)]
        sorts: dict[str, Callable[[Any], Any]] = {"id": lambda x: x.id, "name": lambda x: x.name}
        return _listing(request, "server_types", items, catalog.server_type_json, sorts)

    @app.get("/v1/server_types/{type_id}")
    async def get_server_type(type_id: int) -> dict[str, Any]:
        st = next((x for x in catalog.SERVER_TYPES if x.id == type_id), None)
        if st is None:
            raise NotFound(f"server type {type_id} not found")
        return {"server_type": catalog.server_type_json(st)}

    @app.get("/v1/pricing")
    async def get_pricing() -> dict[str, Any]:
        return catalog.pricing_json()

    @app.get("/v1/isos")
    async def list_isos(request: Request) -> dict[str, Any]:
        query = request.query_params
        architectures = set(_multi(request, "architecture"))
        wildcard = query.get("include_architecture_wildcard", "false").lower() == "true"
        items = [
            i
            for i in catalog.ISOS
            if query.get("name") in (None, i.name)
            and (not architectures or i.architecture in architectures or (wildcard and i.architecture is None))
        ]
        sorts: dict[str, Callable[[Any], Any]] = {"id": lambda x: x.id, "name": lambda x: x.name}
        return _listing(request, "isos", items, catalog.iso_json, sorts)

    @app.get("/v1/isos/{iso_id}")
    async def get_iso(iso_id: int) -> dict[str, Any]:
        found = next((i for i in catalog.ISOS if i.id == iso_id), None)
        if found is None:
            raise NotFound(f"ISO {iso_id} not found")
        return {"iso": catalog.iso_json(found)}

    @app.get("/v1/images")
    async def list_images(request: Request) -> dict[str, Any]:
        sim, project = _sim(request), _project(request)
        every: list[catalog.Image | SnapshotImage] = [*catalog.SYSTEM_IMAGES, *project.images.values()]
        rendered = [sim.image_json(i) for i in every]
        query = request.query_params
        types, statuses = set(_multi(request, "type")), set(_multi(request, "status"))
        architectures = set(_multi(request, "architecture"))
        rendered = [
            i
            for i in rendered
            if (not types or i["type"] in types)
            and (not statuses or i["status"] in statuses)
            and (not architectures or i["architecture"] in architectures)
            and query.get("name") in (None, i["name"])
            and query.get("bound_to") in (None, str(i["bound_to"]))
        ]
        sorts: dict[str, Callable[[Any], Any]] = {
            "id": lambda x: x["id"],
            "name": lambda x: x["name"] or "",
            "created": lambda x: x["created"],
        }
        return _listing(request, "images", rendered, lambda i: i, sorts)

    @app.get("/v1/images/{image_id}")
    async def get_image(request: Request, image_id: int) -> dict[str, Any]:
        sim = _sim(request)
        return {"image": sim.image_json(sim.image(_project(request), image_id))}

    @app.delete("/v1/images/{image_id}", status_code=204)
    async def delete_image(request: Request, image_id: int) -> None:
        _sim(request).delete_image(_project(request), image_id)

    # -- SSH keys -------------------------------------------------------------------------
    ssh_sorts: dict[str, Callable[[Any], Any]] = {"id": lambda k: k.id, "name": lambda k: k.name}

    @app.get("/v1/ssh_keys")
    async def list_ssh_keys(request: Request) -> dict[str, Any]:
        query = request.query_params
        keys = [
            k
            for k in _project(request).ssh_keys.values()
            if query.get("name") in (None, k.name) and query.get("fingerprint") in (None, k.fingerprint)
        ]
        return _listing(request, "ssh_keys", keys, lambda k: k.as_json(), ssh_sorts)

    @app.post("/v1/ssh_keys", status_code=201)
    async def create_ssh_key(request: Request, body: SshKeyCreate) -> dict[str, Any]:
        key = _sim(request).create_ssh_key(_project(request), body.name, body.public_key, body.labels)
        return {"ssh_key": key.as_json()}

    @app.get("/v1/ssh_keys/{key_id}")
    async def get_ssh_key(request: Request, key_id: int) -> dict[str, Any]:
        return {"ssh_key": _sim(request).ssh_key(_project(request), key_id).as_json()}

    @app.put("/v1/ssh_keys/{key_id}")
    async def update_ssh_key(request: Request, key_id: int, body: NameLabels) -> dict[str, Any]:
        key = _sim(request).update_ssh_key(_project(request), key_id, body.name, body.labels)
        return {"ssh_key": key.as_json()}

    @app.delete("/v1/ssh_keys/{key_id}", status_code=204)
    async def delete_ssh_key(request: Request, key_id: int) -> None:
        _sim(request).delete_ssh_key(_project(request), key_id)

    # -- servers --------------------------------------------------------------------------
    server_sorts: dict[str, Callable[[Any], Any]] = {
        "id": lambda s: s.id,
        "name": lambda s: s.name,
        "created": lambda s: s.created,
    }

    @app.get("/v1/servers")
    async def list_servers(request: Request) -> dict[str, Any]:
        sim, project = _sim(request), _project(request)
        statuses = set(_multi(request, "status"))
        name = request.query_params.get("name")
        servers = [
            s for s in project.servers.values() if name in (None, s.name) and (not statuses or s.status in statuses)
        ]
        return _listing(request, "servers", servers, sim.server_json, server_sorts)

    @app.post("/v1/servers", status_code=201)
    async def create_server(request: Request, body: CreateServer) -> dict[str, Any]:
        sim = _sim(request)
        server, action, next_actions, password = sim.create_server(_project(request), body)
        now = sim.now()
        return {
            "server": sim.server_json(server),
            "action": action.as_json(now),
            "next_actions": [a.as_json(now) for a in next_actions],
            "root_password": password,
        }

    @app.get("/v1/servers/{server_id:int}")
    async def get_server(request: Request, server_id: int) -> dict[str, Any]:
        sim = _sim(request)
        return {"server": sim.server_json(sim.server(_project(request), server_id))}

    @app.put("/v1/servers/{server_id:int}")
    async def update_server(request: Request, server_id: int, body: NameLabels) -> dict[str, Any]:
        sim = _sim(request)
        return {"server": sim.server_json(sim.update_server(_project(request), server_id, body.name, body.labels))}

    @app.delete("/v1/servers/{server_id:int}")
    async def delete_server(request: Request, server_id: int) -> dict[str, Any]:
        sim = _sim(request)
        return ActionAnswer.of(sim, sim.delete_server(_project(request), server_id))

    @app.get("/v1/servers/{server_id:int}/metrics")
    async def server_metrics(request: Request, server_id: int) -> dict[str, Any]:
        sim = _sim(request)
        server = sim.server(_project(request), server_id)
        kinds = _multi(request, "type")
        if not kinds or any(k not in ("cpu", "disk", "network") for k in kinds):
            raise invalid_field("type", "type must be one or more of cpu, disk, network")
        start = _parse_time("start", request.query_params.get("start"))
        end = _parse_time("end", request.query_params.get("end"))
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
        sim, project = _sim(request), _project(request)
        sim.server(project, server_id)
        actions = [a for a in sim.project_actions(project) if (server_id, "server") in a.resources]
        return _action_list(request, actions)

    @app.get("/v1/servers/actions")
    async def list_all_server_actions(request: Request) -> dict[str, Any]:
        sim, project = _sim(request), _project(request)
        actions = [a for a in sim.project_actions(project) if any(t == "server" for _, t in a.resources)]
        return _action_list(request, actions)

    @app.get("/v1/servers/actions/{action_id}")
    async def get_any_server_action(request: Request, action_id: int) -> dict[str, Any]:
        sim = _sim(request)
        return ActionAnswer.of(sim, sim.action(_project(request), action_id))

    @app.get("/v1/servers/{server_id:int}/actions/{action_id}")
    async def get_server_action(request: Request, server_id: int, action_id: int) -> dict[str, Any]:
        sim = _sim(request)
        action = sim.action(_project(request), action_id)
        if (server_id, "server") not in action.resources:
            raise NotFound(f"action {action_id} not found")
        return ActionAnswer.of(sim, action)

    @app.get("/v1/actions")
    async def list_actions(request: Request) -> dict[str, Any]:
        sim = _sim(request)
        return _action_list(request, sim.project_actions(_project(request)))

    @app.get("/v1/actions/{action_id}")
    async def get_action(request: Request, action_id: int) -> dict[str, Any]:
        sim = _sim(request)
        return ActionAnswer.of(sim, sim.action(_project(request), action_id))

    register_server_actions(app)
    register_families(app)


def register_families(app: FastAPI) -> None:
    """The network and storage resources, one module each (they import this one's helpers)."""
    from hetzner_sim import firewalls, floating_ips, load_balancers, networks, placement_groups, primary_ips, volumes

    firewalls.register(app)
    floating_ips.register(app)
    load_balancers.register(app)
    networks.register(app)
    placement_groups.register(app)
    primary_ips.register(app)
    volumes.register(app)


def register_server_actions(app: FastAPI) -> None:
    prefix = "/v1/servers/{server_id:int}/actions"

    def simple(command: str, name: str, during: str | None, final: str | None) -> None:
        def effect(server: Server) -> None:
            if final is not None:
                server.status = final

        async def handler(request: Request, server_id: int) -> dict[str, Any]:
            sim = _sim(request)
            return ActionAnswer.of(sim, sim.server_action(_project(request), server_id, command, effect, during))

        app.post(f"{prefix}/{name}", status_code=201, name=name)(handler)

    simple("start_server", "poweron", "starting", "running")
    simple("stop_server", "poweroff", "stopping", "off")
    simple("shutdown_server", "shutdown", "stopping", "off")
    simple("reboot_server", "reboot", None, "running")
    simple("reset_server", "reset", None, "running")

    @app.post(f"{prefix}/rebuild", status_code=201)
    async def rebuild(request: Request, server_id: int, body: Rebuild) -> dict[str, Any]:
        sim, project = _sim(request), _project(request)
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
        sim = _sim(request)
        return ActionAnswer.of(sim, sim.change_type(_project(request), server_id, body.server_type, body.upgrade_disk))

    @app.post(f"{prefix}/enable_rescue", status_code=201)
    async def enable_rescue(request: Request, server_id: int, body: EnableRescue | None = None) -> dict[str, Any]:
        sim, project = _sim(request), _project(request)
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
            sim = _sim(request)
            return ActionAnswer.of(sim, sim.server_action(_project(request), server_id, command, apply))

        app.post(f"{prefix}/{name}", status_code=201, name=name)(handler)

    def rescue_off(s: Server) -> None:
        s.rescue_enabled = False

    def iso_off(s: Server) -> None:
        s.iso = None

    def backup_on(s: Server) -> None:
        s.backup_window = "22-02"

    def backup_off(s: Server) -> None:
        s.backup_window = None

    flag("disable_rescue", "disable_rescue", rescue_off)
    flag("detach_iso", "detach_iso", iso_off)
    flag("enable_backup", "enable_backup", backup_on)
    flag("disable_backup", "disable_backup", backup_off)

    @app.post(f"{prefix}/attach_iso", status_code=201)
    async def attach_iso(request: Request, server_id: int, body: AttachIso) -> dict[str, Any]:
        sim, project = _sim(request), _project(request)
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
        sim = _sim(request)

        def changed(s: Server) -> None:
            if body.delete is not None:
                s.protection_delete = body.delete
            if body.rebuild is not None:
                s.protection_rebuild = body.rebuild

        return ActionAnswer.of(sim, sim.server_action(_project(request), server_id, "change_protection", changed))

    @app.post(f"{prefix}/change_dns_ptr", status_code=201)
    async def change_dns_ptr(request: Request, server_id: int, body: ChangeDnsPtr) -> dict[str, Any]:
        import ipaddress

        sim, project = _sim(request), _project(request)
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
        sim = _sim(request)
        body = body or CreateImage()
        kind = body.type or "snapshot"
        if kind not in ("snapshot", "backup"):
            raise invalid_field("type", "type must be snapshot or backup")
        image, action = sim.create_image(_project(request), server_id, kind, body.description, body.labels)
        return {"image": sim.image_json(image), "action": action.as_json(sim.now())}

    @app.post(f"{prefix}/request_console", status_code=201)
    async def request_console(request: Request, server_id: int) -> dict[str, Any]:
        sim = _sim(request)
        project = _project(request)
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
        sim = _sim(request)
        action = sim.server_action(_project(request), server_id, "reset_password")
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


def register_control(app: FastAPI) -> None:
    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/_sim/faults")
    async def list_faults(request: Request) -> dict[str, Any]:
        ctx: Ctx = request.app.state.ctx
        return {"faults": [rule.model_dump() for rule in ctx.faults.rules]}

    @app.post("/_sim/faults", status_code=201)
    async def add_fault(request: Request, rule: FaultRule) -> dict[str, Any]:
        ctx: Ctx = request.app.state.ctx
        return {"fault": ctx.faults.add(rule).model_dump()}

    @app.delete("/_sim/faults", status_code=204)
    async def clear_faults(request: Request) -> None:
        ctx: Ctx = request.app.state.ctx
        ctx.faults.clear()

    @app.delete("/_sim/faults/{rule_id}", status_code=204)
    async def delete_fault(request: Request, rule_id: int) -> None:
        ctx: Ctx = request.app.state.ctx
        if not ctx.faults.remove(rule_id):
            raise NotFound(f"fault {rule_id} not found")

    @app.get("/_sim/config")
    async def get_config(request: Request) -> dict[str, Any]:
        return _sim(request).config.model_dump()

    @app.patch("/_sim/config")
    async def change_config(request: Request, changes: dict[str, Any] = Body(...)) -> dict[str, Any]:  # noqa: B008
        sim = _sim(request)
        unknown = set(changes) - set(SimConfig.model_fields)
        if unknown:
            raise InvalidInput(f"unknown settings: {', '.join(sorted(unknown))}")
        sim.config = SimConfig.model_validate(sim.config.model_dump() | changes)
        return sim.config.model_dump()

    @app.post("/_sim/reset", status_code=204)
    async def reset(request: Request) -> None:
        ctx: Ctx = request.app.state.ctx
        ctx.sim.reset()
        ctx.sim.config = SimConfig()
        ctx.faults.clear()
        ctx.limiter.clear()

    @app.get("/_sim/state")
    async def state(request: Request) -> dict[str, Any]:
        ctx: Ctx = request.app.state.ctx
        sim = ctx.sim
        sim.tick()
        now = sim.now()
        return {
            "projects": {
                name: {
                    "servers": {str(s.id): {"name": s.name, "status": s.status} for s in p.servers.values()},
                    "ssh_keys": len(p.ssh_keys),
                    "images": len(p.images),
                    "floating_ips": len(p.floating_ips),
                    "primary_ips": len(p.primary_ips),
                    "networks": len(p.networks),
                    "firewalls": len(p.firewalls),
                    "load_balancers": len(p.load_balancers),
                    "volumes": len(p.volumes),
                    "actions_running": sum(1 for a in sim.project_actions(p) if a.status(now) == "running"),
                }
                for name, p in sim.projects.items()
            },
            "actions": len(sim.actions),
            "ipv4_in_use": sim.pool.used_v4,
            "faults": len(ctx.faults.rules),
        }


class SimMiddleware:
    """Auth, the rate limit with its headers, and the fault injector, for every /v1 request."""

    def __init__(self, app: ASGIApp, ctx: Ctx) -> None:
        self.app, self.ctx = app, ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1"):
            await self.app(scope, receive, send)
            return
        auth = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
        token = auth[7:] if auth.startswith("Bearer ") else None
        if token is None or token not in self.ctx.projects:
            await error_response("unauthorized", "unable to authenticate")(scope, receive, send)
            return
        project = self.ctx.projects[token]
        scope.setdefault("state", {})["project"] = project
        sim = self.ctx.sim
        allowed, rate_headers = self.ctx.limiter.take(
            project, sim.now(), sim.config.rate_limit, sim.config.rate_refill_per_second
        )
        if not allowed:
            await self._error("rate_limit_exceeded", "limit of requests per hour reached", rate_headers, scope, send)
            return
        drop: str | None = None
        planned: dict[str, str] | None = None
        for rule in self.ctx.faults.pick(scope["method"], scope["path"]):
            if rule.kind == "latency":
                await asyncio.sleep(rule.seconds)
            elif rule.kind == "timeout":
                await asyncio.sleep(rule.seconds)
                await self._error("timeout", "the request timed out", rate_headers, scope, send)
                return
            elif rule.kind == "error":
                status = rule.status or status_for(rule.code)
                await self._error(rule.code, rule.message, rate_headers, scope, send, status)
                return
            elif rule.kind == "rate_limit":
                limit = sim.config.rate_limit
                exhausted = headers(limit, 0, sim.now() + limit / sim.config.rate_refill_per_second)
                await self._error("rate_limit_exceeded", rule.message, exhausted, scope, send)
                return
            elif rule.kind == "action_error":
                planned = {"code": rule.code, "message": rule.message}
            elif rule.kind == "drop":
                drop = rule.mode
        token_var = PLANNED_ACTION_ERROR.set(planned)
        try:
            if drop is None:
                await self.app(scope, receive, self._with_headers(send, rate_headers))
            else:
                await self._serve_then_drop(drop, scope, receive, send)
        finally:
            PLANNED_ACTION_ERROR.reset(token_var)

    @staticmethod
    def _with_headers(send: Send, extra: dict[str, str]) -> Send:
        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    *((k.lower().encode(), v.encode()) for k, v in extra.items()),
                ]
            await send(message)

        return wrapped

    async def _error(
        self,
        code: str,
        message: str,
        extra: dict[str, str],
        scope: Scope,
        send: Send,
        status: int | None = None,
    ) -> None:
        response = JSONResponse(error_body(code, message), status_code=status or status_for(code), headers=extra)

        async def nothing() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        await response(scope, nothing, send)

    async def _serve_then_drop(self, mode: str, scope: Scope, receive: Receive, send: Send) -> None:
        async def swallow(message: Message) -> None:
            return None

        await self.app(scope, receive, swallow)  # the state changes; the answer goes nowhere
        if mode == "502":
            await send({"type": "http.response.start", "status": 502, "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"Bad Gateway"})
            return
        # Promise a body, send part of it, then fail: the server closes the connection mid-answer.
        body = json.dumps({"dropped": True}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body) * 4).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body, "more_body": True})
        raise ConnectionAbortedError("hetzner-sim: fault injection dropped the connection")


def create_app(
    config: SimConfig | None = None,
    clock: Clock | None = None,
    tokens: Sequence[str] | None = None,
    seed: int = 0,
) -> FastAPI:
    app = FastAPI(title="Hetzner Cloud simulator", docs_url=None, redoc_url=None)
    ctx = Ctx(Simulator(config, clock), Faults(seed), RateLimiter(), tokens or tokens_from_env())
    app.state.ctx = ctx
    install_error_handlers(app)
    register_v1(app)
    register_control(app)
    register_console(app)
    app.add_middleware(SimMiddleware, ctx=ctx)
    return app
