"""``/v1/servers``: servers, wire-compatible with Hetzner Cloud's, kept by the compute service.

- ``GET /v1/servers``: the caller's servers (with a key bound to an organization, that
  organization's too), filtered by ``name``, ``status`` (Hetzner's names) and
  ``label_selector``, sorted by ``id``, ``name`` or ``created``, paged with ``meta`` and ``Link``.
- ``GET /v1/servers/{id}``; ``POST /v1/servers`` (``image``: a system image's name or id, or the
  id of one of the tenant's snapshots or backups; answers ``server``, the running
  ``create_server`` ``action``, ``next_actions`` ``[]`` and ``root_password``: without SSH keys
  the one upstream made, shown this once (only an argon2id hash is kept), ``null`` with SSH
  keys; ``start_after_create: false`` leaves it ``off``); ``DELETE
  /v1/servers/{id}`` (answers the ``delete_server`` action).
- ``POST /v1/servers/{id}/actions/shutdown|reset|attach_iso|detach_iso|change_protection|
  change_dns_ptr|enable_backup|disable_backup`` (Hetzner's bodies; ``change_protection`` is
  answered finished), ``request_console`` (``wss_url``, ``password``) and ``reset_password``
  (``root_password``): those secrets are in that answer only.
- ``POST /v1/servers/{id}/actions/poweron|poweroff|reboot`` and ``GET /v1/servers/{id}/actions``.
- ``PUT /v1/servers/{id}`` (``name``, ``labels``; a name the tenant has is ``409
  uniqueness_error``), ``GET /v1/servers/actions`` (the tenant's server actions: ``id``,
  ``status``, ``sort``, paging) and ``/actions/{action_id}``, ``GET /v1/servers/{id}/actions/{action_id}`` and
  ``GET /v1/servers/{id}/metrics`` (``type`` cpu|disk|network, ``start``, ``end``, ``step``:
  asked of upstream at once).
- ``POST /v1/servers/{id}/actions/rebuild`` (``image``: a system image's name or id, or one
  of the tenant's snapshots; ``423 protected`` when protected against rebuilding;
  ``root_password``: upstream's new one for a server without SSH keys, shown this once, else
  null), ``change_type`` (``server_type``,
  ``upgrade_disk``; the server must be off, ``422 server_not_stopped``; a type with a
  smaller disk than the server's is ``400 invalid_input``), ``enable_rescue`` (``type``,
  ``ssh_keys``; answers the rescue system's ``root_password`` this once: it is stored
  nowhere), ``disable_rescue`` and ``create_image`` (``type``, ``description``, ``labels``:
  answers the tenant's new snapshot ``image``, status ``creating`` until the action ends).
- ``placement_group`` (an id) in ``POST /v1/servers`` and ``POST
  /v1/servers/{id}/actions/add_to_placement_group|remove_from_placement_group``: the tenant's
  placement groups (api/placement_groups.py); a server shows its group as ``placement_group``.

The compute worker carries actions out upstream; a client follows them at ``/v1/actions/{id}``.
Statuses are mapped by gateway_service.server_status (the one place). The server type, datacenter,
location and image objects are the catalog's (api/catalog.py). Quota used up is ``403
resource_limit_exceeded``; an action already running ``423 locked``; a protected server ``423
protected``; another tenant's server ``404 not_found``. Scopes ``servers:read`` and ``servers:write``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from cloudplatform.compute.v1 import compute_service_pb2 as cpb
from cloudplatform.compute.v1 import server_service_pb2 as pb
from cpshared.errors import InvalidInput, NotFound
from gateway_service.api.admin import Meta
from gateway_service.api.catalog import (
    DatacenterOut,
    ImageOut,
    LocationOut,
    ServerTypeOut,
    compute_client,
    datacenter_name,
    datacenter_out,
    image_out,
    location_out,
    offered_in,
    server_type_out,
)
from gateway_service.api.placement_groups import PlacementGroupOut, placement_group_out
from gateway_service.api.ssh_keys import Labels
from gateway_service.auth import policy
from gateway_service.auth.gate import Authenticated
from gateway_service.auth.policy import Access, Family
from gateway_service.auth.principal import Principal
from gateway_service.clients.servers import ServerClient
from gateway_service.console.relay import console_url
from gateway_service.console.tickets import ConsoleTickets
from gateway_service.idempotency.middleware import REDACT_HEADER
from gateway_service.server_status import hetzner_status, platform_statuses
from hetzner_conventions.label_selector import parse_label_selector
from hetzner_conventions.pagination import link_header, paginate, parse_page_request
from hetzner_conventions.sorting import parse_sort

# Root passwords are in their answer only: an Idempotency-Key replay answers them as null, so
# the stored answer holds none.
SECRET_ANSWER_FIELDS = "root_password"  # noqa: S105 - the name of the field, not a password

router = APIRouter(prefix="/v1/servers", tags=["servers"])

MAX_ID = 2**63 - 1
SORTABLE = ("id", "name", "created")
HetznerStatus = Literal[
    "deleting", "initializing", "migrating", "off", "rebuilding", "running", "starting", "stopping", "unknown"
]
ServerId = Annotated[int, Path(ge=1, le=MAX_ID, description="ID of the server.")]


# -- answers ----------------------------------------------------------------------------------


class ActionError(BaseModel):
    code: str
    message: str


class ActionResourceOut(BaseModel):
    id: int
    type: str


class ActionOut(BaseModel):
    id: int
    command: str
    status: Literal["running", "success", "error"]
    progress: int
    started: datetime
    finished: datetime | None
    resources: list[ActionResourceOut]
    error: ActionError | None


class Ipv4Out(BaseModel):
    id: int
    ip: str
    blocked: bool
    dns_ptr: str


class Ipv6Out(BaseModel):
    id: int
    ip: str
    blocked: bool
    dns_ptr: list[dict[str, str]]


class PublicNetOut(BaseModel):
    ipv4: Ipv4Out | None
    ipv6: Ipv6Out | None
    floating_ips: list[int]
    firewalls: list[dict[str, Any]]


class IsoOut(BaseModel):
    id: int
    name: str | None
    description: str
    type: Literal["public", "private"] | None
    architecture: Literal["x86", "arm"] | None
    deprecation: None = None


class ProtectionOut(BaseModel):
    delete: bool
    rebuild: bool


class ServerOut(BaseModel):
    id: int
    name: str
    status: HetznerStatus
    created: datetime
    public_net: PublicNetOut
    private_net: list[dict[str, Any]]
    server_type: ServerTypeOut
    datacenter: DatacenterOut
    location: LocationOut
    image: ImageOut | None
    iso: IsoOut | None
    rescue_enabled: bool
    locked: bool
    backup_window: str | None
    outgoing_traffic: int | None
    ingoing_traffic: int | None
    included_traffic: int
    protection: ProtectionOut
    labels: dict[str, str]
    volumes: list[int]
    load_balancers: list[int]
    primary_disk_size: int
    placement_group: PlacementGroupOut | None = Field(default=None, description="The placement group it is in.")


class ServerAnswer(BaseModel):
    server: ServerOut


class ServersAnswer(BaseModel):
    servers: list[ServerOut]
    meta: Meta


class CreatedServerAnswer(BaseModel):
    server: ServerOut
    action: ActionOut
    next_actions: list[ActionOut]
    root_password: str | None = Field(
        description="Root password of a server created without SSH keys, shown this once (only a hash is kept); "
        "null with SSH keys."
    )


class ActionAnswer(BaseModel):
    action: ActionOut


class ActionsAnswer(BaseModel):
    actions: list[ActionOut]
    meta: Meta


class RebuildAnswer(BaseModel):
    action: ActionOut
    root_password: str | None = Field(
        description="New root password when the server has no SSH keys, shown this once (only a hash is kept)."
    )


class RescueAnswer(BaseModel):
    action: ActionOut
    root_password: str = Field(description="The rescue system's root password, shown this once; stored nowhere.")


class CreatedImageAnswer(BaseModel):
    image: ImageOut
    action: ActionOut


class RebuildBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    image: str | int = Field(description="ID or name of the image to rebuild from.")


class ChangeTypeBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    server_type: str | int = Field(description="ID or name of the server type to change to.")
    upgrade_disk: bool = Field(description="If false, the disk keeps its size (a later downgrade stays possible).")


class EnableRescueBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: Literal["linux64"] | None = Field(default="linux64", description="linux64 (the default when null).")
    ssh_keys: list[int] | None = Field(default=None, description="IDs of SSH keys to inject.")


class CreateImageBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: Literal["snapshot", "backup"] | None = Field(default="snapshot", description="snapshot when null.")
    description: str | None = Field(default=None, max_length=1000)
    labels: Labels | None = None


class NewServer(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1, max_length=255)
    server_type: str | int = Field(description="Name or ID of the server type.")
    image: str | int = Field(description="Name or ID of the image.")
    location: str | int | None = Field(default=None, description="Name or ID of the location.")
    datacenter: str | int | None = Field(default=None, description="Name or ID of the datacenter.")
    ssh_keys: list[str | int] = Field(default_factory=list, description="Names or IDs of SSH keys.")
    user_data: str = Field(default="", max_length=32_768)
    labels: Labels = Field(default_factory=dict)
    start_after_create: bool = Field(default=True, description="Start the server once created (false: it stays off).")
    placement_group: int | None = Field(
        default=None, ge=1, le=MAX_ID, description="ID of the tenant's placement group to create it in."
    )


# -- mapping ----------------------------------------------------------------------------------


def _time(stamp: Any) -> datetime:
    result: datetime = stamp.ToDatetime(tzinfo=UTC)
    return result


def action_out(action: pb.Action) -> ActionOut:
    status: Literal["running", "success", "error"] = (
        action.status if action.status in ("running", "success", "error") else "running"  # type: ignore[assignment]
    )
    return ActionOut(
        id=action.id,
        command=action.command,
        status=status,
        progress=action.progress,
        started=_time(action.started),
        finished=_time(action.finished) if action.HasField("finished") else None,
        resources=[ActionResourceOut(id=r.id, type=r.type) for r in action.resources],
        error=ActionError(code=action.error_code, message=action.error_message) if action.status == "error" else None,
    )


class Catalog:
    """The catalog a server's answer embeds, read once per request."""

    def __init__(self, datacenters: list[cpb.Datacenter], server_types: list[cpb.ServerType], images: list[cpb.Image]):
        self.datacenters = datacenters
        self.server_types = server_types
        self.images = images

    @classmethod
    async def read(cls, request: Request, principal: Principal) -> Catalog:
        """The catalog and the caller's tenant's own images (a server made from a snapshot shows it)."""
        client = compute_client(request)
        own = await server_client(request).own_images(principal.user_id, principal.organization_id or 0)
        return cls(await client.datacenters(), await client.server_types(), [*await client.images(), *own])

    def datacenter(self, code: str) -> cpb.Datacenter:
        for dc in self.datacenters:
            if dc.code == code:
                return dc
        return cpb.Datacenter(code=code, name=code)

    def server_out(self, server: pb.Server) -> ServerOut:
        dc = self.datacenter(server.datacenter)
        st = next(
            (s for s in self.server_types if s.id == server.server_type_id),
            cpb.ServerType(id=server.server_type_id, code=server.server_type),
        )
        image = next((i for i in self.images if i.id == server.image_id), None)
        ptrs = {p.ip: p.dns_ptr for p in server.dns_ptrs}
        ipv4 = (
            Ipv4Out(id=server.id, ip=server.ipv4_address, blocked=False, dns_ptr=ptrs.pop(server.ipv4_address, ""))
            if server.ipv4_address
            else None
        )
        ipv6 = (
            Ipv6Out(
                id=server.id,
                ip=server.ipv6_network,
                blocked=False,
                dns_ptr=[{"ip": ip, "dns_ptr": name} for ip, name in sorted(ptrs.items()) if ":" in ip],
            )
            if server.ipv6_network
            else None
        )
        return ServerOut(
            id=server.id,
            name=server.name,
            status=hetzner_status(server.status),  # type: ignore[arg-type]  # one of HetznerStatus
            created=_time(server.created_at),
            public_net=PublicNetOut(ipv4=ipv4, ipv6=ipv6, floating_ips=[], firewalls=[]),
            private_net=[],
            server_type=server_type_out(st, self.datacenters),
            datacenter=datacenter_out(dc, self.server_types),
            location=location_out(dc),
            image=image_out(image) if image is not None else None,
            iso=_iso_out(server.iso) if server.HasField("iso") else None,
            rescue_enabled=server.rescue_enabled,
            locked=server.locked,
            backup_window=server.backup_window or None,
            outgoing_traffic=None,
            ingoing_traffic=None,
            included_traffic=0,
            protection=ProtectionOut(delete=server.protection_delete, rebuild=server.protection_rebuild),
            labels=dict(server.labels),
            volumes=[],
            load_balancers=[],
            primary_disk_size=server.disk_gb or st.disk_gb,
            placement_group=placement_group_out(server.placement_group) if server.HasField("placement_group") else None,
        )

    def datacenter_code(self, location: str | int | None, datacenter: str | int | None, server_type: str) -> str:
        """The platform datacenter a ``location`` or ``datacenter`` (name or ID) names; with
        neither, the first active one offering ``server_type`` (as the datacenters' recommendation)."""
        for value, field in ((datacenter, "datacenter"), (location, "location")):
            if value is None:
                continue
            for dc in self.datacenters:
                if value in (dc.id, str(dc.id), dc.code, datacenter_name(dc)):
                    return dc.code
            raise InvalidInput(f"{field} {value!r} does not exist", details={"fields": [{"name": field}]})
        st = next((s for s in self.server_types if s.code == server_type), None)
        offering = [dc for dc in self.datacenters if dc.status == "active" and st is not None and offered_in(st, dc)]
        return offering[0].code if offering else ""

    def server_type_code(self, value: str | int) -> str:
        for st in self.server_types:
            if value in (st.id, str(st.id)):
                return st.code
        return str(value)

    def image_name(self, value: str | int) -> str:
        """The name of the system image with the ID ``value``; else ``value`` as given: a name, or
        the ID of one of the tenant's snapshots (which have no name), which compute looks up."""
        for image in self.images:
            if image.name and value in (image.id, str(image.id)):
                return image.name
        return str(value)


def _iso_out(iso: pb.ServerIso) -> IsoOut:
    kind = iso.type if iso.type in ("public", "private") else None
    architecture = iso.architecture if iso.architecture in ("x86", "arm") else None
    return IsoOut(
        id=iso.id,
        name=iso.name or None,
        description=iso.description,
        type=kind,  # type: ignore[arg-type]  # checked above
        architecture=architecture,  # type: ignore[arg-type]  # checked above
    )


def server_client(request: Request) -> ServerClient:
    client: ServerClient = request.app.state.servers
    return client


def tenant(principal: Principal) -> tuple[int, int]:
    """(user, organization or 0): whose servers the request works with."""
    return principal.user_id, principal.organization_id or 0


async def _ssh_key_ids(request: Request, principal: Principal, keys: list[str | int]) -> list[int]:
    ids = []
    for key in keys:
        if isinstance(key, int) or key.isdigit():
            ids.append(int(key))
            continue
        found = await compute_client(request).list_ssh_keys(
            *tenant(principal), name=key, fingerprint="", label_selector=[], sort=[], page=1, per_page=1
        )
        if not found.ssh_keys:
            raise InvalidInput(f"SSH key {key!r} does not exist", details={"fields": [{"name": "ssh_keys"}]})
        ids.append(found.ssh_keys[0].id)
    return ids


# -- routes -----------------------------------------------------------------------------------


@router.get("")
async def list_servers(
    request: Request,
    response: Response,
    principal: Authenticated,
    name: Annotated[str | None, Query(max_length=255, description="Only the server with this name.")] = None,
    label_selector: Annotated[str | None, Query(max_length=1000)] = None,
    status: Annotated[list[HetznerStatus] | None, Query(description="Only servers with these statuses.")] = None,
    sort: Annotated[list[str] | None, Query(description="id, name or created, optionally :asc or :desc.")] = None,
    page: str | None = None,
    per_page: str | None = None,
) -> ServersAnswer:
    """The caller's servers matching every filter given, one page of them."""
    policy.require_scope(principal, Family.SERVERS, Access.READ)
    page_request = parse_page_request(page, per_page)
    sort_keys = parse_sort(sort or [], SORTABLE)
    selector = parse_label_selector(label_selector)
    statuses = sorted({s for wanted in status or [] for s in platform_statuses(wanted)})
    if status and not statuses:  # only Hetzner statuses the platform never shows (starting, stopping)
        pagination = paginate(page_request, 0)
        return ServersAnswer(servers=[], meta=Meta.of(pagination))
    answer = await server_client(request).list_servers(
        *tenant(principal),
        name=name or "",
        status=statuses,
        label_selector=[
            cpb.LabelRequirement(key=r.key, operator=r.operator, values=r.values) for r in selector.requirements
        ],
        sort=[f"{k.field}:{'desc' if k.descending else 'asc'}" for k in sort_keys],
        page=page_request.page,
        per_page=page_request.per_page,
    )
    pagination = paginate(page_request, answer.total_entries)
    link = link_header(request.url, pagination)
    if link:
        response.headers["Link"] = link
    catalog = await Catalog.read(request, principal)
    return ServersAnswer(servers=[catalog.server_out(s) for s in answer.servers], meta=Meta.of(pagination))


@router.post("", status_code=201)
async def create_server(
    request: Request, response: Response, principal: Authenticated, body: NewServer
) -> CreatedServerAnswer:
    """A new server in the caller's tenant; the answer's action follows its creation upstream."""
    policy.require_scope(principal, Family.SERVERS, Access.WRITE)
    response.headers[REDACT_HEADER] = SECRET_ANSWER_FIELDS
    catalog = await Catalog.read(request, principal)
    server_type = catalog.server_type_code(body.server_type)
    created = await server_client(request).create(
        *tenant(principal),
        name=body.name,
        server_type=server_type,
        image=catalog.image_name(body.image),
        datacenter=catalog.datacenter_code(body.location, body.datacenter, server_type),
        ssh_key_ids=await _ssh_key_ids(request, principal, body.ssh_keys),
        user_data=body.user_data,
        labels=body.labels,
        start_after_create=body.start_after_create,
        placement_group_id=body.placement_group or 0,
    )
    return CreatedServerAnswer(
        server=catalog.server_out(created.server),
        action=action_out(created.action),
        next_actions=[],
        root_password=created.root_password or None,
    )


ACTION_SORT = ("id", "command", "status", "started", "finished")


@router.get("/actions")
async def list_tenant_actions(
    request: Request,
    response: Response,
    principal: Authenticated,
    id: Annotated[list[Annotated[int, Query(ge=1, le=MAX_ID)]] | None, Query(max_length=50)] = None,
    status: Annotated[list[Literal["running", "success", "error"]] | None, Query()] = None,
    sort: Annotated[list[str] | None, Query(description="id, command, status, started, finished.")] = None,
    page: str | None = None,
    per_page: str | None = None,
) -> ActionsAnswer:
    """The actions of the caller's tenant's servers."""
    policy.require_scope(principal, Family.SERVERS, Access.READ)
    page_request = parse_page_request(page, per_page)
    keys = parse_sort(sort or [], ACTION_SORT)
    if id:  # a few named actions: read each, then filter, sort and page here
        found: list[ActionOut] = []
        for action_id in sorted(set(id)):
            try:
                action = await server_client(request).action(action_id, tenant(principal)[1])
            except NotFound:
                continue
            if action.server_id:  # an image's change_protection is no server's action
                found.append(action_out(action))
        found = [a for a in found if not status or a.status in status]
        for key in reversed(keys):
            found.sort(key=partial(_sort_value, field=key.field), reverse=key.descending)
        pagination = paginate(page_request, len(found))
        chosen = found[page_request.offset : page_request.offset + page_request.limit]
    else:
        answer = await server_client(request).tenant_actions(
            *tenant(principal),
            status=list(status or []),
            sort=[f"{k.field}:{'desc' if k.descending else 'asc'}" for k in keys],
            page=page_request.page,
            per_page=page_request.per_page,
        )
        pagination = paginate(page_request, answer.total_entries)
        chosen = [action_out(a) for a in answer.actions]
    link = link_header(request.url, pagination)
    if link:
        response.headers["Link"] = link
    return ActionsAnswer(actions=chosen, meta=Meta.of(pagination))


@router.get("/actions/{action_id:int}")
async def get_tenant_action(
    request: Request,
    principal: Authenticated,
    action_id: Annotated[int, Path(ge=1, le=MAX_ID, description="ID of the action.")],
) -> ActionAnswer:
    """One action of the caller's tenant's servers."""
    policy.require_scope(principal, Family.SERVERS, Access.READ)
    action = await server_client(request).action(action_id, tenant(principal)[1])
    if not action.server_id:
        raise NotFound(f"server action {action_id} does not exist")
    return ActionAnswer(action=action_out(action))


@router.get("/{id:int}")
async def get_server(request: Request, principal: Authenticated, id: ServerId) -> ServerAnswer:
    """One server the caller reaches."""
    policy.require_scope(principal, Family.SERVERS, Access.READ)
    server = await server_client(request).get(id, tenant(principal)[1])
    return ServerAnswer(server=(await Catalog.read(request, principal)).server_out(server))


@router.delete("/{id:int}")
async def delete_server(request: Request, principal: Authenticated, id: ServerId) -> ActionAnswer:
    """Delete a server (``423 protected`` while protected against deletion)."""
    policy.require_scope(principal, Family.SERVERS, Access.WRITE)
    return ActionAnswer(action=action_out(await server_client(request).delete(id, tenant(principal)[1])))


@router.post("/{id}/actions/poweron", status_code=201)
async def power_on(request: Request, principal: Authenticated, id: ServerId) -> ActionAnswer:
    """Start a server."""
    policy.require_scope(principal, Family.SERVERS, Access.WRITE)
    return ActionAnswer(action=action_out(await server_client(request).power_on(id, tenant(principal)[1])))


@router.post("/{id}/actions/poweroff", status_code=201)
async def power_off(request: Request, principal: Authenticated, id: ServerId) -> ActionAnswer:
    """Cut a server's power (a hard stop)."""
    policy.require_scope(principal, Family.SERVERS, Access.WRITE)
    return ActionAnswer(action=action_out(await server_client(request).power_off(id, tenant(principal)[1])))


@router.post("/{id}/actions/reboot", status_code=201)
async def reboot(request: Request, principal: Authenticated, id: ServerId) -> ActionAnswer:
    """Reboot a server."""
    policy.require_scope(principal, Family.SERVERS, Access.WRITE)
    return ActionAnswer(action=action_out(await server_client(request).reboot(id, tenant(principal)[1])))


@router.get("/{id}/actions")
async def list_server_actions(
    request: Request,
    response: Response,
    principal: Authenticated,
    id: ServerId,
    status: Annotated[list[Literal["running", "success", "error"]] | None, Query()] = None,
    sort: Annotated[list[str] | None, Query(description="id, command, status, started, finished.")] = None,
    page: str | None = None,
    per_page: str | None = None,
) -> ActionsAnswer:
    """A server's actions, newest first unless sorted otherwise."""
    policy.require_scope(principal, Family.SERVERS, Access.READ)
    page_request = parse_page_request(page, per_page)
    keys = parse_sort(sort or [], ("id", "command", "status", "started", "finished", "progress"))
    actions = [action_out(a) for a in await server_client(request).list_actions(id, tenant(principal)[1])]
    actions = [a for a in actions if not status or a.status in status]
    for key in reversed(keys):
        actions.sort(key=partial(_sort_value, field=key.field), reverse=key.descending)
    pagination = paginate(page_request, len(actions))
    link = link_header(request.url, pagination)
    if link:
        response.headers["Link"] = link
    chosen = actions[page_request.offset : page_request.offset + page_request.limit]
    return ActionsAnswer(actions=chosen, meta=Meta.of(pagination))


def _sort_value(action: ActionOut, field: str) -> Any:
    if field in ("started", "finished"):
        stamp = getattr(action, field)
        return stamp.timestamp() if stamp is not None else float("inf")
    return getattr(action, field)


def _write(principal: Principal) -> int:
    """The organization the caller acts for (0: none), once it may change servers."""
    policy.require_scope(principal, Family.SERVERS, Access.WRITE)
    return tenant(principal)[1]


@router.post("/{id}/actions/rebuild", status_code=201)
async def rebuild(
    request: Request,
    response: Response,
    principal: Authenticated,
    id: ServerId,
    body: Annotated[RebuildBody, Body()],
) -> RebuildAnswer:
    """Overwrite a server's disk with an image (``423 protected`` while protected against rebuilding)."""
    organization_id = _write(principal)
    response.headers[REDACT_HEADER] = SECRET_ANSWER_FIELDS
    answer = await server_client(request).rebuild(id, organization_id, str(body.image))
    return RebuildAnswer(action=action_out(answer.action), root_password=answer.root_password or None)


@router.post("/{id}/actions/change_type", status_code=201)
async def change_type(
    request: Request, principal: Authenticated, id: ServerId, body: Annotated[ChangeTypeBody, Body()]
) -> ActionAnswer:
    """Change a powered-off server's type."""
    organization_id = _write(principal)
    server_type = (await Catalog.read(request, principal)).server_type_code(body.server_type)
    action = await server_client(request).change_type(id, organization_id, server_type, body.upgrade_disk)
    return ActionAnswer(action=action_out(action))


@router.post("/{id}/actions/enable_rescue", status_code=201)
async def enable_rescue(
    request: Request,
    response: Response,
    principal: Authenticated,
    id: ServerId,
    body: Annotated[EnableRescueBody | None, Body()] = None,
) -> RescueAnswer:
    """Boot the rescue system next; its root password is in this answer only."""
    organization_id = _write(principal)
    response.headers[REDACT_HEADER] = SECRET_ANSWER_FIELDS
    wanted = body or EnableRescueBody()
    answer = await server_client(request).enable_rescue(
        id, organization_id, wanted.type or "linux64", wanted.ssh_keys or []
    )
    # Hetzner's answer always carries the rescue password (a string, never null), SSH keys or not.
    return RescueAnswer(action=action_out(answer.action), root_password=answer.root_password)


@router.post("/{id}/actions/disable_rescue", status_code=201)
async def disable_rescue(request: Request, principal: Authenticated, id: ServerId) -> ActionAnswer:
    """Boot from the server's disk again."""
    organization_id = _write(principal)
    return ActionAnswer(action=action_out(await server_client(request).disable_rescue(id, organization_id)))


@router.post("/{id}/actions/create_image", status_code=201)
async def create_image(
    request: Request, principal: Authenticated, id: ServerId, body: Annotated[CreateImageBody | None, Body()] = None
) -> CreatedImageAnswer:
    """Make a snapshot image of the server, owned by its tenant."""
    organization_id = _write(principal)
    wanted = body or CreateImageBody()
    answer = await server_client(request).create_image(
        id,
        organization_id,
        image_type=wanted.type or "snapshot",
        description=wanted.description or "",
        labels=wanted.labels or {},
    )
    return CreatedImageAnswer(image=image_out(answer.image), action=action_out(answer.action))


class ServerUpdate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str | None = Field(default=None, min_length=1, max_length=255)
    labels: Labels | None = None


@router.put("/{id:int}")
async def update_server(request: Request, principal: Authenticated, id: ServerId, body: ServerUpdate) -> ServerAnswer:
    """Rename a server or replace its labels."""
    organization_id = _write(principal)
    server = await server_client(request).update(id, organization_id, name=body.name, labels=body.labels)
    return ServerAnswer(server=(await Catalog.read(request, principal)).server_out(server))


@router.get("/{id}/actions/{action_id:int}")
async def get_server_action(
    request: Request,
    principal: Authenticated,
    id: ServerId,
    action_id: Annotated[int, Path(ge=1, le=MAX_ID, description="ID of the action.")],
) -> ActionAnswer:
    """One action of a server."""
    policy.require_scope(principal, Family.SERVERS, Access.READ)
    action = await server_client(request).action(action_id, tenant(principal)[1])
    if action.server_id != id:
        raise NotFound(f"action {action_id} of server {id} does not exist")
    return ActionAnswer(action=action_out(action))


class MetricsValues(BaseModel):
    values: list[tuple[float, str]]


class MetricsOut(BaseModel):
    start: datetime
    end: datetime
    step: int = Field(description="Seconds between two values.")
    time_series: dict[str, MetricsValues]


class MetricsAnswer(BaseModel):
    metrics: MetricsOut


def _instant(name: str, raw: str) -> datetime:
    try:
        stamp = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"{name} must be an ISO 8601 time", details={"fields": [{"name": name}]}) from None
    return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=UTC)


@router.get("/{id}/metrics")
async def server_metrics(
    request: Request,
    principal: Authenticated,
    id: ServerId,
    type: Annotated[
        list[str], Query(max_length=10, description="Metric types: cpu, disk, network (or comma-separated).")
    ],
    start: Annotated[str, Query(max_length=64, description="Start of the period (ISO 8601).")],
    end: Annotated[str, Query(max_length=64, description="End of the period (ISO 8601).")],
    step: Annotated[str | None, Query(max_length=12, description="Seconds between two values.")] = None,
) -> MetricsAnswer:
    """A server's metrics, read from upstream."""
    policy.require_scope(principal, Family.SERVERS, Access.READ)
    kinds = list(dict.fromkeys(kind for raw in type for kind in raw.split(",")))
    if not kinds or any(kind not in ("cpu", "disk", "network") for kind in kinds):
        raise InvalidInput("type must name cpu, disk or network", details={"fields": [{"name": "type"}]})
    if step is not None and not step.isdigit():
        raise InvalidInput("step must be a whole number of seconds", details={"fields": [{"name": "step"}]})
    answer = await server_client(request).metrics(
        id,
        tenant(principal)[1],
        types=kinds,
        start=_instant("start", start),
        end=_instant("end", end),
        step=int(step) if step else 0,
    )
    return MetricsAnswer(
        metrics=MetricsOut(
            start=_time(answer.start),
            end=_time(answer.end),
            step=answer.step,
            time_series={
                name: MetricsValues(values=[(p.timestamp, p.value) for p in series.values])
                for name, series in answer.time_series.items()
            },
        )
    )


# -- shutdown, reset, ISO, protection, reverse DNS, backups, console, root password -------------


@router.post("/{id}/actions/shutdown", status_code=201)
async def shutdown(request: Request, principal: Authenticated, id: ServerId) -> ActionAnswer:
    """Ask the server's OS to shut down (ACPI); the server is off once the action has finished."""
    organization_id = _write(principal)
    return ActionAnswer(action=action_out(await server_client(request).shutdown(id, organization_id)))


@router.post("/{id}/actions/reset", status_code=201)
async def reset(request: Request, principal: Authenticated, id: ServerId) -> ActionAnswer:
    """Reset a server (a hard reset, like pressing its reset button)."""
    organization_id = _write(principal)
    return ActionAnswer(action=action_out(await server_client(request).reset(id, organization_id)))


class AttachIsoBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    iso: str | int = Field(description="ID or name of the ISO to attach.")


@router.post("/{id}/actions/attach_iso", status_code=201)
async def attach_iso(
    request: Request, principal: Authenticated, id: ServerId, body: Annotated[AttachIsoBody, Body()]
) -> ActionAnswer:
    """Put an ISO in the server's virtual drive (it boots from it next)."""
    organization_id = _write(principal)
    return ActionAnswer(action=action_out(await server_client(request).attach_iso(id, organization_id, str(body.iso))))


@router.post("/{id}/actions/detach_iso", status_code=201)
async def detach_iso(request: Request, principal: Authenticated, id: ServerId) -> ActionAnswer:
    """Take the ISO out of the server's drive."""
    organization_id = _write(principal)
    return ActionAnswer(action=action_out(await server_client(request).detach_iso(id, organization_id)))


class ChangeProtectionBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    delete: bool | None = Field(default=None, description="Protect against deletion (the same value as rebuild).")
    rebuild: bool | None = Field(default=None, description="Protect against rebuilding (the same value as delete).")


@router.post("/{id}/actions/change_protection", status_code=201)
async def change_protection(
    request: Request,
    principal: Authenticated,
    id: ServerId,
    body: Annotated[ChangeProtectionBody | None, Body()] = None,
) -> ActionAnswer:
    """Protect a server against deletion and rebuilding, or lift the protection."""
    organization_id = _write(principal)
    wanted = body or ChangeProtectionBody()
    action = await server_client(request).change_protection(
        id, organization_id, delete=wanted.delete, rebuild=wanted.rebuild
    )
    return ActionAnswer(action=action_out(action))


class ChangeDnsPtrBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    ip: str = Field(max_length=45, description="The server's IPv4 address, or an address in its IPv6 network.")
    dns_ptr: str | None = Field(max_length=255, description="The reverse DNS name; null resets it.")


@router.post("/{id}/actions/change_dns_ptr", status_code=201)
async def change_dns_ptr(
    request: Request, principal: Authenticated, id: ServerId, body: Annotated[ChangeDnsPtrBody, Body()]
) -> ActionAnswer:
    """Set (or with null reset) the reverse DNS name of one of the server's addresses."""
    organization_id = _write(principal)
    action = await server_client(request).change_dns_ptr(id, organization_id, body.ip, body.dns_ptr)
    return ActionAnswer(action=action_out(action))


@router.post("/{id}/actions/enable_backup", status_code=201)
async def enable_backup(request: Request, principal: Authenticated, id: ServerId) -> ActionAnswer:
    """Enable daily backups (billed at 20 % of the server's price while enabled)."""
    organization_id = _write(principal)
    return ActionAnswer(action=action_out(await server_client(request).set_backup(id, organization_id, True)))


@router.post("/{id}/actions/disable_backup", status_code=201)
async def disable_backup(request: Request, principal: Authenticated, id: ServerId) -> ActionAnswer:
    """Disable backups."""
    organization_id = _write(principal)
    return ActionAnswer(action=action_out(await server_client(request).set_backup(id, organization_id, False)))


class ConsoleAnswer(BaseModel):
    action: ActionOut
    wss_url: str = Field(
        description=(
            "Websocket URL of the platform's VNC proxy with a single-use ticket valid one minute, shown this once."
        )
    )
    password: str = Field(description="VNC password for that URL, shown this once; stored nowhere.")


class PasswordAnswer(BaseModel):
    action: ActionOut
    root_password: str = Field(description="The new root password, shown this once; only a hash is kept.")


@router.post("/{id}/actions/request_console", status_code=201)
async def request_console(
    request: Request, response: Response, principal: Authenticated, id: ServerId
) -> ConsoleAnswer:
    """A VNC console of the server: its URL and password are in this answer only.

    The URL is the platform's own websocket (``/v1/console``) with a single-use ticket;
    upstream's URL (its host, its server id, its token) stays in the gateway, which relays
    the websocket to it. An Idempotency-Key replay answers both as ``null``."""
    organization_id = _write(principal)
    answer = await server_client(request).request_console(id, organization_id)
    tickets: ConsoleTickets = request.app.state.console_tickets
    ticket = await run_in_threadpool(tickets.issue, answer.wss_url, id)
    response.headers[REDACT_HEADER] = "wss_url,password"
    return ConsoleAnswer(
        action=action_out(answer.action), wss_url=console_url(request, ticket), password=answer.password
    )


@router.post("/{id}/actions/reset_password", status_code=201)
async def reset_password(
    request: Request, response: Response, principal: Authenticated, id: ServerId
) -> PasswordAnswer:
    """A new root password for the server, shown this once. The server must be running (its OS runs
    qemu-guest-agent): otherwise ``422 server_not_running``."""
    organization_id = _write(principal)
    response.headers[REDACT_HEADER] = SECRET_ANSWER_FIELDS
    answer = await server_client(request).reset_password(id, organization_id)
    return PasswordAnswer(action=action_out(answer.action), root_password=answer.root_password)


# -- placement groups ----------------------------------------------------------------------------


class AddToPlacementGroupBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    placement_group: int = Field(ge=1, le=MAX_ID, description="ID of the placement group to add the server to.")


@router.post("/{id}/actions/add_to_placement_group", status_code=201)
async def add_to_placement_group(
    request: Request, principal: Authenticated, id: ServerId, body: Annotated[AddToPlacementGroupBody, Body()]
) -> ActionAnswer:
    """Add a powered-off server to one of the tenant's placement groups (``422 server_not_stopped``
    otherwise; a spread group holds at most 10 servers)."""
    organization_id = _write(principal)
    action = await server_client(request).add_to_placement_group(id, organization_id, body.placement_group)
    return ActionAnswer(action=action_out(action))


@router.post("/{id}/actions/remove_from_placement_group", status_code=201)
async def remove_from_placement_group(request: Request, principal: Authenticated, id: ServerId) -> ActionAnswer:
    """Take a server out of its placement group."""
    organization_id = _write(principal)
    return ActionAnswer(
        action=action_out(await server_client(request).remove_from_placement_group(id, organization_id))
    )
