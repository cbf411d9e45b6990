"""Firewalls (Hetzner's): a tenant's rule list, applied to servers named one by one or chosen by a
label selector (a server created later whose labels match is covered too).

Hetzner's rules kept here, each broken one answered before anything changed:
- a rule has a ``direction`` (``in``: ``source_ips`` required, ``out``: ``destination_ips``
  required), a ``protocol`` (``tcp``, ``udp``, ``icmp``, ``esp``, ``gre``), a ``port`` (a port
  ``80`` or a range ``1024-2048`` within 1-65535) for ``tcp``/``udp`` only, CIDRs (IPv4 or IPv6,
  strict: ``10.0.0.1/8`` and ``/33`` are refused), a ``description`` of at most 255 characters;
  a firewall holds at most :data:`MAX_RULES` rules;
- it is applied to a server or a label selector at most once each; a firewall applied to
  anything is in use (``resource_in_use``) and is not deleted; while an action runs it is
  ``locked``; its account suspended, it is ``blocked``.

Persisted by :mod:`network_service.adapters.firewall_repository`, used by
:mod:`network_service.service_layer.firewalls`; the worker and the API do not serve it yet (see
the README).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from cpshared.aggregate import Aggregate
from cpshared.errors import NotFound
from hetzner_conventions.errors import invalid_field
from hetzner_conventions.label_selector import parse_label_selector
from network_service.domain.actions import RUNNING, Action, Locked
from network_service.domain.networks import HetznerRefusal, ResourceInUse

RESOURCE: Final = "firewall"
MAX_PER_SERVER: Final = 5
"""Hetzner's limit: a server is covered by at most 5 firewalls (label selectors included)."""
DIRECTIONS: Final = ("in", "out")
PROTOCOLS: Final = ("tcp", "udp", "icmp", "esp", "gre")
PORT_PROTOCOLS: Final = ("tcp", "udp")
MAX_RULES: Final = 50
MAX_IPS_PER_RULE: Final = 100
MAX_DESCRIPTION: Final = 255
MAX_NAME: Final = 128
"""Hetzner limits a firewall's name to 128 characters."""

SET_RULES: Final = "set_firewall_rules"
APPLY: Final = "apply_firewall"
REMOVE: Final = "remove_firewall"


class FirewallAlreadyApplied(HetznerRefusal):
    code = "firewall_already_applied"


class FirewallAlreadyRemoved(HetznerRefusal):
    code = "firewall_already_removed"


class ServerAlreadyAdded(HetznerRefusal):
    code = "server_already_added"


class FirewallResourceNotFound(NotFound):
    """A server to apply a firewall to (or remove it from) that the caller does not reach."""

    code = "firewall_resource_not_found"


def _cidrs(name: str, values: list[str]) -> list[str]:
    if len(values) > MAX_IPS_PER_RULE:
        raise invalid_field(name, f"a rule names at most {MAX_IPS_PER_RULE} ranges in {name}")
    checked = []
    for value in values:
        try:
            checked.append(str(ipaddress.ip_network(str(value).strip(), strict=True)))
        except ValueError:
            raise invalid_field(name, f"{value!r} is not an IP range in CIDR notation (like 10.0.0.0/8)") from None
    return checked


def _port(protocol: str, port: str | None) -> str | None:
    if protocol not in PORT_PROTOCOLS:
        if port:
            raise invalid_field("port", f"protocol {protocol} has no ports; give port only for tcp and udp")
        return None
    if not port:
        raise invalid_field("port", f"protocol {protocol} needs a port or a port range (like 80 or 1024-2048)")
    first, dash, last = port.partition("-")
    if not first.isdigit() or (dash and not last.isdigit()):
        raise invalid_field("port", f"{port!r} is not a port or a port range (like 80 or 1024-2048)")
    low, high = int(first), int(last) if dash else int(first)
    if not 1 <= low <= high <= 65535:
        raise invalid_field("port", f"{port} is not within 1-65535 (a range goes from low to high)")
    return f"{low}-{high}" if dash else str(low)


@dataclass(frozen=True)
class Rule:
    direction: str
    protocol: str
    port: str | None = None
    source_ips: tuple[str, ...] = ()
    destination_ips: tuple[str, ...] = ()
    description: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "direction": self.direction,
            "protocol": self.protocol,
            "port": self.port,
            "source_ips": list(self.source_ips),
            "destination_ips": list(self.destination_ips),
            "description": self.description,
        }

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> Rule:
        return cls(
            direction=data["direction"],
            protocol=data["protocol"],
            port=data.get("port"),
            source_ips=tuple(data.get("source_ips") or ()),
            destination_ips=tuple(data.get("destination_ips") or ()),
            description=data.get("description"),
        )


def check_rule(
    direction: str,
    protocol: str,
    port: str | None = None,
    source_ips: list[str] | None = None,
    destination_ips: list[str] | None = None,
    description: str | None = None,
) -> Rule:
    if direction not in DIRECTIONS:
        raise invalid_field("direction", f"direction {direction!r} is unknown; use in or out")
    if protocol not in PROTOCOLS:
        raise invalid_field("protocol", f"protocol {protocol!r} is unknown; use {', '.join(PROTOCOLS)}")
    sources = _cidrs("source_ips", list(source_ips or []))
    destinations = _cidrs("destination_ips", list(destination_ips or []))
    if direction == "in" and (not sources or destinations):
        raise invalid_field("source_ips", "an incoming rule names source_ips (and no destination_ips)")
    if direction == "out" and (not destinations or sources):
        raise invalid_field("destination_ips", "an outgoing rule names destination_ips (and no source_ips)")
    if description is not None and len(description) > MAX_DESCRIPTION:
        raise invalid_field("description", f"description must be at most {MAX_DESCRIPTION} characters")
    return Rule(direction, protocol, _port(protocol, port), tuple(sources), tuple(destinations), description)


def check_rules(rules: list[Mapping[str, Any]]) -> list[Rule]:
    """A whole rule list (``set_rules``): at most :data:`MAX_RULES`, each one checked."""
    if len(rules) > MAX_RULES:
        raise invalid_field("rules", f"a firewall has at most {MAX_RULES} rules; {len(rules)} were given")
    return [
        check_rule(
            str(r.get("direction", "")),
            str(r.get("protocol", "")),
            r.get("port"),
            list(r.get("source_ips") or []),
            list(r.get("destination_ips") or []),
            r.get("description"),
        )
        for r in rules
    ]


def check_selector(selector: str) -> str:
    """A label selector in Hetzner's syntax (INVALID_ARGUMENT naming ``label_selector`` otherwise)."""
    if not selector.strip():
        raise invalid_field("label_selector", "a label selector must not be empty")
    parse_label_selector(selector)
    return selector


def check_name(name: str) -> str:
    if not name.strip() or len(name) > MAX_NAME:
        raise invalid_field("name", f"name must be 1 to {MAX_NAME} characters")
    return name


@dataclass
class Firewall(Aggregate):
    id: int
    user_id: int
    organization_id: int | None
    name: str
    rules: list[Rule] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    servers: list[int] = field(default_factory=list)
    """Servers it is applied to one by one."""
    selectors: list[str] = field(default_factory=list)
    """Label selectors it is applied to."""
    hetzner_id: int | None = None
    blocked: bool = False
    locked: bool = False
    synced: bool = True
    """False while upstream may not cover the servers its selectors match now (a server's labels
    changed): network's worker brings upstream in line."""
    created_at: datetime | None = None
    deleted_at: datetime | None = None
    version: int = 1

    def update(self, name: str | None, labels: dict[str, str] | None) -> bool:
        """Rename it and/or replace its labels (both checked by the caller); whether anything changed."""
        changed = False
        if name is not None and name != self.name:
            self.name = name
            changed = True
        if labels is not None and labels != self.labels:
            self.labels = dict(labels)
            changed = True
        if changed:
            self.version += 1
            self._record("firewall.updated", name=self.name, labels=dict(self.labels))
        return changed

    def created(self) -> None:
        """Stored: record ``firewall.created`` (its id is known now)."""
        self._record("firewall.created", name=self.name, rules=len(self.rules), labels=dict(self.labels))

    def covers(self, server_id: int, server_labels: Mapping[str, str]) -> bool:
        """Whether it applies to that server: named, or its labels match one of the selectors."""
        return server_id in self.servers or any(parse_label_selector(s).matches(server_labels) for s in self.selectors)

    def check_apply(self, server_ids: list[int], selectors: list[str]) -> tuple[list[int], list[str]]:
        """What applying would add (those it has already are Hetzner's ``firewall_already_applied``)."""
        if len(set(server_ids)) < len(server_ids):
            raise ServerAlreadyAdded("a server is named more than once in apply_to")
        for server_id in server_ids:
            if server_id in self.servers:
                raise FirewallAlreadyApplied(f"firewall {self.id} is applied to server {server_id} already")
        for selector in selectors:
            if selector in self.selectors:
                raise FirewallAlreadyApplied(f"firewall {self.id} is applied to {selector!r} already")
        return list(dict.fromkeys(server_ids)), [check_selector(s) for s in dict.fromkeys(selectors)]

    def check_remove(self, server_ids: list[int], selectors: list[str]) -> tuple[list[int], list[str]]:
        for server_id in server_ids:
            if server_id not in self.servers:
                raise FirewallAlreadyRemoved(f"firewall {self.id} is not applied to server {server_id}")
        for selector in selectors:
            if selector not in self.selectors:
                raise FirewallAlreadyRemoved(f"firewall {self.id} is not applied to {selector!r}")
        return list(dict.fromkeys(server_ids)), list(dict.fromkeys(selectors))

    def begin(self, command: str, params: dict[str, Any], now: datetime) -> Action:
        if self.blocked:
            raise Locked(f"firewall {self.id} is blocked: its account is suspended; nothing can be done with it")
        if self.locked:
            raise Locked(f"firewall {self.id} is locked: another action is running on it; retry when it finished")
        self.locked = True
        self.version += 1
        return Action(
            id=0,
            command=command,
            status=RUNNING,
            resource_type=RESOURCE,
            resource_id=self.id,
            user_id=self.user_id,
            organization_id=self.organization_id,
            params=dict(params),
            resources=[{"id": self.id, "type": RESOURCE}],
            started=now,
        )

    def completed(self, action: Action, now: datetime) -> None:
        """Upstream did ``action``: apply its change, unlock, end it and record its event."""
        self.locked = False
        self.version += 1
        action.finish(now)
        params = action.params
        if action.command == SET_RULES:
            self.rules = [Rule.of(r) for r in params["rules"]]
            self._record("firewall.rules_set", rules=len(self.rules), action_id=action.id)
        elif action.command == APPLY:
            self.servers.extend(params["servers"])
            self.selectors.extend(params["selectors"])
            self._record(
                "firewall.applied", servers=params["servers"], selectors=params["selectors"], action_id=action.id
            )
        elif action.command == REMOVE:
            self.servers = [s for s in self.servers if s not in params["servers"]]
            self.selectors = [s for s in self.selectors if s not in params["selectors"]]
            self._record(
                "firewall.removed", servers=params["servers"], selectors=params["selectors"], action_id=action.id
            )

    def action_failed(self, action: Action, code: str, message: str, now: datetime) -> None:
        """Upstream refused ``action`` for good: it ends in error with upstream's code and nothing
        changed here."""
        self.locked = False
        self.version += 1
        action.fail(code, message, now)

    def after(self, action: Action) -> tuple[list[int], list[str]]:
        """The servers and selectors it is applied to once ``action`` is done."""
        params = action.params
        if action.command == APPLY:
            return [*self.servers, *params["servers"]], [*self.selectors, *params["selectors"]]
        if action.command == REMOVE:
            return (
                [s for s in self.servers if s not in params["servers"]],
                [s for s in self.selectors if s not in params["selectors"]],
            )
        return list(self.servers), list(self.selectors)

    def server_gone(self, server_id: int) -> bool:
        """Compute deleted the server: it is no more among the servers it is applied to."""
        if server_id not in self.servers:
            return False
        self.servers.remove(server_id)
        self.version += 1
        self._record("firewall.removed", servers=[server_id], selectors=[], action_id=0)
        return True

    def delete(self, now: datetime) -> None:
        if self.servers or self.selectors:
            raise ResourceInUse(f"firewall {self.id} is applied to resources; remove it from them first")
        if self.locked:
            raise Locked(f"firewall {self.id} is locked: another action is running on it; retry when it finished")
        self.deleted_at = now
        self.version += 1
        self._record("firewall.deleted", reason="deleted")

    def erase(self, now: datetime) -> bool:
        """Its account was erased: it goes, applied or not (network's worker sweeps it upstream);
        one busy with an action stays (False)."""
        if self.locked:
            return False
        self.servers, self.selectors = [], []
        self.deleted_at = now
        self.version += 1
        self._record("firewall.deleted", reason="erased")
        return True

    def block(self, reason: str) -> bool:
        if self.blocked:
            return False
        self.blocked = True
        self.version += 1
        self._record("firewall.blocked", reason=reason)
        return True

    def unblock(self) -> bool:
        if not self.blocked:
            return False
        self.blocked = False
        self.version += 1
        self._record("firewall.unblocked")
        return True

    def _record(self, event_type: str, **fields: Any) -> None:
        owner = {"firewall_id": self.id, "user_id": self.user_id, "organization_id": self.organization_id or 0}
        self._emit(event_type, self.id, self.version, {**owner, **fields})


def new_firewall(
    user_id: int,
    organization_id: int | None,
    name: str,
    rules: list[Rule],
    labels: dict[str, str],
) -> Firewall:
    """A firewall not stored yet (its rules and labels checked by the caller); not applied to
    anything, not upstream yet (unsynced: network's worker makes it there)."""
    return Firewall(
        id=0,
        user_id=user_id,
        organization_id=organization_id,
        name=check_name(name),
        rules=rules,
        labels=labels,
        synced=False,
    )
