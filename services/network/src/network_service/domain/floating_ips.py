"""Floating IPs (Hetzner's): an IPv4 address or an IPv6 /64 network of a tenant, with a home
location, assignable to one server of the same network zone at a time.

Hetzner's rules kept here: the type is ``ipv4`` or ``ipv6``; the home location is given or is
the server's; a floating IP is assigned only to a server in its home location's network zone; a
reverse DNS entry names an address of the floating IP (its IPv4 address, or one of its IPv6
network) and a hostname; a protected one is not deleted (``protected``); while an action runs
it is ``locked``.

The floating IP changes itself: :meth:`FloatingIp.begin` checks the lock and makes the running
action; the methods that end one (``provisioned``, ``assigned``, ``unassigned``,
``dns_ptr_changed``, ``action_failed``) unlock it, bump its version, end the action and record
their ``floating_ip.*`` events, which the unit of work writes to the outbox when it commits.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from cpshared.aggregate import Aggregate
from cpshared.errors import InvalidInput
from hetzner_conventions.errors import invalid_field
from hetzner_conventions.labels import check_hostname
from network_service.domain.actions import RUNNING, Action, Locked, Protected

TYPES: Final = ("ipv4", "ipv6")
MAX_NAME: Final = 255
MAX_DESCRIPTION: Final = 1000
RESOURCE: Final = "floating_ip"

CREATE: Final = "create_floating_ip"
ASSIGN: Final = "assign_floating_ip"
UNASSIGN: Final = "unassign_floating_ip"
CHANGE_DNS_PTR: Final = "change_dns_ptr"
CHANGE_PROTECTION: Final = "change_protection"
DELETE: Final = "delete_floating_ip"

CREATING: Final = "creating"
READY: Final = "ready"
FAILED: Final = "error"


def check_type(kind: str) -> str:
    if kind not in TYPES:
        raise invalid_field("type", f"type {kind!r} is unknown; use ipv4 or ipv6")
    return kind


def check_name(name: str) -> str:
    if not name.strip() or len(name) > MAX_NAME:
        raise invalid_field("name", f"name must be 1 to {MAX_NAME} characters")
    return name


def check_description(description: str) -> str:
    if len(description) > MAX_DESCRIPTION:
        raise invalid_field("description", f"description must be at most {MAX_DESCRIPTION} characters")
    return description


@dataclass(frozen=True)
class ServerRef:
    """What network needs of a compute server: its tenant and its location's network zone."""

    id: int
    user_id: int
    organization_id: int | None
    location: str
    network_zone: str
    live: bool = True
    status: str = ""
    """Compute's status (``stopped``: powered off)."""


@dataclass(frozen=True)
class LocationRef:
    """A location of compute's catalog (compute calls it a datacenter)."""

    id: int
    code: str
    network_zone: str


@dataclass
class FloatingIp(Aggregate):
    id: int
    user_id: int
    organization_id: int | None
    name: str
    type: str
    home_location: str
    datacenter_id: int
    network_zone: str
    description: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    ip_address: str | None = None
    hetzner_id: int | None = None
    server_id: int | None = None
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

    def ensure_assignable_to(self, server: ServerRef) -> None:
        """The server must be the tenant's, live, and in the home location's network zone."""
        if not server.live or not self.same_tenant(server.user_id, server.organization_id):
            raise invalid_field("server", f"server {server.id} does not exist")
        if server.network_zone != self.network_zone:
            raise invalid_field(
                "server",
                f"server {server.id} is in network zone {server.network_zone}; floating IP {self.id} can be "
                f"assigned only to servers in {self.network_zone} (its home location {self.home_location})",
            )

    def check_dns_ptr(self, ip: str, dns_ptr: str | None) -> str:
        """The address in its normal form when it is this floating IP's, else INVALID_ARGUMENT."""
        try:
            address = ipaddress.ip_address(ip.strip())
        except ValueError:
            raise invalid_field("ip", f"{ip!r} is not an IP address") from None
        if dns_ptr is not None:
            check_hostname("dns_ptr", dns_ptr)
        if self.ip_address is None:
            raise InvalidInput(f"floating IP {self.id} has no address yet; wait for its creation to finish")
        own = ipaddress.ip_network(self.ip_address, strict=False)
        if address not in own:
            raise invalid_field("ip", f"{ip} is not an address of floating IP {self.id} ({self.ip_address})")
        return str(address)

    # -- actions --------------------------------------------------------------------------------

    def ensure_not_blocked(self) -> None:
        if self.blocked:
            raise Locked(f"floating IP {self.id} is blocked: its account is suspended; nothing can be done with it")

    def begin(
        self, command: str, params: dict[str, Any], now: datetime, *, check: Callable[[FloatingIp], None] | None = None
    ) -> Action:
        """Lock it for ``command`` (``locked`` while another runs, or while it is blocked) and make
        the running action."""
        self.ensure_not_blocked()
        if self.locked:
            raise Locked(f"floating IP {self.id} is locked: another action is running on it; retry when it finished")
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

    def provisioned(self, action: Action, hetzner_id: int, ip: str, server_id: int | None, now: datetime) -> None:
        """Upstream made it: its address is known."""
        self.hetzner_id, self.ip_address, self.server_id, self.status = hetzner_id, ip, server_id, READY
        self._end(action, now)
        self._record(
            "floating_ip.created",
            name=self.name,
            type=self.type,
            ip=ip,
            home_location=self.home_location,
            server_id=server_id or 0,
            labels=dict(self.labels),
            action_id=action.id,
        )

    def assigned(self, action: Action, server_id: int, now: datetime) -> None:
        old = self.server_id
        self.server_id = server_id
        self._end(action, now)
        self._record("floating_ip.assigned", server_id=server_id, old_server_id=old or 0, action_id=action.id)

    def unassigned(self, action: Action | None, now: datetime) -> None:
        """Unassigned by an action, or (``action`` None) because its server is gone."""
        old = self.server_id or 0
        self.server_id = None
        if action is not None:
            self._end(action, now)
        else:
            self.version += 1
        self._record("floating_ip.unassigned", server_id=old, action_id=action.id if action else 0)

    def dns_ptr_changed(self, action: Action, ip: str, dns_ptr: str | None, now: datetime) -> None:
        if dns_ptr is None:
            self.dns_ptrs.pop(ip, None)
        else:
            self.dns_ptrs[ip] = dns_ptr
        self._end(action, now)
        self._record("floating_ip.dns_ptr_changed", ip=ip, dns_ptr=dns_ptr or "", action_id=action.id)

    def change_protection(self, delete: bool | None, now: datetime) -> Action:
        """Finished at once: protection is the platform's."""
        self.ensure_not_blocked()
        if self.locked:
            raise Locked(f"floating IP {self.id} is locked: another action is running on it; retry when it finished")
        if delete is not None:
            self.protection_delete = delete
        self.version += 1
        action = self._action(CHANGE_PROTECTION, {"delete": self.protection_delete}, now)
        action.finish(now)
        return action

    def protection_recorded(self, action: Action) -> None:
        """Record the protection change once its action has its id."""
        self._record("floating_ip.protection_changed", delete=self.protection_delete, action_id=action.id)

    def update(self, name: str | None, description: str | None, labels: dict[str, str] | None) -> list[str]:
        self.ensure_not_blocked()
        fields = []
        if name is not None and name != self.name:
            self.name = name
            fields.append("name")
        if description is not None and description != self.description:
            self.description = description
            fields.append("description")
        if labels is not None and labels != self.labels:
            self.labels = labels
            fields.append("labels")
        if fields:
            self.version += 1
            self._record(
                "floating_ip.updated",
                fields=fields,
                name=self.name,
                description=self.description,
                labels=dict(self.labels),
            )
        return fields

    def delete(self, now: datetime) -> Action:
        """Gone for its tenant now (``protected``, ``locked`` refuse); the worker deletes it
        upstream and gives its quota back."""
        if self.protection_delete:
            raise Protected(f"floating IP {self.id} is protected against deletion; change its protection first")
        action = self.begin(DELETE, {}, now)
        self.deleted_at = now
        self._record("floating_ip.deleted", reason="deleted")
        return action

    def block(self, reason: str) -> bool:
        """Its account was suspended, banned or erased: nothing is done with it until the account is
        active again. False when it was blocked already."""
        if self.blocked:
            return False
        self.blocked = True
        self.version += 1
        self._record("floating_ip.blocked", reason=reason)
        return True

    def unblock(self) -> bool:
        if not self.blocked:
            return False
        self.blocked = False
        self.version += 1
        self._record("floating_ip.unblocked")
        return True

    def erase(self, now: datetime) -> Action | None:
        """Its account was erased: deleted whatever its protection (the worker deletes it upstream);
        None while an action runs on it (it stays blocked, ``erase`` is for the next pass)."""
        self.block("erased")
        if self.locked:
            return None
        self.locked = True
        self.version += 1
        action = self._action(DELETE, {"erased": True}, now)
        self.deleted_at = now
        self._record("floating_ip.deleted", reason="erased")
        return action

    def cleaned_up(self, action: Action, now: datetime) -> None:
        """Upstream's copy is gone and the quota is back: the delete action ends."""
        self.locked = False
        self.version += 1
        action.finish(now)

    def action_failed(self, action: Action, code: str, message: str, now: datetime) -> None:
        """Upstream refused ``action`` for good: it ends in error; a failed creation leaves no
        floating IP (the worker gives the quota back)."""
        self.locked = False
        self.version += 1
        action.fail(code, message, now)
        if action.command == CREATE:
            self.status = FAILED
            self.deleted_at = now
            self._record("floating_ip.deleted", reason="create_failed")

    def _record(self, event_type: str, **fields: Any) -> None:
        owner = {"floating_ip_id": self.id, "user_id": self.user_id, "organization_id": self.organization_id or 0}
        self._emit(event_type, self.id, self.version, {**owner, **fields})
