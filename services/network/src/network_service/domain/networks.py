"""Private networks (Hetzner's): an RFC 1918 IPv4 range of a tenant, cut into subnets per network
zone, with routes, to which servers of the same network zone are attached with a private IP and
alias IPs.

Hetzner's rules kept here, each broken one answered before anything changed:
- the network's ``ip_range`` is a private range of RFC 1918 (10.0.0.0/8, 172.16.0.0/12,
  192.168.0.0/16) of at least a /24; it only grows (``change_ip_range`` to a range that holds
  the old one);
- a subnet is of type ``cloud``, ``server`` or ``vswitch`` (a vSwitch subnet names its
  ``vswitch_id``, the others none), lies inside the range, is at least a /30 and overlaps no
  other subnet nor a route's destination; its gateway is the first IP of the network's range;
- a route's destination is a private range that overlaps no subnet, no other route's
  destination and not the network's gateway; its gateway is an address of the range other than
  the network's gateway and 172.31.1.1, outside every vSwitch subnet;
- a server is attached once (``server_already_attached``), in its network zone's ``cloud`` or
  ``server`` subnets (``no_subnet_available``), with a free address (``ip_not_available``),
  chosen lowest first or given, and up to :data:`MAX_ALIAS_IPS` alias IPs from the same subnets;
- a subnet a server has an address in is in use (``resource_in_use``); a protected network is
  not deleted (``protected``), and deleting one detaches its servers; while an action runs it
  is ``locked``.

The network changes itself: ``begin_*`` methods check their rule, lock it and make the running
action (its ``params`` say what changes); :meth:`Network.completed` applies that change once
upstream did it, unlocks, ends the action and records the ``network.*`` event, which the unit of
work writes to the outbox when it commits.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from cpshared.aggregate import Aggregate
from cpshared.errors import InvalidInput, NotFound, PreconditionFailed
from hetzner_conventions.errors import invalid_field
from network_service.domain.actions import RUNNING, Action, Locked, Protected
from network_service.domain.floating_ips import ServerRef

RESOURCE: Final = "network"
PRIVATE_RANGES: Final = tuple(ipaddress.ip_network(r) for r in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))
NETWORK_ZONES: Final = ("eu-central", "us-east", "us-west", "ap-southeast")
SUBNET_TYPES: Final = ("cloud", "server", "vswitch")
SERVER_SUBNET_TYPES: Final = ("cloud", "server")
PUBLIC_GATEWAY: Final = ipaddress.ip_address("172.31.1.1")
"""Hetzner's gateway of every server's public interface: never a route's gateway."""
LARGEST_PREFIX_NETWORK: Final = 24
LARGEST_PREFIX_SUBNET: Final = 30
MAX_SUBNETS: Final = 50
MAX_ROUTES: Final = 100
MAX_ALIAS_IPS: Final = 5
MAX_NAME: Final = 255

_PRIVATE: Final = tuple(ipaddress.IPv4Network(str(r)) for r in PRIVATE_RANGES)

CREATE: Final = "create_network"
DELETE: Final = "delete_network"
ADD_SUBNET: Final = "add_subnet"
DELETE_SUBNET: Final = "delete_subnet"
ADD_ROUTE: Final = "add_route"
DELETE_ROUTE: Final = "delete_route"
CHANGE_IP_RANGE: Final = "change_ip_range"
CHANGE_PROTECTION: Final = "change_protection"
ATTACH: Final = "attach_to_network"
DETACH: Final = "detach_from_network"
CHANGE_ALIAS_IPS: Final = "change_alias_ips"

CREATING: Final = "creating"
READY: Final = "ready"
FAILED: Final = "error"


class HetznerRefusal(PreconditionFailed):
    """A rule of Hetzner's with its own code (all 422)."""


class ServerAlreadyAttached(HetznerRefusal):
    code = "server_already_attached"


class ServerNotAttached(HetznerRefusal):
    code = "server_not_attached_to_network"


class IpNotAvailable(HetznerRefusal):
    code = "ip_not_available"


class NoSubnetAvailable(HetznerRefusal):
    code = "no_subnet_available"


class ResourceInUse(HetznerRefusal):
    code = "resource_in_use"


Range = ipaddress.IPv4Network
Address = ipaddress.IPv4Address


def parse_range(name: str, text: str, *, largest_prefix: int = 32) -> Range:
    """A private IPv4 range in CIDR notation (``10.0.0.0/16``), at most ``largest_prefix`` long."""
    try:
        parsed = ipaddress.ip_network(str(text).strip(), strict=True)
    except ValueError:
        raise invalid_field(name, f"{text!r} is not an IP range in CIDR notation (like 10.0.0.0/16)") from None
    if not isinstance(parsed, ipaddress.IPv4Network):
        raise invalid_field(name, f"{text} is not an IPv4 range; networks are IPv4 ranges of RFC 1918")
    if not any(parsed.subnet_of(private) for private in _PRIVATE):
        raise invalid_field(
            name, f"{text} is not a private range; use 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16 (RFC 1918)"
        )
    if parsed.prefixlen > largest_prefix:
        raise invalid_field(name, f"{text} is too small: it must be a /{largest_prefix} or larger")
    return parsed


def parse_address(name: str, text: str) -> Address:
    try:
        parsed = ipaddress.ip_address(str(text).strip())
    except ValueError:
        raise invalid_field(name, f"{text!r} is not an IP address") from None
    if not isinstance(parsed, ipaddress.IPv4Address):
        raise invalid_field(name, f"{text} is not an IPv4 address")
    return parsed


def check_name(name: str) -> str:
    if not name.strip() or len(name) > MAX_NAME:
        raise invalid_field("name", f"name must be 1 to {MAX_NAME} characters")
    return name


@dataclass(frozen=True)
class Subnet:
    type: str
    ip_range: str
    network_zone: str
    gateway: str
    vswitch_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "ip_range": self.ip_range,
            "network_zone": self.network_zone,
            "gateway": self.gateway,
            "vswitch_id": self.vswitch_id,
        }

    @classmethod
    def of(cls, data: dict[str, Any]) -> Subnet:
        return cls(
            type=data["type"],
            ip_range=data["ip_range"],
            network_zone=data["network_zone"],
            gateway=data["gateway"],
            vswitch_id=data.get("vswitch_id"),
        )

    @property
    def range(self) -> Range:
        return ipaddress.IPv4Network(self.ip_range)


@dataclass(frozen=True)
class Route:
    destination: str
    gateway: str

    def as_dict(self) -> dict[str, Any]:
        return {"destination": self.destination, "gateway": self.gateway}


@dataclass
class Attachment:
    """A server attached to the network (a row of server_networks)."""

    server_id: int
    ip: str
    alias_ips: list[str] = field(default_factory=list)
    mac_address: str | None = None

    def addresses(self) -> list[str]:
        return [self.ip, *self.alias_ips]


@dataclass
class Network(Aggregate):
    id: int
    user_id: int
    organization_id: int | None
    name: str
    ip_range: str
    subnets: list[Subnet] = field(default_factory=list)
    routes: list[Route] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    attachments: list[Attachment] = field(default_factory=list)
    expose_routes_to_vswitch: bool = False
    hetzner_id: int | None = None
    protection_delete: bool = False
    blocked: bool = False
    locked: bool = False
    status: str = CREATING
    created_at: datetime | None = None
    updated_at: datetime | None = None
    deleted_at: datetime | None = None
    version: int = 1

    # -- rules ----------------------------------------------------------------------------------

    @property
    def range(self) -> Range:
        return ipaddress.IPv4Network(self.ip_range)

    @property
    def gateway(self) -> Address:
        """The first IP of the range: every subnet's gateway."""
        return self.range.network_address + 1

    def same_tenant(self, user_id: int, organization_id: int | None) -> bool:
        if self.organization_id is not None:
            return organization_id == self.organization_id
        return organization_id is None and user_id == self.user_id

    def check_subnet(self, kind: str, ip_range: str, network_zone: str, vswitch_id: int | None = None) -> Subnet:
        """The subnet it would get; INVALID_ARGUMENT when a rule forbids it."""
        if kind not in SUBNET_TYPES:
            raise invalid_field("type", f"subnet type {kind!r} is unknown; use cloud, server or vswitch")
        if network_zone not in NETWORK_ZONES:
            raise invalid_field(
                "network_zone", f"network zone {network_zone!r} is unknown; use {', '.join(NETWORK_ZONES)}"
            )
        if kind == "vswitch" and not vswitch_id:
            raise invalid_field("vswitch_id", "a subnet of type vswitch needs the vswitch_id of your vSwitch")
        if kind != "vswitch" and vswitch_id:
            raise invalid_field("vswitch_id", "only subnets of type vswitch have a vswitch_id")
        if len(self.subnets) >= MAX_SUBNETS:
            raise invalid_field("ip_range", f"network {self.id} has {MAX_SUBNETS} subnets already, the most it can")
        own = self.range
        if not ip_range:
            subnet = self._free_subnet(own)
        else:
            subnet = parse_range("ip_range", ip_range, largest_prefix=LARGEST_PREFIX_SUBNET)
        if not subnet.subnet_of(own):
            raise invalid_field("ip_range", f"{subnet} is not inside the network's range {own}")
        for other in self.subnets:
            if subnet.overlaps(other.range):
                raise invalid_field("ip_range", f"{subnet} overlaps the subnet {other.ip_range}")
        for route in self.routes:
            if subnet.overlaps(ipaddress.IPv4Network(route.destination)):
                raise invalid_field(
                    "ip_range", f"{subnet} overlaps the destination of the route to {route.destination}"
                )
            if kind == "vswitch" and ipaddress.IPv4Address(route.gateway) in subnet:
                raise invalid_field("ip_range", f"{subnet} holds the gateway {route.gateway} of a route")
        return Subnet(kind, str(subnet), network_zone, str(self.gateway), vswitch_id if kind == "vswitch" else None)

    def _free_subnet(self, own: Range) -> Range:
        """Hetzner's choice when no ip_range is given: the first free /24 (the range itself if smaller)."""
        prefix = max(own.prefixlen, LARGEST_PREFIX_NETWORK)
        taken = [s.range for s in self.subnets] + [ipaddress.IPv4Network(r.destination) for r in self.routes]
        for candidate in own.subnets(new_prefix=prefix):
            if not any(candidate.overlaps(t) for t in taken):
                return candidate
        raise invalid_field("ip_range", f"no free /{prefix} is left in {own}; give the subnet's ip_range")

    def subnet_of(self, ip_range: str) -> Subnet:
        wanted = parse_range("ip_range", ip_range)
        for subnet in self.subnets:
            if subnet.range == wanted:
                return subnet
        raise invalid_field("ip_range", f"network {self.id} has no subnet {wanted}")

    def check_route(self, destination: str, gateway: str) -> Route:
        dest = parse_range("destination", destination)
        gate = parse_address("gateway", gateway)
        own = self.range
        if dest.overlaps(ipaddress.IPv4Network(f"{self.gateway}/32")):
            raise invalid_field("destination", f"{dest} holds the network's gateway {self.gateway}")
        for subnet in self.subnets:
            if dest.overlaps(subnet.range):
                raise invalid_field("destination", f"{dest} overlaps the subnet {subnet.ip_range}")
        for route in self.routes:
            if dest.overlaps(ipaddress.IPv4Network(route.destination)):
                raise invalid_field(
                    "destination", f"{dest} overlaps the destination of the route to {route.destination}"
                )
        if gate not in own:
            raise invalid_field("gateway", f"{gate} is not inside the network's range {own}")
        if gate == self.gateway or gate == PUBLIC_GATEWAY:
            raise invalid_field("gateway", f"{gate} is a gateway of Hetzner's and cannot be a route's gateway")
        for subnet in self.subnets:
            if subnet.type == "vswitch" and gate in subnet.range:
                raise invalid_field("gateway", f"{gate} lies behind the vSwitch subnet {subnet.ip_range}")
        return Route(str(dest), str(gate))

    def route_of(self, destination: str, gateway: str) -> Route:
        wanted = Route(str(parse_range("destination", destination)), str(parse_address("gateway", gateway)))
        if wanted not in self.routes:
            raise invalid_field("destination", f"network {self.id} has no route to {destination} via {gateway}")
        return wanted

    def check_ip_range(self, ip_range: str) -> Range:
        new = parse_range("ip_range", ip_range, largest_prefix=LARGEST_PREFIX_NETWORK)
        if not new.supernet_of(self.range):
            raise invalid_field("ip_range", f"{new} does not hold {self.ip_range}: a network's range can only grow")
        return new

    def attachment(self, server_id: int) -> Attachment | None:
        for attached in self.attachments:
            if attached.server_id == server_id:
                return attached
        return None

    def _taken(self, *, but: int = 0) -> set[Address]:
        taken = {self.gateway}
        for attached in self.attachments:
            if attached.server_id != but:
                taken.update(ipaddress.IPv4Address(a) for a in attached.addresses())
        return taken

    def _zone_subnets(self, zone: str, subnet_range: str = "") -> list[Subnet]:
        subnets = [s for s in self.subnets if s.network_zone == zone and s.type in SERVER_SUBNET_TYPES]
        if subnet_range:
            wanted = self.subnet_of(subnet_range)
            subnets = [s for s in subnets if s == wanted]
        if not subnets:
            raise NoSubnetAvailable(f"network {self.id} has no cloud or server subnet in network zone {zone}")
        return subnets

    @staticmethod
    def _usable(subnet: Subnet, address: Address) -> bool:
        net = subnet.range
        return address in net and address not in (net.network_address, net.broadcast_address)

    def _check_given(self, name: str, text: str, subnets: list[Subnet], taken: set[Address]) -> Address:
        address = parse_address(name, text)
        if not any(self._usable(s, address) for s in subnets):
            raise IpNotAvailable(f"{address} is not an address of a subnet of network {self.id} the server can use")
        if address in taken:
            raise IpNotAvailable(f"{address} is taken in network {self.id}")
        return address

    def _first_free(self, subnets: list[Subnet], taken: set[Address]) -> Address:
        for subnet in subnets:
            first = subnet.range.network_address + 1  # kept free, as Hetzner does
            for address in subnet.range.hosts():
                if address not in taken and address != first:
                    return address
        raise NoSubnetAvailable(f"no free address is left in the subnets of network {self.id} for this server")

    def _check_alias_ips(self, alias_ips: list[str], subnets: list[Subnet], taken: set[Address]) -> list[str]:
        if len(alias_ips) > MAX_ALIAS_IPS:
            raise invalid_field("alias_ips", f"a server has at most {MAX_ALIAS_IPS} alias IPs in a network")
        chosen: list[str] = []
        for text in alias_ips:
            address = self._check_given("alias_ips", text, subnets, taken)
            taken.add(address)
            chosen.append(str(address))
        return chosen

    def check_attach(
        self, server: ServerRef, ip: str = "", alias_ips: list[str] | None = None, subnet: str = ""
    ) -> Attachment:
        """The attachment the server would get (its IP chosen when not given); nothing changes."""
        if not server.live or not self.same_tenant(server.user_id, server.organization_id):
            raise invalid_field("server", f"server {server.id} does not exist")
        if self.attachment(server.id) is not None:
            raise ServerAlreadyAttached(f"server {server.id} is attached to network {self.id} already")
        subnets = self._zone_subnets(server.network_zone, subnet)
        taken = self._taken()
        address = self._check_given("ip", ip, subnets, taken) if ip else self._first_free(subnets, taken)
        taken.add(address)
        return Attachment(server.id, str(address), self._check_alias_ips(list(alias_ips or []), subnets, taken))

    def check_alias_ips(self, server: ServerRef, alias_ips: list[str]) -> Attachment:
        attached = self.attachment(server.id)
        if attached is None:
            raise ServerNotAttached(f"server {server.id} is not attached to network {self.id}")
        subnets = self._zone_subnets(server.network_zone)
        taken = self._taken(but=server.id) | {ipaddress.IPv4Address(attached.ip)}
        return Attachment(
            server.id, attached.ip, self._check_alias_ips(alias_ips, subnets, taken), attached.mac_address
        )

    # -- actions --------------------------------------------------------------------------------

    def ensure_not_blocked(self) -> None:
        if self.blocked:
            raise Locked(f"network {self.id} is blocked: its account is suspended; nothing can be done with it")

    def _lock(self) -> None:
        self.ensure_not_blocked()
        if self.locked:
            raise Locked(f"network {self.id} is locked: another action is running on it; retry when it finished")
        if self.status != READY and self.status != CREATING:
            raise NotFound(f"network {self.id} does not exist")

    def begin(self, command: str, params: dict[str, Any], now: datetime, *, server_id: int = 0) -> Action:
        """Lock it for ``command`` (whose rules the caller checked into ``params``): the running action."""
        self._lock()
        if command != CREATE and self.status != READY:
            raise InvalidInput(f"network {self.id} is still being created; retry when its create action finished")
        self.locked = True
        self.version += 1
        return self._action(command, params, now, server_id)

    def begin_add_subnet(self, subnet: Subnet, now: datetime) -> Action:
        return self.begin(ADD_SUBNET, subnet.as_dict(), now)

    def begin_delete_subnet(self, ip_range: str, now: datetime) -> Action:
        subnet = self.subnet_of(ip_range)
        for attached in self.attachments:
            if any(ipaddress.IPv4Address(a) in subnet.range for a in attached.addresses()):
                raise ResourceInUse(
                    f"server {attached.server_id} has an address in subnet {subnet.ip_range}; detach it first"
                )
        return self.begin(DELETE_SUBNET, {"ip_range": subnet.ip_range}, now)

    def begin_attach(self, attachment: Attachment, now: datetime) -> Action:
        params = {"server_id": attachment.server_id, "ip": attachment.ip, "alias_ips": list(attachment.alias_ips)}
        return self.begin(ATTACH, params, now, server_id=attachment.server_id)

    def begin_detach(self, server_id: int, now: datetime) -> Action:
        if self.attachment(server_id) is None:
            raise ServerNotAttached(f"server {server_id} is not attached to network {self.id}")
        return self.begin(DETACH, {"server_id": server_id}, now, server_id=server_id)

    def _action(self, command: str, params: dict[str, Any], now: datetime, server_id: int = 0) -> Action:
        resources = [{"id": self.id, "type": RESOURCE}]
        if server_id:
            resources.insert(0, {"id": server_id, "type": "server"})
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

    def completed(self, action: Action, now: datetime, *, hetzner_id: int | None = None, mac_address: str = "") -> None:
        """Upstream did ``action``: apply its change, unlock, end it and record its event."""
        params = action.params
        self.locked = False
        self.version += 1
        action.finish(now)
        command = action.command
        if command == CREATE:
            self.hetzner_id, self.status = hetzner_id, READY
            self._record(
                "network.created",
                name=self.name,
                ip_range=self.ip_range,
                subnets=[s.ip_range for s in self.subnets],
                labels=dict(self.labels),
                action_id=action.id,
            )
        elif command == ADD_SUBNET:
            subnet = Subnet.of(params)
            self.subnets.append(subnet)
            self._record(
                "network.subnet_added",
                ip_range=subnet.ip_range,
                type=subnet.type,
                network_zone=subnet.network_zone,
                action_id=action.id,
            )
        elif command == DELETE_SUBNET:
            self.subnets = [s for s in self.subnets if s.ip_range != params["ip_range"]]
            self._record("network.subnet_deleted", ip_range=params["ip_range"], action_id=action.id)
        elif command == ADD_ROUTE:
            self.routes.append(Route(params["destination"], params["gateway"]))
            self._record(
                "network.route_added", destination=params["destination"], gateway=params["gateway"], action_id=action.id
            )
        elif command == DELETE_ROUTE:
            gone = Route(params["destination"], params["gateway"])
            self.routes = [r for r in self.routes if r != gone]
            self._record(
                "network.route_deleted", destination=gone.destination, gateway=gone.gateway, action_id=action.id
            )
        elif command == CHANGE_IP_RANGE:
            old, self.ip_range = self.ip_range, params["ip_range"]
            self._record("network.ip_range_changed", ip_range=self.ip_range, old_ip_range=old, action_id=action.id)
        elif command == ATTACH:
            attached = Attachment(params["server_id"], params["ip"], list(params["alias_ips"]), mac_address or None)
            self.attachments.append(attached)
            self._record(
                "network.server_attached",
                server_id=attached.server_id,
                ip=attached.ip,
                alias_ips=list(attached.alias_ips),
                action_id=action.id,
            )
        elif command == DETACH:
            self._detach(params["server_id"], action.id)
        elif command == CHANGE_ALIAS_IPS:
            current = self.attachment(params["server_id"])
            if current is not None:
                current.alias_ips = list(params["alias_ips"])
            self._record(
                "network.alias_ips_changed",
                server_id=params["server_id"],
                alias_ips=list(params["alias_ips"]),
                action_id=action.id,
            )
        elif command == DELETE:
            pass  # recorded when it was taken from its tenant

    def _detach(self, server_id: int, action_id: int) -> None:
        self.attachments = [a for a in self.attachments if a.server_id != server_id]
        self._record("network.server_detached", server_id=server_id, action_id=action_id)

    def server_gone(self, server_id: int) -> bool:
        """Compute deleted the server (upstream detached it): it leaves the network. False: it was not attached."""
        if self.attachment(server_id) is None:
            return False
        self.version += 1
        self._detach(server_id, 0)
        return True

    def change_protection(self, delete: bool | None, now: datetime) -> Action:
        """Finished at once: protection is the platform's."""
        self._lock()
        if delete is not None:
            self.protection_delete = delete
        self.version += 1
        action = self._action(CHANGE_PROTECTION, {"delete": self.protection_delete}, now)
        action.finish(now)
        return action

    def protection_recorded(self, action: Action) -> None:
        self._record("network.protection_changed", delete=self.protection_delete, action_id=action.id)

    def update(
        self, name: str | None, labels: dict[str, str] | None, expose_routes_to_vswitch: bool | None
    ) -> list[str]:
        self.ensure_not_blocked()
        fields = []
        if name is not None and name != self.name:
            self.name = name
            fields.append("name")
        if labels is not None and labels != self.labels:
            self.labels = labels
            fields.append("labels")
        if expose_routes_to_vswitch is not None and expose_routes_to_vswitch != self.expose_routes_to_vswitch:
            self.expose_routes_to_vswitch = expose_routes_to_vswitch
            fields.append("expose_routes_to_vswitch")
        if fields:
            self.version += 1
            self._record("network.updated", fields=fields, name=self.name, labels=dict(self.labels))
        return fields

    def delete(self, now: datetime) -> Action:
        """Gone for its tenant now (``protected``, ``locked`` refuse); its servers are detached
        with it (Hetzner's rule: attached resources are detached automatically); the worker
        deletes it upstream and gives its quota back."""
        if self.protection_delete:
            raise Protected(f"network {self.id} is protected against deletion; change its protection first")
        self._lock()
        return self._take(now, "deleted")

    def _take(self, now: datetime, reason: str) -> Action:
        self.locked = True
        self.version += 1
        action = self._action(DELETE, {"reason": reason}, now)
        for attached in list(self.attachments):
            self._detach(attached.server_id, 0)
        self.deleted_at = now
        self._record("network.deleted", reason=reason)
        return action

    def erase(self, now: datetime) -> Action | None:
        """Its account was erased: deleted whatever its protection (the worker deletes it
        upstream); None while an action runs on it (it stays blocked, ``erase`` is for the next pass)."""
        self.block("erased")
        if self.locked:
            return None
        return self._take(now, "erased")

    def block(self, reason: str) -> bool:
        if self.blocked:
            return False
        self.blocked = True
        self.version += 1
        self._record("network.blocked", reason=reason)
        return True

    def unblock(self) -> bool:
        if not self.blocked:
            return False
        self.blocked = False
        self.version += 1
        self._record("network.unblocked")
        return True

    def action_failed(self, action: Action, code: str, message: str, now: datetime) -> None:
        """Upstream refused ``action`` for good: it ends in error and nothing changed; a failed
        creation leaves no network (the worker gives the quota back)."""
        self.locked = False
        self.version += 1
        action.fail(code, message, now)
        if action.command == CREATE:
            self.status = FAILED
            self.deleted_at = now
            self._record("network.deleted", reason="create_failed")

    def _record(self, event_type: str, **fields: Any) -> None:
        owner = {"network_id": self.id, "user_id": self.user_id, "organization_id": self.organization_id or 0}
        self._emit(event_type, self.id, self.version, {**owner, **fields})


def new_network(user_id: int, organization_id: int | None, name: str, ip_range: str, labels: dict[str, str]) -> Network:
    """A network to create (its rules checked); its subnets and routes are checked against it."""
    parsed = parse_range("ip_range", ip_range, largest_prefix=LARGEST_PREFIX_NETWORK)
    return Network(
        id=0,
        user_id=user_id,
        organization_id=organization_id,
        name=check_name(name),
        ip_range=str(parsed),
        labels=labels,
    )
