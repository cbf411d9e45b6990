"""Primary IPs (Hetzner's): a server's own public IPv4 address or IPv6 /64 network, kept as a
resource of its own in a location, assigned to at most one server there.

Hetzner's rules kept here: the type is ``ipv4`` or ``ipv6``; a primary IP lives in one location
and is assigned only to a server of that location, of the same tenant, that is powered off and
has no primary IP of that type yet; it is unassigned only while its server is off (a server
deleted meanwhile leaves it at once); ``auto_delete`` deletes it with the server it is assigned
to; a reverse DNS entry names an address of it and a hostname; a protected one is not deleted;
while an action runs it is ``locked``.

A server's own addresses are primary IPs too: upstream makes them with the server, and network
*adopts* them (``adopted``: the worker labels the upstream ones with the platform's id and
records them, ``auto_delete`` on, assigned to the server). The primary IPs a tenant creates
itself take a unit of its ``primary_ip`` quota; adopted ones come with the server.

The primary IP changes itself: :meth:`PrimaryIp.begin` checks the lock and makes the running
action; the methods that end one unlock it, bump its version, end the action and record their
``primary_ip.*`` events, which the unit of work writes to the outbox when it commits.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from cpshared.aggregate import Aggregate
from cpshared.errors import InvalidInput, PreconditionFailed
from hetzner_conventions.errors import invalid_field
from hetzner_conventions.labels import check_hostname
from network_service.domain.actions import RUNNING, Action, Locked, Protected
from network_service.domain.floating_ips import ServerRef

TYPES: Final = ("ipv4", "ipv6")
MAX_NAME: Final = 255
RESOURCE: Final = "primary_ip"
ASSIGNEE_TYPE: Final = "server"

CREATE: Final = "create_primary_ip"
ASSIGN: Final = "assign_primary_ip"
UNASSIGN: Final = "unassign_primary_ip"
CHANGE_DNS_PTR: Final = "change_dns_ptr"
CHANGE_PROTECTION: Final = "change_protection"
DELETE: Final = "delete_primary_ip"

CREATING: Final = "creating"
READY: Final = "ready"
FAILED: Final = "error"

SERVER_OFF: Final = "stopped"
"""Compute's status of a powered-off server."""


class ServerNotStopped(PreconditionFailed):
    """The server must be powered off for this (Hetzner: 422 server_not_stopped)."""

    code = "server_not_stopped"


def check_type(kind: str) -> str:
    if kind not in TYPES:
        raise invalid_field("type", f"type {kind!r} is unknown; use ipv4 or ipv6")
    return kind


def check_name(name: str) -> str:
    if not name.strip() or len(name) > MAX_NAME:
        raise invalid_field("name", f"name must be 1 to {MAX_NAME} characters")
    return name


def check_assignee_type(assignee_type: str) -> str:
    if assignee_type != ASSIGNEE_TYPE:
        raise invalid_field("assignee_type", f"assignee_type {assignee_type!r} is unknown; use server")
    return assignee_type


def ensure_off(server: ServerRef, what: str) -> None:
    if server.status != SERVER_OFF:
        raise ServerNotStopped(f"server {server.id} must be powered off to {what}; shut it down first")


@dataclass
class PrimaryIp(Aggregate):
    id: int
    user_id: int
    organization_id: int | None
    name: str
    type: str
    location: str
    datacenter_id: int
    labels: dict[str, str] = field(default_factory=dict)
    ip_address: str | None = None
    hetzner_id: int | None = None
    assignee_id: int | None = None
    auto_delete: bool = False
    adopted: bool = False
    dns_ptrs: dict[str, str] = field(default_factory=dict)
    protection_delete: bool = False
    blocked: bool = False
    locked: bool = False
    status: str = CREATING
    created_at: datetime | None = None
    updated_at: datetime | None = None
    deleted_at: datetime | None = None
    version: int = 1

    # -- rules ----------------------------------------------------------------------------------

    def same_tenant(self, user_id: int, organization_id: int | None) -> bool:
        if self.organization_id is not None:
            return organization_id == self.organization_id
        return organization_id is None and user_id == self.user_id

    def ensure_assignable_to(self, server: ServerRef, taken: bool) -> None:
        """The server must be the tenant's, live, in its location, powered off, and (``taken``
        False) without a primary IP of this type."""
        if not server.live or not self.same_tenant(server.user_id, server.organization_id):
            raise invalid_field("assignee_id", f"server {server.id} does not exist")
        if server.location != self.location:
            raise invalid_field(
                "assignee_id",
                f"server {server.id} is in {server.location}; this primary IP can be assigned only "
                f"to servers in {self.location}",
            )
        if self.assignee_id is not None:
            raise InvalidInput(f"primary IP {self.id} is assigned to server {self.assignee_id}; unassign it first")
        if taken:
            raise invalid_field("assignee_id", f"server {server.id} has a primary {self.type} already")
        ensure_off(server, "change its primary IPs")

    def check_dns_ptr(self, ip: str, dns_ptr: str | None) -> str:
        """The address in its normal form when it is this primary IP's, else INVALID_ARGUMENT."""
        try:
            address = ipaddress.ip_address(ip.strip())
        except ValueError:
            raise invalid_field("ip", f"{ip!r} is not an IP address") from None
        if dns_ptr is not None:
            check_hostname("dns_ptr", dns_ptr)
        if self.ip_address is None:
            raise InvalidInput(f"primary IP {self.id} has no address yet; wait for its creation to finish")
        if address not in ipaddress.ip_network(self.ip_address, strict=False):
            raise invalid_field("ip", f"{ip} is not an address of primary IP {self.id} ({self.ip_address})")
        return str(address)

    # -- actions --------------------------------------------------------------------------------

    def ensure_not_blocked(self) -> None:
        if self.blocked:
            raise Locked(f"primary IP {self.id} is blocked: its account is suspended; nothing can be done with it")

    def _ensure_unlocked(self) -> None:
        self.ensure_not_blocked()
        if self.locked:
            raise Locked(f"primary IP {self.id} is locked: another action is running on it; retry when it finished")

    def begin(
        self, command: str, params: dict[str, Any], now: datetime, *, check: Callable[[PrimaryIp], None] | None = None
    ) -> Action:
        """Lock it for ``command`` and make the running action."""
        self._ensure_unlocked()
        if check is not None:
            check(self)
        self.locked = True
        self.version += 1
        return self._action(command, params, now)

    def _action(self, command: str, params: dict[str, Any], now: datetime) -> Action:
        resources = [{"id": self.id, "type": RESOURCE}]
        server = int(params.get("server_id", 0) or 0)
        if server:
            resources.append({"id": server, "type": "server"})
        return Action(
            id=0,
            command=command,
            status=RUNNING,
            resource_type=RESOURCE,
            resource_id=self.id,
            user_id=self.user_id,
            organization_id=self.organization_id,
            params=dict(params),
            resources=resources,
            started=now,
        )

    def _end(self, action: Action, now: datetime) -> None:
        self.locked = False
        self.version += 1
        action.finish(now)

    def provisioned(self, action: Action, hetzner_id: int, ip: str, assignee_id: int | None, now: datetime) -> None:
        """Upstream made it (or its server's, adopted): its address is known."""
        self.hetzner_id, self.ip_address, self.assignee_id, self.status = hetzner_id, ip, assignee_id, READY
        self._end(action, now)
        self._record(
            "primary_ip.created",
            name=self.name,
            type=self.type,
            ip=ip,
            location=self.location,
            assignee_id=assignee_id or 0,
            auto_delete=self.auto_delete,
            adopted=self.adopted,
            labels=dict(self.labels),
            action_id=action.id,
        )

    def assigned(self, action: Action, server_id: int, now: datetime) -> None:
        self.assignee_id = server_id
        self._end(action, now)
        self._record("primary_ip.assigned", assignee_id=server_id, action_id=action.id)

    def unassigned(self, action: Action | None, now: datetime) -> None:
        """Unassigned by an action, or (``action`` None) because its server is gone."""
        old = self.assignee_id or 0
        self.assignee_id = None
        if action is not None:
            self._end(action, now)
        else:
            self.version += 1
        self._record("primary_ip.unassigned", assignee_id=old, action_id=action.id if action else 0)

    def dns_ptr_changed(self, action: Action, ip: str, dns_ptr: str | None, now: datetime) -> None:
        if dns_ptr is None:
            self.dns_ptrs.pop(ip, None)
        else:
            self.dns_ptrs[ip] = dns_ptr
        self._end(action, now)
        self._record("primary_ip.dns_ptr_changed", ip=ip, dns_ptr=dns_ptr or "", action_id=action.id)

    def change_protection(self, delete: bool | None, now: datetime) -> Action:
        """Finished at once: protection is the platform's."""
        self._ensure_unlocked()
        if delete is not None:
            self.protection_delete = delete
        self.version += 1
        action = self._action(CHANGE_PROTECTION, {"delete": self.protection_delete}, now)
        action.finish(now)
        return action

    def protection_recorded(self, action: Action) -> None:
        self._record("primary_ip.protection_changed", delete=self.protection_delete, action_id=action.id)

    def update(self, name: str | None, labels: dict[str, str] | None, auto_delete: bool | None) -> list[str]:
        self.ensure_not_blocked()
        fields = []
        if name is not None and name != self.name:
            self.name = name
            fields.append("name")
        if labels is not None and labels != self.labels:
            self.labels = labels
            fields.append("labels")
        if auto_delete is not None and auto_delete != self.auto_delete:
            self.auto_delete = auto_delete
            fields.append("auto_delete")
        if fields:
            self.version += 1
            self._record(
                "primary_ip.updated",
                fields=fields,
                name=self.name,
                labels=dict(self.labels),
                auto_delete=self.auto_delete,
            )
        return fields

    def delete(self, now: datetime) -> Action:
        """Gone for its tenant now (``protected``, ``locked`` refuse; an assigned one only while its
        server is off, which the caller checked); the worker deletes it upstream and gives its quota back."""
        if self.protection_delete:
            raise Protected(f"primary IP {self.id} is protected against deletion; change its protection first")
        action = self.begin(DELETE, {}, now)
        self.deleted_at = now
        self._record("primary_ip.deleted", reason="deleted")
        return action

    def server_gone(self, now: datetime) -> Action | None:
        """Its server was deleted: ``auto_delete`` deletes it (the delete action, whatever its
        protection, as upstream does), else it is unassigned. None: unassigned (no action)."""
        if not self.auto_delete:
            self.unassigned(None, now)
            return None
        self.assignee_id = None
        self.locked = True
        self.version += 1
        action = self._action(DELETE, {"server_deleted": True}, now)
        self.deleted_at = now
        self._record("primary_ip.deleted", reason="server_deleted")
        return action

    def block(self, reason: str) -> bool:
        if self.blocked:
            return False
        self.blocked = True
        self.version += 1
        self._record("primary_ip.blocked", reason=reason)
        return True

    def unblock(self) -> bool:
        if not self.blocked:
            return False
        self.blocked = False
        self.version += 1
        self._record("primary_ip.unblocked")
        return True

    def erase(self, now: datetime) -> Action | None:
        """Its account was erased: deleted whatever its protection; None while an action runs on it."""
        self.block("erased")
        if self.locked:
            return None
        self.locked = True
        self.version += 1
        action = self._action(DELETE, {"erased": True}, now)
        self.deleted_at = now
        self._record("primary_ip.deleted", reason="erased")
        return action

    def cleaned_up(self, action: Action, now: datetime) -> None:
        """Upstream's copy is gone and the quota is back: the delete action ends."""
        self.locked = False
        self.version += 1
        action.finish(now)

    def action_failed(self, action: Action, code: str, message: str, now: datetime) -> None:
        """Upstream refused ``action`` for good: it ends in error; a failed creation leaves no
        primary IP (the worker gives the quota back)."""
        self.locked = False
        self.version += 1
        action.fail(code, message, now)
        if action.command == CREATE:
            self.status = FAILED
            self.deleted_at = now
            self._record("primary_ip.deleted", reason="create_failed")

    def _record(self, event_type: str, **fields: Any) -> None:
        owner = {"primary_ip_id": self.id, "user_id": self.user_id, "organization_id": self.organization_id or 0}
        self._emit(event_type, self.id, self.version, {**owner, **fields})
