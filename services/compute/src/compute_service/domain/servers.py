"""Servers and the actions that change them: the two aggregates and their rules.

A change to a server is an action (Hetzner's vocabulary: ``create_server``, ``start_server``
…) that the worker carries out upstream. While one runs the server is ``locked``: a second
one is refused until it finishes. Deleting honours the server's delete protection.

The server changes itself: :meth:`Server.begin` checks the rule, locks the server, bumps its
version and makes the running :class:`Action`; the methods that end an action (``provisioned``,
``powered``, ``deleted``, ``action_failed`` …) unlock it, bump its version, finish the action
and record what happened in ``events``, which the unit of work turns into the
contract's events (``server.*``, cloudplatform.compute.v1) when it commits. A use case never
bumps a version or builds an event itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from argon2 import PasswordHasher, Type

from compute_service.domain import server_status as st
from compute_service.domain import suspension
from compute_service.domain.aggregate import Aggregate
from compute_service.domain.placement_groups import ADD as ADD_TO_PLACEMENT_GROUP
from compute_service.domain.placement_groups import PlacementGroup
from cpshared.errors import InvalidInput, PreconditionFailed
from cpshared.image_ids import is_backup_id

CREATE: Final = "create_server"
DELETE: Final = "delete_server"
POWER_ON: Final = "start_server"
POWER_OFF: Final = "stop_server"
REBOOT: Final = "reboot_server"
SHUTDOWN: Final = "shutdown_server"
RESET: Final = "reset_server"

# What each power action leaves the server as (a shutdown is ACPI's: "stopped" once upstream
# has finished it; a reset is a hard one, the server runs afterwards).
POWER_RESULT: Final[dict[str, str]] = {
    POWER_ON: st.RUNNING,
    POWER_OFF: st.STOPPED,
    REBOOT: st.RUNNING,
    SHUTDOWN: st.STOPPED,
    RESET: st.RUNNING,
}

MAX_USER_DATA: Final = 32 * 1024
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOSTNAME: Final = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*$")

# argon2-cffi's defaults (RFC 9106's second recommendation), as identity hashes passwords.
_ROOT_PASSWORDS: Final = PasswordHasher(type=Type.ID)

ACTION_RUNNING: Final = "running"
ACTION_SUCCESS: Final = "success"
ACTION_ERROR: Final = "error"


class Locked(PreconditionFailed):
    """Another action is running on the resource (Hetzner: 423 locked)."""

    code = "locked"


class Protected(PreconditionFailed):
    """The resource is protected against this change (Hetzner: 423 protected)."""

    code = "protected"


def check_server_name(name: str) -> str:
    if not HOSTNAME.match(name):
        raise InvalidInput(
            f"name {name!r} is not a valid hostname: letters, digits and '-', parts of 1 to 63 characters "
            "separated by '.', not starting or ending with '-'",
            details={"fields": [{"name": "name", "messages": ["invalid hostname"]}]},
        )
    return name


def check_user_data(user_data: str) -> str:
    if len(user_data.encode()) > MAX_USER_DATA:
        raise InvalidInput(f"user_data is larger than {MAX_USER_DATA} bytes; shorten it")
    return user_data


@dataclass
class Server(Aggregate):
    id: int
    user_id: int
    organization_id: int | None
    name: str
    status: str
    server_type_id: int
    datacenter_id: int
    image_id: int | None
    user_data: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    backup_enabled: bool = False
    locked: bool = False
    protection_delete: bool = False
    protection_rebuild: bool = False
    hetzner_id: int | None = None
    ipv4_address: str | None = None
    ipv6_address: str | None = None
    ipv6_network: str | None = None
    ssh_key_ids: list[int] = field(default_factory=list)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    deleted_at: datetime | None = None
    version: int = 1
    # Set while the owner's account is suspended, banned or erased (domain/suspension.py).
    suspended_at: datetime | None = None
    suspension_reason: str = ""
    # Read with the server for display: the catalog's names of its type, datacenter and image.
    server_type: str = ""
    datacenter: str = ""
    image: str = ""
    # Server actions (domain/server_actions.py): rescue system, disk size now (GB), type's architecture.
    rescue_enabled: bool = False
    disk_gb: int = 0
    server_type_architecture: str = ""
    # Settings actions (domain/server_settings.py): the ISO in its drive (upstream's description),
    # reverse DNS names by address, upstream's backup window, the root password's argon2id hash.
    iso: dict[str, Any] | None = None
    dns_ptrs: dict[str, str] = field(default_factory=dict)
    backup_window: str = ""
    root_password_hash: str | None = field(default=None, repr=False)
    # The placement group it is in (domain/placement_groups.py), read with it for display.
    placement_group_id: int | None = None
    placement_group: PlacementGroup | None = None

    def ensure_can_start(self, command: str) -> None:
        """Refuse ``command`` while another action runs or when the server cannot take it."""
        if self.deleted_at is not None or self.status in (st.DELETING, st.DELETED):
            raise PreconditionFailed(f"server {self.id} is being deleted")
        self.ensure_not_suspended()
        if self.locked:
            raise Locked(f"server {self.id} is locked: another action is running on it; retry when it has finished")
        if command == DELETE:
            if self.protection_delete:
                raise Protected(f"server {self.id} is protected against deletion; remove the protection first")
            return
        if self.status in (st.PROVISIONING, st.ERROR):
            raise PreconditionFailed(f"server {self.id} is {self.status}; it cannot be powered on, off or rebooted")

    def ensure_not_suspended(self) -> None:
        """Refuse every customer action while the owner's account is suspended (delete too, as
        Hetzner does for a locked project: nothing changes until staff activate the account)."""
        if self.suspended_at is not None:
            raise Locked(
                f"server {self.id} is locked: the account that owns it is {self.suspension_reason or 'suspended'}; "
                "contact support to have it activated"
            )

    def keep_root_password(self, password: str) -> None:
        """Keep only the argon2id hash of the root password upstream made (at creation or a reset)."""
        self.root_password_hash = _ROOT_PASSWORDS.hash(password)

    def has_root_password(self, password: str) -> bool:
        """Whether ``password`` is the root password the platform last handed out for it."""
        if not self.root_password_hash:
            return False
        try:
            return _ROOT_PASSWORDS.verify(self.root_password_hash, password)
        except Exception:  # argon2's VerificationError, InvalidHashError ...: not this password
            return False

    @property
    def shown_locked(self) -> bool:
        """Locked as customers see it: an action running, or the owner's account suspended."""
        return self.locked or self.suspended_at is not None

    # -- the aggregate's changes -------------------------------------------------------------

    def created(self, action: Action) -> None:
        """Record the creation, once the server and its create_server action have their ids."""
        self._record(
            "server.created",
            name=self.name,
            server_type=self.server_type,
            datacenter=self.datacenter,
            image=self.image,
            status=self.status,
            labels=dict(self.labels),
            backup_enabled=self.backup_enabled,
            action_id=action.id,
        )

    def begin(
        self,
        command: str,
        params: dict[str, Any] | None = None,
        *,
        check: Callable[[Server], None] | None = None,
        image_id: int | None = None,
    ) -> Action:
        """Start ``command``: refuse it unless the server can take it (``check``: the command's
        own rule), lock the server and bump its version; the running action (without its id
        until the repository adds it) for the worker to carry out."""
        self.ensure_can_start(command)
        if check is not None:
            check(self)
        self.locked = True
        self.version += 1
        return Action.running(command, self, params or {}, image_id=image_id)

    def provisioned(
        self,
        action: Action,
        *,
        hetzner_id: int,
        ipv4: str | None,
        ipv6_network: str | None,
        ipv6: str | None,
        status: str,
        upstream_action_id: int | None,
        now: datetime,
        backup_window: str = "",
    ) -> None:
        """create_server has finished upstream: the server runs there as ``hetzner_id`` (with
        backups from the start: upstream's ``backup_window``)."""
        self.hetzner_id = hetzner_id
        if self.backup_enabled:
            self.backup_window = backup_window
        self.ipv4_address, self.ipv6_network, self.ipv6_address = ipv4, ipv6_network, ipv6
        old = self._finish(action, upstream_action_id, now, status=status)
        self._status_changed(old, action, always=True)

    def powered(self, action: Action, upstream_action_id: int | None, now: datetime) -> None:
        """A power action has finished upstream: the server is what the command leaves it as."""
        old = self._finish(action, upstream_action_id, now, status=POWER_RESULT[action.command])
        self._status_changed(old, action)

    def deleted(self, action: Action, now: datetime) -> None:
        """delete_server has finished: nothing of the server is left upstream."""
        self.deleted_at = now
        self._finish(action, None, now, status=st.DELETED)
        self._record("server.deleted", name=self.name, action_id=action.id)

    def action_failed(self, action: Action, code: str, message: str, now: datetime) -> None:
        """Upstream failed ``action`` for good: the server is unlocked (a failed create is in
        ``error``; a failed add_to_placement_group leaves the group again)."""
        action.fail(code, message, now)
        old = self.status
        self.locked = False
        self.version += 1
        if action.command == CREATE:
            self.status = st.ERROR
        if action.command == ADD_TO_PLACEMENT_GROUP:
            self.placement_group_id = None
        self._status_changed(old, action, error_code=code)

    def finished(self, action: Action, upstream_action_id: int | None, now: datetime) -> None:
        """``action`` has finished upstream and changed nothing the server records (create_image)."""
        old = self._finish(action, upstream_action_id, now)
        self._status_changed(old, action)

    def restore_started(self, action: Action, backup_id: int) -> None:
        """``action`` (a rebuild) restores one of the server's backups: storage marks it ``restoring``
        until the server is rebuilt (``server.rebuilt``) or the action fails."""
        self._record("server.restore_started", backup_id=backup_id, action_id=action.id)

    def rebuilt(self, action: Action, image_id: int, upstream_action_id: int | None, now: datetime) -> None:
        """Rebuilt from ``image_id``: an image of compute's becomes the server's; a backup
        (storage's, ``cpshared.image_ids``) restores the disk the server's image made."""
        if not is_backup_id(image_id):
            self.image_id = image_id
        old = self._finish(action, upstream_action_id, now, status=st.RUNNING)
        self._record("server.rebuilt", image_id=image_id, action_id=action.id)
        self._status_changed(old, action)

    def type_changed(
        self,
        action: Action,
        *,
        server_type_id: int,
        server_type: str,
        disk_gb: int | None,
        upstream_action_id: int | None,
        now: datetime,
    ) -> None:
        """change_server_type has finished upstream (``disk_gb``: the new disk when it was upgraded)."""
        old_type = self.server_type
        self.server_type_id, self.server_type = server_type_id, server_type
        if disk_gb is not None:
            self.disk_gb = disk_gb
        old = self._finish(action, upstream_action_id, now)
        self._record(
            "server.type_changed",
            old_server_type=old_type,
            server_type=self.server_type,
            disk_gb=self.disk_gb,
            action_id=action.id,
        )
        self._status_changed(old, action)

    def rescue_changed(self, action: Action, enabled: bool, upstream_action_id: int | None, now: datetime) -> None:
        self.rescue_enabled = enabled
        old = self._finish(action, upstream_action_id, now)
        self._record("server.rescue_changed", rescue_enabled=enabled, action_id=action.id)
        self._status_changed(old, action)

    def iso_changed(
        self, action: Action, iso: dict[str, Any] | None, upstream_action_id: int | None, now: datetime
    ) -> None:
        self.iso = iso
        self._finish(action, upstream_action_id, now)
        self._record("server.iso_changed", iso=str(iso["name"]) if iso else "", action_id=action.id)

    def dns_ptr_changed(
        self, action: Action, ip: str, dns_ptr: str | None, upstream_action_id: int | None, now: datetime
    ) -> None:
        if dns_ptr is None:
            self.dns_ptrs.pop(ip, None)
        else:
            self.dns_ptrs[ip] = dns_ptr
        self._finish(action, upstream_action_id, now)
        self._record("server.dns_ptr_changed", ip=ip, dns_ptr=dns_ptr or "", action_id=action.id)

    def backup_changed(
        self,
        action: Action,
        *,
        enabled: bool,
        window: str,
        server_price_hourly: str,
        server_price_monthly: str,
        backup_price_percent: str,
        upstream_action_id: int | None,
        now: datetime,
    ) -> None:
        """enable_backup or disable_backup has finished upstream (``window``: upstream's backup
        window); the event carries the prices backups are charged from."""
        self.backup_enabled = enabled
        self.backup_window = window if enabled else ""
        self._finish(action, upstream_action_id, now)
        self._record(
            "server.backup_changed",
            backup_enabled=enabled,
            server_type_id=self.server_type_id,
            server_type=self.server_type,
            datacenter=self.datacenter,
            server_price_hourly=server_price_hourly,
            server_price_monthly=server_price_monthly,
            backup_price_percent=backup_price_percent,
            action_id=action.id,
        )

    def placement_group_changed(
        self, action: Action, group_id: int | None, old_group_id: int, upstream_action_id: int | None, now: datetime
    ) -> None:
        """add_to_placement_group (joined when it started) or remove_from_placement_group has finished."""
        self.placement_group_id = group_id
        self._finish(action, upstream_action_id, now)
        self._record(
            "server.placement_group_changed",
            placement_group_id=group_id or 0,
            old_placement_group_id=old_group_id,
            action_id=action.id,
        )

    def change_protection(self, action: Action, delete: bool | None, rebuild: bool | None, now: datetime) -> None:
        """The platform's own protection: set at once, its change_protection action finished with it."""
        if delete is not None:
            self.protection_delete = delete
        if rebuild is not None:
            self.protection_rebuild = rebuild
        self._finish(action, None, now)
        self._record(
            "server.protection_changed",
            delete=self.protection_delete,
            rebuild=self.protection_rebuild,
            action_id=action.id,
        )

    def console_requested(self, action: Action) -> None:
        self._record("server.console_requested", action_id=action.id)

    def password_reset(self, action: Action, password: str) -> None:
        """Upstream made a new root password for ``action``: only its hash is kept."""
        self.keep_root_password(password)
        self._record("server.password_reset", action_id=action.id)

    def forget_root_password(self) -> None:
        """Upstream failed to set the password whose hash was kept: which one holds is unknown now."""
        self.root_password_hash = None

    def update(self, name: str | None, labels: dict[str, str] | None) -> list[str]:
        """Rename and relabel (values already checked); the fields that changed."""
        self.ensure_not_suspended()
        fields = []
        if name is not None and name != self.name:
            self.name = name
            fields.append("name")
        if labels is not None and labels != self.labels:
            self.labels = labels
            fields.append("labels")
        if fields:
            self.version += 1
            self._record("server.updated", fields=fields, name=self.name, labels=dict(self.labels))
        return fields

    def suspend(self, reason: str, now: datetime) -> bool:
        """The owner's account is suspended, banned or erased (``reason``); False when the
        server is suspended for that already (an erasure still goes further: it deletes)."""
        if self.suspended_at is not None and (self.suspension_reason == reason or reason != suspension.ERASED):
            return False
        self.suspended_at = self.suspended_at or now
        self.suspension_reason = reason
        return True

    def enforce_suspension(self) -> Action | None:
        """Start the action the suspension asks for (stop, or delete when erased: the protection
        is lifted); None when there is none now (domain/suspension.py)."""
        command = suspension.enforcing_command(self)
        if command is None:
            return None
        if self.suspension_reason == suspension.ERASED:
            self.protection_delete = self.protection_rebuild = False
        self.locked = True
        self.version += 1
        return Action.running(command, self, {})

    def suspended(self, action: Action | None) -> None:
        """Record the suspension (``action``: the stop or delete it started, if any)."""
        self._record("server.suspended", reason=self.suspension_reason, action_id=action.id if action else 0)

    def lift_suspension(self) -> bool:
        """The owner's account is active again; the server stays off. An erased account's
        servers stay on their way out (False, as for one not suspended)."""
        if self.suspended_at is None or self.suspension_reason == suspension.ERASED:
            return False
        self.suspended_at = None
        self.suspension_reason = ""
        self._record("server.unsuspended")
        return True

    def _finish(self, action: Action, upstream_action_id: int | None, now: datetime, *, status: str = "") -> str:
        """Unlock after ``action`` finished upstream, bump the version, finish the action; the status before."""
        old = self.status
        if status:
            self.status = status
        self.locked = False
        self.version += 1
        action.finish(now, upstream_action_id)
        return old

    def _status_changed(self, old: str, action: Action, *, error_code: str = "", always: bool = False) -> None:
        if always or self.status != old:
            self._record(
                "server.status_changed",
                old_status=old,
                status=self.status,
                action_id=action.id,
                error_code=error_code,
                upstream_id=self.hetzner_id or 0,
            )

    def _record(self, event_type: str, **fields: Any) -> None:
        owner = {"server_id": self.id, "user_id": self.user_id, "organization_id": self.organization_id or 0}
        self._emit(event_type, self.id, self.version, {**owner, **fields})


@dataclass
class Action:
    id: int
    command: str
    status: str
    server_id: int | None
    user_id: int | None
    organization_id: int | None
    progress: int = 0
    started: datetime | None = None
    finished: datetime | None = None
    error_code: str = ""
    error_message: str = ""
    upstream_action_id: int | None = None
    version: int = 1
    # What the worker needs to carry it out (never a secret).
    params: dict[str, Any] = field(default_factory=dict)
    # The image it is about (an image's change_protection; create_image: its server's too).
    image_id: int | None = None

    @classmethod
    def running(cls, command: str, server: Server, params: dict[str, Any], *, image_id: int | None = None) -> Action:
        """A new action on ``server`` for the worker to carry out (its id comes from the repository)."""
        return cls(
            id=0,
            command=command,
            status=ACTION_RUNNING,
            server_id=server.id,
            user_id=server.user_id,
            organization_id=server.organization_id,
            params=dict(params),
            image_id=image_id,
        )

    def finish(self, now: datetime, upstream_action_id: int | None = None) -> None:
        """Carried out (``upstream_action_id``: upstream's action that did it, if any)."""
        self.status, self.progress, self.finished = ACTION_SUCCESS, 100, now
        if upstream_action_id is not None:
            self.upstream_action_id = upstream_action_id or None
        self.version += 1

    def fail(self, code: str, message: str, now: datetime) -> None:
        """Upstream refused or failed it for good."""
        self.status, self.progress, self.finished = ACTION_ERROR, 100, now
        self.error_code, self.error_message = code, message
        self.version += 1

    @property
    def resources(self) -> list[dict[str, object]]:
        found: list[dict[str, object]] = [{"id": self.server_id, "type": "server"}] if self.server_id else []
        if self.image_id:
            found.append({"id": self.image_id, "type": "image"})
        return found


class UpstreamFailure(Exception):
    """Upstream refused or failed an action for good (retrying will not help)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
