"""The server actions that set something on the server, and those that hand a secret out once.

ISO, reverse DNS and backups are started here (checked, recorded, the server locked) and
carried out upstream by the worker (:func:`carry_out`, in the worker's one transaction).
Protection is the platform's own and is changed at once (its action finishes in the same
transaction). A console and a root password reset are asked of upstream at once, inside the
transaction that records the action, as enabling the rescue system is: the console's URL and
password and the new root password are answered to the caller this once; of the root password
only an argon2id hash is kept (servers.root_password_hash). The worker then waits for
upstream's action and finishes it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cloudplatform.compute.v1 import events_pb2
from compute_service.adapters import tables as t
from compute_service.adapters.upstream_servers import HcloudServers
from compute_service.domain.server_settings import (
    ATTACH_ISO,
    BACKUP_PRICE_PERCENT,
    CHANGE_DNS_PTR,
    CHANGE_PROTECTION,
    DETACH_ISO,
    DISABLE_BACKUP,
    ENABLE_BACKUP,
    REQUEST_CONSOLE,
    RESET_PASSWORD,
    check_dns_ptr,
    check_iso,
    check_protection,
    ensure_backup,
    ensure_iso_attached,
    ensure_provisioned,
    ensure_running_for_password_reset,
)
from compute_service.domain.servers import ACTION_SUCCESS, Action, Server, UpstreamFailure
from compute_service.service_layer.server_actions import _begin, _server_event, _started
from compute_service.service_layer.servers import Reach, _live
from compute_service.service_layer.unit_of_work import ComputeUnitOfWork
from cpshared.clock import utcnow
from cpshared.errors import PreconditionFailed
from cpshared.events import catalog as events

if TYPE_CHECKING:
    from compute_service.service_layer.provisioning import Provisioner


def _provisioned(server: Server) -> None:
    ensure_provisioned(server)


def _owner(server: Server) -> dict[str, int]:
    return {"server_id": server.id, "user_id": server.user_id, "organization_id": server.organization_id or 0}


def attach_iso(server_id: int, iso: str, reach: Reach, uow: ComputeUnitOfWork) -> Action:
    wanted = check_iso(iso)
    with uow:
        _, action = _begin(uow, server_id, ATTACH_ISO, reach, {"iso": wanted}, lambda s: None)
        uow.commit()
    return _started(action)


def detach_iso(server_id: int, reach: Reach, uow: ComputeUnitOfWork) -> Action:
    with uow:
        _, action = _begin(uow, server_id, DETACH_ISO, reach, {}, ensure_iso_attached)
        uow.commit()
    return _started(action)


def change_dns_ptr(server_id: int, ip: str, dns_ptr: str | None, reach: Reach, uow: ComputeUnitOfWork) -> Action:
    with uow:
        server = _live(server_id, reach, uow)
        address = check_dns_ptr(server, ip, dns_ptr)
        _, action = _begin(uow, server_id, CHANGE_DNS_PTR, reach, {"ip": address, "dns_ptr": dns_ptr})
        uow.commit()
    return _started(action)


def set_backup(server_id: int, enable: bool, reach: Reach, uow: ComputeUnitOfWork) -> Action:
    command = ENABLE_BACKUP if enable else DISABLE_BACKUP
    with uow:
        _, action = _begin(uow, server_id, command, reach, {}, lambda s: ensure_backup(s, enable))
        uow.commit()
    return _started(action)


def change_protection(
    server_id: int, delete: bool | None, rebuild: bool | None, reach: Reach, uow: ComputeUnitOfWork
) -> Action:
    """Set the protection now: the action is answered finished (nothing to do upstream)."""
    check_protection(delete, rebuild)
    with uow:
        server, action = _begin(uow, server_id, CHANGE_PROTECTION, reach, {"delete": delete, "rebuild": rebuild})
        if delete is not None:
            server.protection_delete = delete
        if rebuild is not None:
            server.protection_rebuild = rebuild
        server.locked = False
        server.version += 1
        now = utcnow()
        uow.servers.save(server, now)
        action.status, action.progress, action.finished = ACTION_SUCCESS, 100, now
        action.version += 1
        uow.actions.save(action)
        _server_event(
            uow,
            events.SERVER_PROTECTION_CHANGED,
            server,
            events_pb2.ServerProtectionChanged(
                **_owner(server),
                delete=server.protection_delete,
                rebuild=server.protection_rebuild,
                action_id=action.id,
            ),
        )
        uow.commit()
    return _started(action)


def request_console(
    server_id: int, reach: Reach, uow: ComputeUnitOfWork, upstream: HcloudServers
) -> tuple[Action, str, str]:
    """The request_console action, the websocket URL and the VNC password (never stored)."""
    with uow:
        server, action = _begin(uow, server_id, REQUEST_CONSOLE, reach, {}, _provisioned)
        try:
            upstream_action, wss_url, password = upstream.request_console(ensure_provisioned(server))
        except UpstreamFailure as failure:
            raise PreconditionFailed(f"upstream refused to open a console: {failure.message}") from None
        action.upstream_action_id = upstream_action or None
        uow.actions.save(action)
        _server_event(
            uow,
            events.SERVER_CONSOLE_REQUESTED,
            server,
            events_pb2.ServerConsoleRequested(**_owner(server), action_id=action.id),
        )
        uow.commit()
    return _started(action), wss_url, password


def reset_password(server_id: int, reach: Reach, uow: ComputeUnitOfWork, upstream: HcloudServers) -> tuple[Action, str]:
    """The reset_password action and the new root password; only its argon2id hash is kept."""
    with uow:
        server, action = _begin(uow, server_id, RESET_PASSWORD, reach, {}, ensure_running_for_password_reset)
        try:
            upstream_action, password = upstream.reset_password(ensure_provisioned(server))
        except UpstreamFailure as failure:
            raise PreconditionFailed(f"upstream refused to reset the root password: {failure.message}") from None
        if not password:
            raise PreconditionFailed("upstream answered no root password; try again")
        action.upstream_action_id = upstream_action or None
        uow.actions.save(action)
        server.keep_root_password(password)
        uow.servers.save(server, utcnow())
        _server_event(
            uow,
            events.SERVER_PASSWORD_RESET,
            server,
            events_pb2.ServerPasswordReset(**_owner(server), action_id=action.id),
        )
        uow.commit()
    return _started(action), password


def verify_root_password(server: Server, password: str) -> bool:
    """Whether ``password`` is the server's root password as last handed out by the platform."""
    return server.has_root_password(password)


# -- the worker's side -------------------------------------------------------------------------


def _backup_event(uow: ComputeUnitOfWork, server: Server, action: Action) -> None:
    row = uow.session.execute(t.server_types.select().where(t.server_types.c.id == server.server_type_id)).first()
    hourly = row.price_hourly if row is not None else None
    monthly = row.price_monthly if row is not None else None
    _server_event(
        uow,
        events.SERVER_BACKUP_CHANGED,
        server,
        events_pb2.ServerBackupChanged(
            **_owner(server),
            backup_enabled=server.backup_enabled,
            server_type_id=server.server_type_id,
            server_type=server.server_type,
            datacenter=server.datacenter,
            server_price_hourly="" if hourly is None else str(hourly),
            server_price_monthly="" if monthly is None else str(monthly),
            backup_price_percent=str(BACKUP_PRICE_PERCENT),
            action_id=action.id,
        ),
    )


def carry_out(provisioner: Provisioner, uow: ComputeUnitOfWork, action: Action, server: Server) -> None:
    """Carry ``action`` (one of domain.server_settings.COMMANDS) out upstream and record the
    result; raises UpstreamFailure (the caller records it) or Unavailable (left for later)."""
    up = provisioner.upstream
    params: dict[str, Any] = action.params
    upstream_server = provisioner._one_upstream(server.id)
    if upstream_server is None:
        raise UpstreamFailure("not_found", f"server {server.id} has no upstream server")
    upstream_id = upstream_server.id
    if action.command == ATTACH_ISO:
        upstream_action = up.attach_iso(upstream_id, str(params["iso"]))
    elif action.command == DETACH_ISO:
        upstream_action = up.detach_iso(upstream_id)
    elif action.command == CHANGE_DNS_PTR:
        upstream_action = up.change_dns_ptr(upstream_id, str(params["ip"]), params.get("dns_ptr"))
    elif action.command == ENABLE_BACKUP:
        upstream_action = up.enable_backup(upstream_id)
    elif action.command == DISABLE_BACKUP:
        upstream_action = up.disable_backup(upstream_id)
    elif action.command in (REQUEST_CONSOLE, RESET_PASSWORD):
        upstream_action = action.upstream_action_id or 0  # asked for when the action was started
    else:  # pragma: no cover - run_once dispatches only COMMANDS here
        raise UpstreamFailure("unsupported_error", f"the worker does not know the command {action.command}")
    try:
        up.wait(upstream_action)
    except UpstreamFailure:
        if action.command == RESET_PASSWORD:
            # Upstream did not set the password whose hash was kept: which one holds is unknown now.
            failed = uow.servers.get(server.id, for_update=True) or server
            failed.root_password_hash = None
            uow.servers.save(failed, utcnow())
        raise
    iso: dict[str, Any] | None = None
    backup_window = ""
    if action.command in (ATTACH_ISO, DETACH_ISO, ENABLE_BACKUP, DISABLE_BACKUP):
        iso, backup_window = up.settings(upstream_id)

    current = uow.servers.get(server.id, for_update=True) or server
    current.locked = False
    current.version += 1
    if action.command in (ATTACH_ISO, DETACH_ISO):
        current.iso = iso
    elif action.command == CHANGE_DNS_PTR:
        if params.get("dns_ptr") is None:
            current.dns_ptrs.pop(str(params["ip"]), None)
        else:
            current.dns_ptrs[str(params["ip"])] = str(params["dns_ptr"])
    elif action.command in (ENABLE_BACKUP, DISABLE_BACKUP):
        current.backup_enabled = action.command == ENABLE_BACKUP
        current.backup_window = backup_window if current.backup_enabled else ""
    now = utcnow()
    uow.servers.save(current, now)
    if action.command in (ENABLE_BACKUP, DISABLE_BACKUP):
        uow.servers.set_backup_period(current.id, current.backup_enabled, now)
    if action.command in (ATTACH_ISO, DETACH_ISO):
        _server_event(
            uow,
            events.SERVER_ISO_CHANGED,
            current,
            events_pb2.ServerIsoChanged(
                **_owner(current), iso=str(current.iso["name"]) if current.iso else "", action_id=action.id
            ),
        )
    elif action.command == CHANGE_DNS_PTR:
        _server_event(
            uow,
            events.SERVER_DNS_PTR_CHANGED,
            current,
            events_pb2.ServerDnsPtrChanged(
                **_owner(current), ip=str(params["ip"]), dns_ptr=str(params.get("dns_ptr") or ""), action_id=action.id
            ),
        )
    elif action.command in (ENABLE_BACKUP, DISABLE_BACKUP):
        _backup_event(uow, current, action)
    action.upstream_action_id = upstream_action or None
    provisioner._finish(action)
    uow.actions.save(action)
