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
  answered by the monitoring service from the samples it stored, averaged per step; a period
  over 31 days or an end before the start is ``400 invalid_input``).
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
location and image objects are the catalog's (api/models/catalog.py). Quota used up is ``403
resource_limit_exceeded``; an action already running ``423 locked``; a protected server ``423
protected``; another tenant's server ``404 not_found``. Scopes ``servers:read`` and ``servers:write``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from cloudplatform.compute.v1 import compute_service_pb2 as cpb
from cloudplatform.network.v1 import network_service_pb2 as npb
from cpshared.errors import InvalidInput, LimitExceeded, NotFound
from gateway_service.api.common import MAX_ID, Meta, one_page, page_meta, sort_items, sort_param, tenant
from gateway_service.api.models.catalog import image_out
from gateway_service.api.servers.mapping import ACTION_SORT, Catalog, action_out, action_sort_value, as_datetime
from gateway_service.api.servers.models import (
    MAX_FIREWALLS_PER_SERVER,
    ActionAnswer,
    ActionOut,
    ActionsAnswer,
    AddToPlacementGroupBody,
    AttachIsoBody,
    ChangeDnsPtrBody,
    ChangeProtectionBody,
    ChangeTypeBody,
    ConsoleAnswer,
    CreatedImageAnswer,
    CreatedServerAnswer,
    CreateImageBody,
    EnableRescueBody,
    HetznerStatus,
    MetricsAnswer,
    MetricsOut,
    MetricsValues,
    NewServer,
    PasswordAnswer,
    RebuildAnswer,
    RebuildBody,
    RescueAnswer,
    ServerAnswer,
    ServersAnswer,
    ServerUpdate,
)
from gateway_service.auth.gate import Authenticated
from gateway_service.auth.policy import Access, Family, require_scope
from gateway_service.auth.principal import Principal
from gateway_service.auth.scoped import scope
from gateway_service.clients.backends import backends
from gateway_service.console.relay import console_url
from gateway_service.console.tickets import ConsoleTickets
from gateway_service.idempotency.middleware import REDACT_HEADER
from gateway_service.server_status import platform_statuses
from hetzner_conventions.errors import invalid_field
from hetzner_conventions.label_selector import parse_label_selector
from hetzner_conventions.pagination import paginate, parse_page_request
from hetzner_conventions.sorting import parse_sort

# Root passwords are in their answer only: an Idempotency-Key replay answers them as null, so
# the stored answer holds none.
SECRET_ANSWER_FIELDS = "root_password"  # noqa: S105 - the name of the field, not a password

router = APIRouter(prefix="/v1/servers", tags=["servers"])

SORTABLE = ("id", "name", "created")
ServerId = Annotated[int, Path(ge=1, le=MAX_ID, description="ID of the server.")]


async def _ssh_key_ids(request: Request, principal: Principal, keys: list[str | int]) -> list[int]:
    ids = []
    for key in keys:
        if isinstance(key, int) or key.isdigit():
            ids.append(int(key))
            continue
        found = await backends(request).compute.list_ssh_keys(
            *tenant(principal), name=key, fingerprint="", label_selector=[], sort=[], page=1, per_page=1
        )
        if not found.ssh_keys:
            raise InvalidInput(f"SSH key {key!r} does not exist", details={"fields": [{"name": "ssh_keys"}]})
        ids.append(found.ssh_keys[0].id)
    return ids


# -- routes -----------------------------------------------------------------------------------


@router.get("")
@scope(Family.SERVERS, Access.READ)
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
    page_request = parse_page_request(page, per_page)
    sort_keys = parse_sort(sort or [], SORTABLE)
    selector = parse_label_selector(label_selector)
    statuses = sorted({s for wanted in status or [] for s in platform_statuses(wanted)})
    if status and not statuses:  # only Hetzner statuses the platform never shows (starting, stopping)
        return ServersAnswer(servers=[], meta=Meta.of(paginate(page_request, 0)))
    answer = await backends(request).servers.list_servers(
        *tenant(principal),
        name=name or "",
        status=statuses,
        label_selector=[
            cpb.LabelRequirement(key=r.key, operator=r.operator, values=r.values) for r in selector.requirements
        ],
        sort=sort_param(sort_keys),
        page=page_request.page,
        per_page=page_request.per_page,
    )
    meta = page_meta(request, response, page_request, answer.total_entries)
    catalog = await (await Catalog.read(request, principal)).read_attachments(request, principal, answer.servers)
    return ServersAnswer(servers=[catalog.server_out(s) for s in answer.servers], meta=meta)


@router.post("", status_code=201)
@scope(Family.SERVERS, Access.WRITE)
async def create_server(
    request: Request, response: Response, principal: Authenticated, body: NewServer
) -> CreatedServerAnswer:
    """A new server in the caller's tenant; the answer's action follows its creation upstream."""
    response.headers[REDACT_HEADER] = SECRET_ANSWER_FIELDS
    firewall_ids = await _firewalls_to_apply(request, principal, body)
    catalog = await Catalog.read(request, principal)
    server_type = catalog.server_type_code(body.server_type)
    created = await backends(request).servers.create(
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
    organization_id = tenant(principal)[1]
    applied = [
        await backends(request).firewalls.apply(
            firewall_id, organization_id, npb.FirewallTargets(server_ids=[created.server.id])
        )
        for firewall_id in firewall_ids
    ]
    return CreatedServerAnswer(
        server=catalog.server_out(created.server),
        action=action_out(created.action),
        next_actions=[action_out(action) for action in applied],
        root_password=created.root_password or None,
    )


async def _firewalls_to_apply(request: Request, principal: Principal, body: NewServer) -> list[int]:
    """The firewalls named in a create body (Hetzner's ``firewalls``: [{"firewall": id}]), each
    the caller's, at most 5 (``403 resource_limit_exceeded``), checked before the server is made;
    applying them needs the ``firewalls:write`` scope too."""
    ids = [ref.firewall for ref in body.firewalls]
    if not ids:
        return []
    require_scope(principal, Family.FIREWALLS, Access.WRITE)
    if len(set(ids)) < len(ids):
        raise invalid_field("firewalls", "a firewall is named more than once")
    if len(ids) > MAX_FIREWALLS_PER_SERVER:
        raise LimitExceeded(f"a server has at most {MAX_FIREWALLS_PER_SERVER} firewalls; {len(ids)} were given")
    organization_id = tenant(principal)[1]
    for firewall_id in ids:
        try:
            await backends(request).firewalls.get(firewall_id, organization_id)
        except NotFound:
            raise invalid_field("firewalls", f"firewall {firewall_id} does not exist") from None
    return ids


@router.get("/actions")
@scope(Family.SERVERS, Access.READ)
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
    page_request = parse_page_request(page, per_page)
    keys = parse_sort(sort or [], ACTION_SORT)
    if id:  # a few named actions: read each, then filter, sort and page here
        found: list[ActionOut] = []
        for action_id in sorted(set(id)):
            try:
                action = await backends(request).servers.action(action_id, tenant(principal)[1])
            except NotFound:
                continue
            if action.server_id:  # an image's change_protection is no server's action
                found.append(action_out(action))
        found = [a for a in found if not status or a.status in status]
        chosen, meta = one_page(request, response, sort_items(found, keys, action_sort_value), page_request)
    else:
        answer = await backends(request).servers.tenant_actions(
            *tenant(principal),
            status=list(status or []),
            sort=sort_param(keys),
            page=page_request.page,
            per_page=page_request.per_page,
        )
        meta = page_meta(request, response, page_request, answer.total_entries)
        chosen = [action_out(a) for a in answer.actions]
    return ActionsAnswer(actions=chosen, meta=meta)


@router.get("/actions/{action_id:int}")
@scope(Family.SERVERS, Access.READ)
async def get_tenant_action(
    request: Request,
    principal: Authenticated,
    action_id: Annotated[int, Path(ge=1, le=MAX_ID, description="ID of the action.")],
) -> ActionAnswer:
    """One action of the caller's tenant's servers."""
    action = await backends(request).servers.action(action_id, tenant(principal)[1])
    if not action.server_id:
        raise NotFound(f"server action {action_id} does not exist")
    return ActionAnswer(action=action_out(action))


@router.get("/{id:int}")
@scope(Family.SERVERS, Access.READ)
async def get_server(request: Request, principal: Authenticated, id: ServerId) -> ServerAnswer:
    """One server the caller reaches."""
    server = await backends(request).servers.get(id, tenant(principal)[1])
    catalog = await (await Catalog.read(request, principal)).read_attachments(request, principal, [server])
    return ServerAnswer(server=catalog.server_out(server))


@router.delete("/{id:int}")
@scope(Family.SERVERS, Access.WRITE)
async def delete_server(request: Request, principal: Authenticated, id: ServerId) -> ActionAnswer:
    """Delete a server (``423 protected`` while protected against deletion)."""
    return ActionAnswer(action=action_out(await backends(request).servers.delete(id, tenant(principal)[1])))


@router.post("/{id}/actions/poweron", status_code=201)
@scope(Family.SERVERS, Access.WRITE)
async def power_on(request: Request, principal: Authenticated, id: ServerId) -> ActionAnswer:
    """Start a server."""
    return ActionAnswer(action=action_out(await backends(request).servers.power_on(id, tenant(principal)[1])))


@router.post("/{id}/actions/poweroff", status_code=201)
@scope(Family.SERVERS, Access.WRITE)
async def power_off(request: Request, principal: Authenticated, id: ServerId) -> ActionAnswer:
    """Cut a server's power (a hard stop)."""
    return ActionAnswer(action=action_out(await backends(request).servers.power_off(id, tenant(principal)[1])))


@router.post("/{id}/actions/reboot", status_code=201)
@scope(Family.SERVERS, Access.WRITE)
async def reboot(request: Request, principal: Authenticated, id: ServerId) -> ActionAnswer:
    """Reboot a server."""
    return ActionAnswer(action=action_out(await backends(request).servers.reboot(id, tenant(principal)[1])))


@router.get("/{id}/actions")
@scope(Family.SERVERS, Access.READ)
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
    page_request = parse_page_request(page, per_page)
    keys = parse_sort(sort or [], ("id", "command", "status", "started", "finished", "progress"))
    actions = [action_out(a) for a in await backends(request).servers.list_actions(id, tenant(principal)[1])]
    actions = [a for a in actions if not status or a.status in status]
    sort_items(actions, keys, action_sort_value)
    chosen, meta = one_page(request, response, actions, page_request)
    return ActionsAnswer(actions=chosen, meta=meta)


@router.post("/{id}/actions/rebuild", status_code=201)
@scope(Family.SERVERS, Access.WRITE)
async def rebuild(
    request: Request,
    response: Response,
    principal: Authenticated,
    id: ServerId,
    body: Annotated[RebuildBody, Body()],
) -> RebuildAnswer:
    """Overwrite a server's disk with an image (``423 protected`` while protected against rebuilding)."""
    organization_id = tenant(principal)[1]
    response.headers[REDACT_HEADER] = SECRET_ANSWER_FIELDS
    answer = await backends(request).servers.rebuild(id, organization_id, str(body.image))
    return RebuildAnswer(action=action_out(answer.action), root_password=answer.root_password or None)


@router.post("/{id}/actions/change_type", status_code=201)
@scope(Family.SERVERS, Access.WRITE)
async def change_type(
    request: Request, principal: Authenticated, id: ServerId, body: Annotated[ChangeTypeBody, Body()]
) -> ActionAnswer:
    """Change a powered-off server's type."""
    organization_id = tenant(principal)[1]
    server_type = (await Catalog.read(request, principal)).server_type_code(body.server_type)
    action = await backends(request).servers.change_type(id, organization_id, server_type, body.upgrade_disk)
    return ActionAnswer(action=action_out(action))


@router.post("/{id}/actions/enable_rescue", status_code=201)
@scope(Family.SERVERS, Access.WRITE)
async def enable_rescue(
    request: Request,
    response: Response,
    principal: Authenticated,
    id: ServerId,
    body: Annotated[EnableRescueBody | None, Body()] = None,
) -> RescueAnswer:
    """Boot the rescue system next; its root password is in this answer only."""
    organization_id = tenant(principal)[1]
    response.headers[REDACT_HEADER] = SECRET_ANSWER_FIELDS
    wanted = body or EnableRescueBody()
    answer = await backends(request).servers.enable_rescue(
        id, organization_id, wanted.type or "linux64", wanted.ssh_keys or []
    )
    # Hetzner's answer always carries the rescue password (a string, never null), SSH keys or not.
    return RescueAnswer(action=action_out(answer.action), root_password=answer.root_password)


@router.post("/{id}/actions/disable_rescue", status_code=201)
@scope(Family.SERVERS, Access.WRITE)
async def disable_rescue(request: Request, principal: Authenticated, id: ServerId) -> ActionAnswer:
    """Boot from the server's disk again."""
    organization_id = tenant(principal)[1]
    return ActionAnswer(action=action_out(await backends(request).servers.disable_rescue(id, organization_id)))


@router.post("/{id}/actions/create_image", status_code=201)
@scope(Family.SERVERS, Access.WRITE)
async def create_image(
    request: Request, principal: Authenticated, id: ServerId, body: Annotated[CreateImageBody | None, Body()] = None
) -> CreatedImageAnswer:
    """Make a snapshot image of the server, owned by its tenant."""
    organization_id = tenant(principal)[1]
    wanted = body or CreateImageBody()
    answer = await backends(request).servers.create_image(
        id,
        organization_id,
        image_type=wanted.type or "snapshot",
        description=wanted.description or "",
        labels=wanted.labels or {},
    )
    return CreatedImageAnswer(image=image_out(answer.image), action=action_out(answer.action))


@router.put("/{id:int}")
@scope(Family.SERVERS, Access.WRITE)
async def update_server(request: Request, principal: Authenticated, id: ServerId, body: ServerUpdate) -> ServerAnswer:
    """Rename a server or replace its labels."""
    organization_id = tenant(principal)[1]
    server = await backends(request).servers.update(id, organization_id, name=body.name, labels=body.labels)
    catalog = await (await Catalog.read(request, principal)).read_attachments(request, principal, [server])
    return ServerAnswer(server=catalog.server_out(server))


@router.get("/{id}/actions/{action_id:int}")
@scope(Family.SERVERS, Access.READ)
async def get_server_action(
    request: Request,
    principal: Authenticated,
    id: ServerId,
    action_id: Annotated[int, Path(ge=1, le=MAX_ID, description="ID of the action.")],
) -> ActionAnswer:
    """One action of a server."""
    action = await backends(request).servers.action(action_id, tenant(principal)[1])
    if action.server_id != id:
        raise NotFound(f"action {action_id} of server {id} does not exist")
    return ActionAnswer(action=action_out(action))


def _instant(name: str, raw: str) -> datetime:
    try:
        stamp = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"{name} must be an ISO 8601 time", details={"fields": [{"name": name}]}) from None
    return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=UTC)


MAX_METRICS_STEP = 31 * 24 * 3600
"""The largest step: one value for the longest period monitoring answers."""


@router.get("/{id}/metrics")
@scope(Family.SERVERS, Access.READ)
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
    """A server's metrics, from the samples monitoring stored (averaged in SQL per step)."""
    kinds = list(dict.fromkeys(kind for raw in type for kind in raw.split(",")))
    if not kinds or any(kind not in ("cpu", "disk", "network") for kind in kinds):
        raise InvalidInput("type must name cpu, disk or network", details={"fields": [{"name": "type"}]})
    if step is not None and (not step.isdigit() or int(step) > MAX_METRICS_STEP):
        raise InvalidInput(
            f"step must be a whole number of seconds up to {MAX_METRICS_STEP}", details={"fields": [{"name": "step"}]}
        )
    answer = await backends(request).monitoring.server_metrics(
        id,
        tenant(principal)[1],
        types=kinds,
        start=_instant("start", start),
        end=_instant("end", end),
        step=int(step) if step else 0,
    )
    return MetricsAnswer(
        metrics=MetricsOut(
            start=as_datetime(answer.start),
            end=as_datetime(answer.end),
            step=answer.step,
            time_series={
                name: MetricsValues(values=[(p.timestamp, p.value) for p in series.values])
                for name, series in answer.time_series.items()
            },
        )
    )


# -- shutdown, reset, ISO, protection, reverse DNS, backups, console, root password -------------


@router.post("/{id}/actions/shutdown", status_code=201)
@scope(Family.SERVERS, Access.WRITE)
async def shutdown(request: Request, principal: Authenticated, id: ServerId) -> ActionAnswer:
    """Ask the server's OS to shut down (ACPI); the server is off once the action has finished."""
    organization_id = tenant(principal)[1]
    return ActionAnswer(action=action_out(await backends(request).servers.shutdown(id, organization_id)))


@router.post("/{id}/actions/reset", status_code=201)
@scope(Family.SERVERS, Access.WRITE)
async def reset(request: Request, principal: Authenticated, id: ServerId) -> ActionAnswer:
    """Reset a server (a hard reset, like pressing its reset button)."""
    organization_id = tenant(principal)[1]
    return ActionAnswer(action=action_out(await backends(request).servers.reset(id, organization_id)))


@router.post("/{id}/actions/attach_iso", status_code=201)
@scope(Family.SERVERS, Access.WRITE)
async def attach_iso(
    request: Request, principal: Authenticated, id: ServerId, body: Annotated[AttachIsoBody, Body()]
) -> ActionAnswer:
    """Put an ISO in the server's virtual drive (it boots from it next)."""
    organization_id = tenant(principal)[1]
    return ActionAnswer(
        action=action_out(await backends(request).servers.attach_iso(id, organization_id, str(body.iso)))
    )


@router.post("/{id}/actions/detach_iso", status_code=201)
@scope(Family.SERVERS, Access.WRITE)
async def detach_iso(request: Request, principal: Authenticated, id: ServerId) -> ActionAnswer:
    """Take the ISO out of the server's drive."""
    organization_id = tenant(principal)[1]
    return ActionAnswer(action=action_out(await backends(request).servers.detach_iso(id, organization_id)))


@router.post("/{id}/actions/change_protection", status_code=201)
@scope(Family.SERVERS, Access.WRITE)
async def change_protection(
    request: Request,
    principal: Authenticated,
    id: ServerId,
    body: Annotated[ChangeProtectionBody | None, Body()] = None,
) -> ActionAnswer:
    """Protect a server against deletion and rebuilding, or lift the protection."""
    organization_id = tenant(principal)[1]
    wanted = body or ChangeProtectionBody()
    action = await backends(request).servers.change_protection(
        id, organization_id, delete=wanted.delete, rebuild=wanted.rebuild
    )
    return ActionAnswer(action=action_out(action))


@router.post("/{id}/actions/change_dns_ptr", status_code=201)
@scope(Family.SERVERS, Access.WRITE)
async def change_dns_ptr(
    request: Request, principal: Authenticated, id: ServerId, body: Annotated[ChangeDnsPtrBody, Body()]
) -> ActionAnswer:
    """Set (or with null reset) the reverse DNS name of one of the server's addresses."""
    organization_id = tenant(principal)[1]
    action = await backends(request).servers.change_dns_ptr(id, organization_id, body.ip, body.dns_ptr)
    return ActionAnswer(action=action_out(action))


@router.post("/{id}/actions/enable_backup", status_code=201)
@scope(Family.SERVERS, Access.WRITE)
async def enable_backup(request: Request, principal: Authenticated, id: ServerId) -> ActionAnswer:
    """Enable daily backups (billed at 20 % of the server's price while enabled)."""
    organization_id = tenant(principal)[1]
    return ActionAnswer(action=action_out(await backends(request).servers.set_backup(id, organization_id, True)))


@router.post("/{id}/actions/disable_backup", status_code=201)
@scope(Family.SERVERS, Access.WRITE)
async def disable_backup(request: Request, principal: Authenticated, id: ServerId) -> ActionAnswer:
    """Disable backups."""
    organization_id = tenant(principal)[1]
    return ActionAnswer(action=action_out(await backends(request).servers.set_backup(id, organization_id, False)))


@router.post("/{id}/actions/request_console", status_code=201)
@scope(Family.SERVERS, Access.WRITE)
async def request_console(
    request: Request, response: Response, principal: Authenticated, id: ServerId
) -> ConsoleAnswer:
    """A VNC console of the server: its URL and password are in this answer only.

    The URL is the platform's own websocket (``/v1/console``) with a single-use ticket;
    upstream's URL (its host, its server id, its token) stays in the gateway, which relays
    the websocket to it. An Idempotency-Key replay answers both as ``null``."""
    organization_id = tenant(principal)[1]
    answer = await backends(request).servers.request_console(id, organization_id)
    tickets: ConsoleTickets = request.app.state.console_tickets
    ticket = await run_in_threadpool(tickets.issue, answer.wss_url, id)
    response.headers[REDACT_HEADER] = "wss_url,password"
    return ConsoleAnswer(
        action=action_out(answer.action), wss_url=console_url(request, ticket), password=answer.password
    )


@router.post("/{id}/actions/reset_password", status_code=201)
@scope(Family.SERVERS, Access.WRITE)
async def reset_password(
    request: Request, response: Response, principal: Authenticated, id: ServerId
) -> PasswordAnswer:
    """A new root password for the server, shown this once. The server must be running (its OS runs
    qemu-guest-agent): otherwise ``422 server_not_running``."""
    organization_id = tenant(principal)[1]
    response.headers[REDACT_HEADER] = SECRET_ANSWER_FIELDS
    answer = await backends(request).servers.reset_password(id, organization_id)
    return PasswordAnswer(action=action_out(answer.action), root_password=answer.root_password)


# -- placement groups ----------------------------------------------------------------------------


@router.post("/{id}/actions/add_to_placement_group", status_code=201)
@scope(Family.SERVERS, Access.WRITE)
async def add_to_placement_group(
    request: Request, principal: Authenticated, id: ServerId, body: Annotated[AddToPlacementGroupBody, Body()]
) -> ActionAnswer:
    """Add a powered-off server to one of the tenant's placement groups (``422 server_not_stopped``
    otherwise; a spread group holds at most 10 servers)."""
    organization_id = tenant(principal)[1]
    action = await backends(request).servers.add_to_placement_group(id, organization_id, body.placement_group)
    return ActionAnswer(action=action_out(action))


@router.post("/{id}/actions/remove_from_placement_group", status_code=201)
@scope(Family.SERVERS, Access.WRITE)
async def remove_from_placement_group(request: Request, principal: Authenticated, id: ServerId) -> ActionAnswer:
    """Take a server out of its placement group."""
    organization_id = tenant(principal)[1]
    return ActionAnswer(
        action=action_out(await backends(request).servers.remove_from_placement_group(id, organization_id))
    )
