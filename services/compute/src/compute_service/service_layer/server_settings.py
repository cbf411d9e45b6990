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

from decimal import Decimal
from typing import Any, Final

from compute_service.domain.server_settings import (
    ATTACH_ISO,
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
from compute_service.domain.servers import Action, Server, UpstreamFailure
from compute_service.service_layer.ports import BackupPricing, UpstreamServers
from compute_service.service_layer.server_actions import started
from compute_service.service_layer.servers import Reach, begin, live_server, upstream_server_of
from compute_service.service_layer.unit_of_work import ComputeUnitOfWork
from cpshared.clock import utcnow
from cpshared.errors import PreconditionFailed

BACKUP_PRICE_PERCENT: Final = "backup_price_percent"
"""The enable_backup action's parameter: billing's backup percentage when it was asked for."""


def _provisioned(server: Server) -> None:
    ensure_provisioned(server)


def attach_iso(server_id: int, iso: str, reach: Reach, uow: ComputeUnitOfWork) -> Action:
    wanted = check_iso(iso)
    with uow:
        _, action = begin(uow, server_id, ATTACH_ISO, reach, {"iso": wanted})
        uow.commit()
    return started(action)


def detach_iso(server_id: int, reach: Reach, uow: ComputeUnitOfWork) -> Action:
    with uow:
        _, action = begin(uow, server_id, DETACH_ISO, reach, check=ensure_iso_attached)
        uow.commit()
    return started(action)


def change_dns_ptr(server_id: int, ip: str, dns_ptr: str | None, reach: Reach, uow: ComputeUnitOfWork) -> Action:
    with uow:
        server = live_server(server_id, reach, uow)
        address = check_dns_ptr(server, ip, dns_ptr)
        _, action = begin(uow, server_id, CHANGE_DNS_PTR, reach, {"ip": address, "dns_ptr": dns_ptr})
        uow.commit()
    return started(action)


def set_backup(server_id: int, enable: bool, reach: Reach, uow: ComputeUnitOfWork, pricing: BackupPricing) -> Action:
    """Enabling asks billing for the backup plan's percentage first (outside the transaction):
    the action carries it, and the backup period the worker opens keeps it."""
    command = ENABLE_BACKUP if enable else DISABLE_BACKUP
    params = {BACKUP_PRICE_PERCENT: str(pricing.backup_percent())} if enable else None
    with uow:
        _, action = begin(uow, server_id, command, reach, params, check=lambda s: ensure_backup(s, enable))
        uow.commit()
    return started(action)


def change_protection(
    server_id: int, delete: bool | None, rebuild: bool | None, reach: Reach, uow: ComputeUnitOfWork
) -> Action:
    """Set the protection now: the action is answered finished (nothing to do upstream)."""
    check_protection(delete, rebuild)
    with uow:
        server, action = begin(uow, server_id, CHANGE_PROTECTION, reach, {"delete": delete, "rebuild": rebuild})
        now = utcnow()
        server.change_protection(action, delete, rebuild, now)
        uow.servers.save(server, now)
        uow.actions.save(action)
        uow.commit()
    return started(action)


def request_console(
    server_id: int, reach: Reach, uow: ComputeUnitOfWork, upstream: UpstreamServers
) -> tuple[Action, str, str]:
    """The request_console action, the websocket URL and the VNC password (never stored)."""
    with uow:
        server, action = begin(uow, server_id, REQUEST_CONSOLE, reach, check=_provisioned)
        try:
            upstream_action, wss_url, password = upstream.request_console(ensure_provisioned(server))
        except UpstreamFailure as failure:
            raise PreconditionFailed(f"upstream refused to open a console: {failure.message}") from None
        action.upstream_action_id = upstream_action or None
        uow.actions.save(action)
        server.console_requested(action)
        uow.commit()
    return started(action), wss_url, password


def reset_password(
    server_id: int, reach: Reach, uow: ComputeUnitOfWork, upstream: UpstreamServers
) -> tuple[Action, str]:
    """The reset_password action and the new root password; only its argon2id hash is kept."""
    with uow:
        server, action = begin(uow, server_id, RESET_PASSWORD, reach, check=ensure_running_for_password_reset)
        try:
            upstream_action, password = upstream.reset_password(ensure_provisioned(server))
        except UpstreamFailure as failure:
            raise PreconditionFailed(f"upstream refused to reset the root password: {failure.message}") from None
        if not password:
            raise PreconditionFailed("upstream answered no root password; try again")
        action.upstream_action_id = upstream_action or None
        uow.actions.save(action)
        server.password_reset(action, password)
        uow.servers.save(server, utcnow())
        uow.commit()
    return started(action), password


def verify_root_password(server: Server, password: str) -> bool:
    """Whether ``password`` is the server's root password as last handed out by the platform."""
    return server.has_root_password(password)


# -- the worker's side -------------------------------------------------------------------------


def carry_out(up: UpstreamServers, uow: ComputeUnitOfWork, action: Action, server: Server) -> None:
    """Carry ``action`` (one of domain.server_settings.COMMANDS) out upstream and have the server
    record the result; raises UpstreamFailure (the caller records it) or Unavailable (left for later)."""
    params: dict[str, Any] = action.params
    upstream_id = upstream_server_of(up, server).id
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
    else:  # pragma: no cover - the worker dispatches only COMMANDS here
        raise UpstreamFailure("unsupported_error", f"the worker does not know the command {action.command}")
    try:
        up.wait(upstream_action)
    except UpstreamFailure:
        if action.command == RESET_PASSWORD:
            failed = uow.servers.get(server.id, for_update=True) or server
            failed.forget_root_password()
            uow.servers.save(failed, utcnow())
        raise
    iso: dict[str, Any] | None = None
    backup_window = ""
    if action.command in (ATTACH_ISO, DETACH_ISO, ENABLE_BACKUP, DISABLE_BACKUP):
        iso, backup_window = up.settings(upstream_id)

    current = uow.servers.get(server.id, for_update=True) or server
    now = utcnow()
    if action.command in (ATTACH_ISO, DETACH_ISO):
        current.iso_changed(action, iso, upstream_action, now)
    elif action.command == CHANGE_DNS_PTR:
        dns_ptr = params.get("dns_ptr")
        current.dns_ptr_changed(
            action, str(params["ip"]), None if dns_ptr is None else str(dns_ptr), upstream_action, now
        )
    elif action.command in (ENABLE_BACKUP, DISABLE_BACKUP):
        server_type = uow.catalog.server_type(current.server_type_id)
        current.backup_changed(
            action,
            enabled=action.command == ENABLE_BACKUP,
            window=backup_window,
            server_price_hourly="" if server_type is None else str(server_type.price_hourly),
            server_price_monthly="" if server_type is None else str(server_type.price_monthly),
            backup_price_percent=str(params.get(BACKUP_PRICE_PERCENT, "")),
            upstream_action_id=upstream_action,
            now=now,
        )
    else:
        current.finished(action, upstream_action, now)
    uow.servers.save(current, now)
    if action.command in (ENABLE_BACKUP, DISABLE_BACKUP):
        percent = params.get(BACKUP_PRICE_PERCENT)
        uow.servers.set_backup_period(
            current.id, current.backup_enabled, now, Decimal(str(percent)) if percent is not None else None
        )
    uow.actions.save(action)
