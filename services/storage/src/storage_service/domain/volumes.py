"""Volumes and the actions that change them: the two aggregates and their rules.

A volume is block storage of 10 to 10,240 GB in one location, attachable to one server there
(a server holds at most 16). A change is an action (Hetzner's vocabulary: ``create_volume``,
``attach_volume`` …) that the storage worker carries out upstream; while one runs the volume is
locked and a second is refused (``locked``). A volume only grows; deleting honours its delete
protection and needs it detached.

Statuses are the seed's (``creating``, ``available``, ``attached``, ``detaching``,
``deleting``, ``error``); the gateway answers Hetzner's (``creating``/``available``).

The volume changes itself: :meth:`Volume.begin` checks the rules, locks it, bumps its version
and makes the running :class:`Action`; the methods that end an action (``provisioned``,
``attached``, ``detached``, ``resized``, ``protection_changed``, ``deleted``,
``action_failed``) unlock it, bump its version, finish the action and record their
``volume.*`` events.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from cpshared.errors import InvalidInput, LimitExceeded, PreconditionFailed
from hetzner_conventions.labels import check_labels
from storage_service.domain.aggregate import Aggregate

MIN_SIZE_GB: Final = 10
MAX_SIZE_GB: Final = 10240
MAX_PER_SERVER: Final = 16
FORMATS: Final = ("ext4", "xfs")
MAX_NAME: Final = 255

CREATING: Final = "creating"
AVAILABLE: Final = "available"
ATTACHED: Final = "attached"
DETACHING: Final = "detaching"
DELETING: Final = "deleting"
ERROR: Final = "error"
STATUSES: Final = (CREATING, AVAILABLE, ATTACHED, DETACHING, DELETING, ERROR)

CREATE: Final = "create_volume"
DELETE: Final = "delete_volume"
ATTACH: Final = "attach_volume"
DETACH: Final = "detach_volume"
RESIZE: Final = "resize_volume"
CHANGE_PROTECTION: Final = "change_protection"
COMMANDS: Final = (CREATE, DELETE, ATTACH, DETACH, RESIZE, CHANGE_PROTECTION)

ACTION_RUNNING: Final = "running"
ACTION_SUCCESS: Final = "success"
ACTION_ERROR: Final = "error"

_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,253}[A-Za-z0-9])?$")


class Locked(PreconditionFailed):
    """Another action is running on the volume (Hetzner: 423 locked)."""

    code = "locked"


class Protected(PreconditionFailed):
    """The volume is protected against deletion (Hetzner: 423 protected)."""

    code = "protected"


class InUse(PreconditionFailed):
    """The volume is attached (Hetzner: 422 resource_in_use)."""

    code = "resource_in_use"


def field_error(name: str, message: str) -> InvalidInput:
    return InvalidInput(message, details={"fields": [{"name": name, "messages": [message]}]})


def check_name(name: str) -> str:
    if not _NAME.match(name) or len(name) > MAX_NAME:
        raise field_error(
            "name",
            f"name {name!r} must be 1 to {MAX_NAME} letters, digits, '.', '_' or '-', "
            "starting and ending with a letter or digit",
        )
    return name


def check_size(size_gb: int) -> int:
    if not MIN_SIZE_GB <= size_gb <= MAX_SIZE_GB:
        raise field_error("size", f"size must be {MIN_SIZE_GB} to {MAX_SIZE_GB} GB, not {size_gb}")
    return size_gb


def check_format(fmt: str) -> str:
    if fmt and fmt not in FORMATS:
        raise field_error("format", f"format {fmt!r} is unknown; use {' or '.join(FORMATS)}")
    return fmt


def check_statuses(statuses: list[str]) -> list[str]:
    for status in statuses:
        if status not in STATUSES:
            raise field_error("status", f"status {status!r} is unknown; use one of {', '.join(STATUSES)}")
    return statuses


@dataclass(frozen=True)
class ServerInfo:
    """What storage needs to know of a server (compute's): whose, where, whether it lives."""

    id: int
    user_id: int
    organization_id: int | None
    location: str
    live: bool


@dataclass
class Action:
    id: int
    command: str
    status: str
    volume_id: int
    user_id: int
    organization_id: int | None
    server_id: int | None = None
    progress: int = 0
    started: datetime | None = None
    finished: datetime | None = None
    error_code: str = ""
    error_message: str = ""
    upstream_action_id: int | None = None
    version: int = 1
    # What the worker needs to carry it out (never a secret).
    params: dict[str, Any] = field(default_factory=dict)

    def finish(self, now: datetime, upstream_action_id: int | None = None) -> None:
        self.status, self.progress, self.finished = ACTION_SUCCESS, 100, now
        if upstream_action_id:
            self.upstream_action_id = upstream_action_id
        self.version += 1

    def fail(self, code: str, message: str, now: datetime) -> None:
        self.status, self.progress, self.finished = ACTION_ERROR, 100, now
        self.error_code, self.error_message = code, message
        self.version += 1


@dataclass
class Volume(Aggregate):
    id: int
    user_id: int
    organization_id: int | None
    name: str
    size_gb: int
    location: str
    datacenter_id: int
    status: str = CREATING
    server_id: int | None = None
    format: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    protection_delete: bool = False
    locked: bool = False
    blocked: bool = False
    erased: bool = False
    hetzner_id: int = 0
    created_at: datetime | None = None
    updated_at: datetime | None = None
    deleted_at: datetime | None = None
    version: int = 1

    @classmethod
    def new(
        cls,
        *,
        user_id: int,
        organization_id: int | None,
        name: str,
        size_gb: int,
        location: str,
        datacenter_id: int,
        fmt: str,
        labels: dict[str, str],
    ) -> Volume:
        return cls(
            id=0,
            user_id=user_id,
            organization_id=organization_id,
            name=check_name(name),
            size_gb=check_size(size_gb),
            location=location,
            datacenter_id=datacenter_id,
            format=check_format(fmt),
            labels=check_labels(dict(labels)),
            locked=True,
        )

    @property
    def live(self) -> bool:
        return self.deleted_at is None

    def same_tenant(self, user_id: int, organization_id: int | None) -> bool:
        if self.organization_id is not None:
            return organization_id == self.organization_id
        return organization_id is None and user_id == self.user_id

    def created(self, server_id: int | None) -> Action:
        """Record the new volume (the repository gave it its id); its running create_volume."""
        self._record(
            "volume.created",
            name=self.name,
            size_gb=self.size_gb,
            location=self.location,
            server_id=server_id or 0,
            format=self.format,
            labels=dict(self.labels),
        )
        return self._action(CREATE, {"server_id": server_id or 0}, server_id)

    def _action(self, command: str, params: dict[str, Any], server_id: int | None = None) -> Action:
        return Action(
            id=0,
            command=command,
            status=ACTION_RUNNING,
            volume_id=self.id,
            user_id=self.user_id,
            organization_id=self.organization_id,
            server_id=server_id,
            params=dict(params),
        )

    def begin(self, command: str, params: dict[str, Any], check: Callable[[Volume], None] | None = None) -> Action:
        """Check the rules of ``command``, lock the volume and start its action."""
        self.ensure_not_blocked()
        if self.locked:
            raise Locked(f"volume {self.id} is locked: an action is running on it; wait for it to finish")
        if self.status in (CREATING, ERROR) and command != DELETE:
            raise PreconditionFailed(f"volume {self.id} is {self.status}; it cannot be changed now")
        if check is not None:
            check(self)
        self.locked = True
        self.version += 1
        server_id = params.get("server_id") or self.server_id
        return self._action(command, params, server_id if command in (ATTACH, DETACH) else None)

    def ensure_not_blocked(self) -> None:
        if self.blocked:
            raise Locked(f"volume {self.id} is locked: its account is suspended; nothing can be done with it")

    # -- suspension -------------------------------------------------------------------------

    def block(self) -> bool:
        """Its account was suspended, banned or erased: no customer action until it is active
        again (the volume stays, attached or not). False when it was blocked already."""
        if self.blocked:
            return False
        self.blocked = True
        return True

    def unblock(self) -> bool:
        if not self.blocked:
            return False
        self.blocked = False
        return True

    def erase(self, now: datetime) -> Action | None:
        """Its account was erased: detached and deleted whatever its protection (the worker's
        delete detaches it upstream first and removes it there). None while another action runs
        on it (a create included): it stays blocked and ``erased``, and the worker erases it when
        that action ends (:meth:`erase_pending`)."""
        self.block()
        self.erased = True
        if self.locked or self.status == DELETING:
            return None
        if self.server_id is not None:
            self.detached(None, now, reason="account_erased")
        self.locked = True
        self.version += 1
        self.status = DELETING
        return self._action(DELETE, {"erased": True})

    def erase_pending(self, now: datetime) -> Action | None:
        """The erasure its account's ``user.erased`` left for when its action ended, if any."""
        if not self.erased or not self.live or self.locked or self.status == DELETING:
            return None
        return self.erase(now)

    # -- the rules of each command ------------------------------------------------------------

    def check_attach(self, server: ServerInfo, attached_there: int) -> None:
        if self.server_id is not None:
            raise InvalidInput(
                f"volume {self.id} is attached to server {self.server_id} already; detach it first",
                details={"fields": [{"name": "server", "messages": ["volume already attached"]}]},
            )
        if not server.live:
            raise field_error("server", f"server {server.id} does not exist")
        if server.location != self.location:
            raise field_error(
                "server",
                f"server {server.id} is in {server.location}, volume {self.id} in {self.location}; "
                "a volume attaches only to a server in its location",
            )
        if attached_there >= MAX_PER_SERVER:
            raise LimitExceeded(f"server {server.id} has {MAX_PER_SERVER} volumes already, the most a server holds")

    def check_detach(self) -> None:
        if self.server_id is None:
            raise InvalidInput(f"volume {self.id} is not attached")

    def check_resize(self, size_gb: int) -> None:
        if size_gb <= self.size_gb:
            raise field_error("size", f"a volume only grows: size must be more than its {self.size_gb} GB")
        check_size(size_gb)

    def check_delete(self) -> None:
        if self.protection_delete:
            raise Protected(f"volume {self.id} is protected against deletion; change its protection first")
        if self.server_id is not None:
            raise InUse(f"volume {self.id} is attached to server {self.server_id}; detach it first")

    # -- changes answered at once -----------------------------------------------------------

    def update(self, name: str | None, labels: dict[str, str] | None) -> list[str]:
        self.ensure_not_blocked()
        fields = []
        if name is not None and name != self.name:
            self.name = check_name(name)
            fields.append("name")
        if labels is not None and labels != self.labels:
            self.labels = check_labels(dict(labels))
            fields.append("labels")
        if fields:
            self.version += 1
            self._record("volume.updated", fields=fields, name=self.name, labels=dict(self.labels))
        return fields

    # -- the ends of actions ----------------------------------------------------------------

    def _end(self, action: Action, now: datetime, upstream_action_id: int | None = None) -> None:
        self.locked = False
        self.version += 1
        action.finish(now, upstream_action_id)

    def provisioned(
        self, action: Action, hetzner_id: int, now: datetime, upstream_action_id: int | None = None
    ) -> None:
        """Made upstream (and attached to the server it was made on, which held its slot)."""
        self.hetzner_id = hetzner_id
        self.status = ATTACHED if self.server_id is not None else AVAILABLE
        self._end(action, now, upstream_action_id)
        self._record("volume.provisioned", hetzner_id=hetzner_id, size_gb=self.size_gb)
        if self.server_id is not None:
            self._record("volume.attached", server_id=self.server_id)

    def attached(self, action: Action, server_id: int, now: datetime, upstream_action_id: int | None = None) -> None:
        self.server_id = server_id
        self.status = ATTACHED
        self._end(action, now, upstream_action_id)
        self._record("volume.attached", server_id=server_id)

    def detaching(self) -> None:
        self.status = DETACHING

    def detached(
        self, action: Action | None, now: datetime, upstream_action_id: int | None = None, *, reason: str = "requested"
    ) -> None:
        server_id = self.server_id or 0
        self.server_id = None
        self.status = AVAILABLE
        if action is not None:
            self._end(action, now, upstream_action_id)
        else:
            self.version += 1
        self._record("volume.detached", server_id=server_id, reason=reason)

    def resized(self, action: Action, size_gb: int, now: datetime, upstream_action_id: int | None = None) -> None:
        old, self.size_gb = self.size_gb, size_gb
        self._end(action, now, upstream_action_id)
        self._record("volume.resized", old_size_gb=old, size_gb=size_gb)

    def protection_changed(self, action: Action, delete: bool, now: datetime) -> None:
        self.protection_delete = delete
        self._end(action, now)
        self._record("volume.protection_changed", delete=delete)

    def deleting(self) -> None:
        self.status = DELETING

    def deleted(self, action: Action, now: datetime) -> None:
        self.deleted_at = now
        self.server_id = None
        self._end(action, now)
        self._record("volume.deleted", size_gb=self.size_gb)

    def action_failed(self, action: Action, code: str, message: str, now: datetime) -> None:
        """Upstream refused ``action`` for good: the volume is as it was (a create: ``error``)."""
        if action.command == CREATE:
            self.status = ERROR
            self.server_id = None
        elif action.command == ATTACH:
            self.server_id = None
            self.status = AVAILABLE
        elif action.command == DETACH:
            self.status = ATTACHED
        elif action.command == DELETE:
            self.status = ATTACHED if self.server_id is not None else AVAILABLE
        self.locked = False
        self.version += 1
        action.fail(code, message, now)
        self._record(
            "volume.action_failed", action_id=action.id, command=action.command, error_code=code, error_message=message
        )

    def _record(self, event_type: str, **fields: Any) -> None:
        owner = {"volume_id": self.id, "user_id": self.user_id, "organization_id": self.organization_id or 0}
        self._emit(event_type, self.id, self.version, {**owner, **fields})


class UpstreamFailure(Exception):
    """Upstream refused or failed an action for good (retrying will not help)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
