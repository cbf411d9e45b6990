"""Networks: a private IPv4 range (RFC 1918, /8 to /24) with subnets per network zone and
routes; a server attached to a network gets a private IP from a subnet of its zone (shown in
``server.private_net``). The network's gateway is the first address of its range; a range
only grows; a server that goes away, or a deleted network, ends the attachment.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from pydantic import BaseModel

from cpshared.errors import InvalidInput, NotFound
from hetzner_conventions.errors import invalid_field
from hetzner_sim import catalog
from hetzner_sim.common import (
    ActionAnswer,
    check_limit,
    check_name,
    listing,
    project_of,
    register_action_routes,
    sim_of,
    start,
    unlocked,
    unprotected,
)
from hetzner_sim.state import (
    SERVER_CREATE_OPTIONS,
    SERVER_GONE,
    SERVER_VIEWS,
    CreateServer,
    Project,
    Server,
    Simulator,
    check_labels,
    iso8601,
)

PRIVATE = tuple(ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))
ZONES = tuple(sorted({loc.network_zone for loc in catalog.LOCATIONS}))


@dataclass
class Subnet:
    type: str
    ip_range: ipaddress.IPv4Network
    network_zone: str
    vswitch_id: int | None = None


@dataclass
class Attachment:
    """A server's (or load balancer's) place in a network."""

    ip: str
    subnet: ipaddress.IPv4Network
    alias_ips: list[str] = field(default_factory=list)
    mac_address: str = ""


@dataclass
class Network:
    id: int
    name: str
    ip_range: ipaddress.IPv4Network
    created: float
    subnets: list[Subnet] = field(default_factory=list)
    routes: list[tuple[str, str]] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    expose_routes_to_vswitch: bool = False
    protection_delete: bool = False
    servers: dict[int, Attachment] = field(default_factory=dict)
    load_balancers: dict[int, Attachment] = field(default_factory=dict)

    @property
    def gateway(self) -> str:
        return str(self.ip_range.network_address + 1)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "ip_range": str(self.ip_range),
            "subnets": [
                {
                    "type": s.type,
                    "ip_range": str(s.ip_range),
                    "network_zone": s.network_zone,
                    "gateway": self.gateway,
                    "vswitch_id": s.vswitch_id,
                }
                for s in self.subnets
            ],
            "routes": [{"destination": d, "gateway": g} for d, g in self.routes],
            "servers": sorted(self.servers),
            "load_balancers": sorted(self.load_balancers),
            "protection": {"delete": self.protection_delete},
            "labels": dict(self.labels),
            "created": iso8601(self.created),
            "expose_routes_to_vswitch": self.expose_routes_to_vswitch,
        }

    def used_ips(self) -> set[str]:
        used = {self.gateway}
        for attachment in (*self.servers.values(), *self.load_balancers.values()):
            used.add(attachment.ip)
            used.update(attachment.alias_ips)
        return used

    def place(self, zone: str, ip: str | None = None, ip_range: str | None = None) -> Attachment:
        """A free address in a subnet of ``zone`` (the given ``ip``, or in the given ``ip_range``)."""
        candidates = [s for s in self.subnets if s.network_zone == zone and s.type in ("cloud", "server")]
        if ip_range is not None:
            wanted = _cidr(ip_range, "ip_range")
            candidates = [s for s in candidates if s.ip_range == wanted]
        if not candidates:
            raise InvalidInput(f"network {self.id} has no subnet in network zone {zone}")
        used = self.used_ips()
        if ip is not None:
            address = _address(ip, "ip")
            subnet = next((s for s in candidates if address in s.ip_range), None)
            if subnet is None:
                raise invalid_field("ip", f"{ip} is not in a subnet of network zone {zone}")
            if str(address) in used or address in (subnet.ip_range.network_address, subnet.ip_range.broadcast_address):
                raise invalid_field("ip", f"{ip} is already used")
            return Attachment(str(address), subnet.ip_range)
        for subnet in candidates:
            for host in subnet.ip_range.hosts():
                if str(host) not in used and int(host) - int(subnet.ip_range.network_address) > 1:
                    return Attachment(str(host), subnet.ip_range)
        raise InvalidInput(f"network {self.id} has no free address left in network zone {zone}")


def _cidr(text: str, name: str) -> ipaddress.IPv4Network:
    try:
        return ipaddress.IPv4Network(text)
    except ValueError:
        raise invalid_field(name, f"{text!r} is not an IPv4 network in CIDR notation") from None


def _address(text: str, name: str) -> ipaddress.IPv4Address:
    try:
        return ipaddress.IPv4Address(text)
    except ValueError:
        raise invalid_field(name, f"{text!r} is not an IPv4 address") from None


def _mac(server_id: int, network_id: int) -> str:
    raw = (server_id * 7919 + network_id) & 0xFFFFFFFF
    return "86:00:" + ":".join(f"{(raw >> s) & 0xFF:02x}" for s in (24, 16, 8, 0))


class RouteBody(BaseModel):
    destination: str
    gateway: str


class SubnetBody(BaseModel):
    type: str
    network_zone: str
    ip_range: str | None = None
    vswitch_id: int | None = None


class CreateNetwork(BaseModel):
    name: str
    ip_range: str
    labels: dict[str, str] | None = None
    subnets: list[SubnetBody] | None = None
    routes: list[RouteBody] | None = None
    expose_routes_to_vswitch: bool = False


class UpdateNetwork(BaseModel):
    name: str | None = None
    labels: dict[str, str] | None = None
    expose_routes_to_vswitch: bool | None = None


class IpRange(BaseModel):
    ip_range: str


class DeleteProtection(BaseModel):
    delete: bool | None = None


class AttachServer(BaseModel):
    network: int
    ip: str | None = None
    ip_range: str | None = None
    alias_ips: list[str] | None = None


class DetachServer(BaseModel):
    network: int


class ChangeAliasIps(BaseModel):
    network: int
    alias_ips: list[str]


def network(project: Project, network_id: int) -> Network:
    if network_id not in project.networks:
        raise NotFound(f"network {network_id} not found")
    return project.networks[network_id]


def network_ref(project: Project, network_id: int, name: str = "network") -> Network:
    if network_id not in project.networks:
        raise invalid_field(name, f"network {network_id} not found")
    return project.networks[network_id]


def _network_range(text: str) -> ipaddress.IPv4Network:
    ip_range = _cidr(text, "ip_range")
    if not any(ip_range.subnet_of(p) for p in PRIVATE) or not 8 <= ip_range.prefixlen <= 24:
        raise invalid_field("ip_range", "ip_range must be a private (RFC 1918) network of /8 to /24")
    return ip_range


def _new_subnet(net: Network, body: SubnetBody) -> Subnet:
    if body.type not in ("cloud", "server", "vswitch"):
        raise invalid_field("type", "type must be cloud, server or vswitch")
    if body.network_zone not in ZONES:
        raise invalid_field("network_zone", f"network_zone must be one of {', '.join(ZONES)}")
    if body.type == "vswitch" and body.vswitch_id is None:
        raise invalid_field("vswitch_id", "a vswitch subnet needs vswitch_id")
    taken = [s.ip_range for s in net.subnets]
    if body.ip_range is None:
        free = (c for c in net.ip_range.subnets(new_prefix=max(24, net.ip_range.prefixlen)) if not _overlaps(c, taken))
        ip_range = next(free, None)
        if ip_range is None:
            raise invalid_field("ip_range", "the network has no free /24 left; give ip_range")
    else:
        ip_range = _cidr(body.ip_range, "ip_range")
        if not ip_range.subnet_of(net.ip_range):
            raise invalid_field("ip_range", f"{ip_range} is not inside the network's {net.ip_range}")
        if _overlaps(ip_range, taken):
            raise invalid_field("ip_range", f"{ip_range} overlaps another subnet")
        if ip_range.prefixlen > 30:
            raise invalid_field("ip_range", "a subnet is at least a /30")
    return Subnet(body.type, ip_range, body.network_zone, body.vswitch_id if body.type == "vswitch" else None)


def _overlaps(candidate: ipaddress.IPv4Network, taken: list[ipaddress.IPv4Network]) -> bool:
    return any(candidate.overlaps(other) for other in taken)


def _route(net: Network, body: RouteBody) -> tuple[str, str]:
    destination = _cidr(body.destination, "destination")
    gateway = _address(body.gateway, "gateway")
    if gateway not in net.ip_range or str(gateway) == net.gateway:
        raise invalid_field("gateway", f"gateway must be an address of {net.ip_range} other than {net.gateway}")
    return str(destination), str(gateway)


def _view(project: Project, server: Server, answer: dict[str, Any]) -> None:
    answer["private_net"] = [
        {
            "network": net.id,
            "ip": net.servers[server.id].ip,
            "alias_ips": list(net.servers[server.id].alias_ips),
            "mac_address": net.servers[server.id].mac_address,
        }
        for net in sorted(project.networks.values(), key=lambda n: n.id)
        if server.id in net.servers
    ]


def _server_gone(sim: Simulator, project: Project, server: Server) -> None:
    for net in project.networks.values():
        net.servers.pop(server.id, None)


def _on_create(
    sim: Simulator, project: Project, request: CreateServer, dc: catalog.Datacenter
) -> Callable[[Server], None] | None:
    """``networks`` in a server's create request: an address in each, from a subnet of its zone."""
    if not request.networks:
        return None
    places = []
    for network_id in dict.fromkeys(request.networks):
        net = network_ref(project, network_id, "networks")
        unlocked(sim, net.id, "network")
        places.append((net, net.place(dc.location.network_zone)))

    def attach(server: Server) -> None:
        for net, attachment in places:
            attachment.mac_address = _mac(server.id, net.id)
            net.servers[server.id] = attachment

    return attach


SERVER_VIEWS.append(_view)
SERVER_GONE.append(_server_gone)
SERVER_CREATE_OPTIONS.append(_on_create)

SORTS: dict[str, Callable[[Any], Any]] = {
    "id": lambda n: n.id,
    "name": lambda n: n.name,
    "created": lambda n: n.created,
}


def register(app: FastAPI) -> None:
    register_action_routes(app, "networks", "network", network)

    @app.get("/v1/networks")
    async def list_networks(request: Request) -> dict[str, Any]:
        name = request.query_params.get("name")
        items = [n for n in project_of(request).networks.values() if name in (None, n.name)]
        return listing(request, "networks", items, lambda n: n.as_json(), SORTS)

    @app.post("/v1/networks", status_code=201)
    async def create_network(request: Request, body: CreateNetwork) -> dict[str, Any]:
        sim, project = sim_of(request), project_of(request)
        net = Network(sim.next_id(), body.name, _network_range(body.ip_range), sim.now())
        net.labels = check_labels(body.labels)
        net.expose_routes_to_vswitch = body.expose_routes_to_vswitch
        for subnet in body.subnets or []:
            net.subnets.append(_new_subnet(net, subnet))
        for route in body.routes or []:
            net.routes.append(_route(net, route))
        check_name(project.networks.values(), body.name)
        check_limit(len(project.networks), sim.config.max_networks, "network")
        project.networks[net.id] = net
        return {"network": net.as_json()}

    @app.get("/v1/networks/{network_id:int}")
    async def get_network(request: Request, network_id: int) -> dict[str, Any]:
        return {"network": network(project_of(request), network_id).as_json()}

    @app.put("/v1/networks/{network_id:int}")
    async def update_network(request: Request, network_id: int, body: UpdateNetwork) -> dict[str, Any]:
        project = project_of(request)
        net = network(project, network_id)
        if body.name is not None:
            check_name(project.networks.values(), body.name, net.id)
        labels = check_labels(body.labels) if body.labels is not None else net.labels
        net.name = body.name if body.name is not None else net.name
        net.labels = labels
        if body.expose_routes_to_vswitch is not None:
            net.expose_routes_to_vswitch = body.expose_routes_to_vswitch
        return {"network": net.as_json()}

    @app.delete("/v1/networks/{network_id:int}", status_code=204)
    async def delete_network(request: Request, network_id: int) -> None:
        sim, project = sim_of(request), project_of(request)
        net = network(project, network_id)
        unprotected(net.protection_delete, net.id, "network")
        unlocked(sim, net.id, "network")
        if net.load_balancers:
            raise InvalidInput(f"network {net.id} still has load balancers attached; detach them first")
        del project.networks[net.id]

    prefix = "/v1/networks/{network_id:int}/actions"

    def run(request: Request, net: Network, command: str, effect: Callable[[], None]) -> dict[str, Any]:
        sim, project = sim_of(request), project_of(request)
        return ActionAnswer.of(sim, start(sim, project, command, [(net.id, "network")], effect))

    @app.post(f"{prefix}/add_subnet", status_code=201)
    async def add_subnet(request: Request, network_id: int, body: SubnetBody) -> dict[str, Any]:
        net = network(project_of(request), network_id)
        subnet = _new_subnet(net, body)
        return run(request, net, "add_subnet", lambda: net.subnets.append(subnet))

    @app.post(f"{prefix}/delete_subnet", status_code=201)
    async def delete_subnet(request: Request, network_id: int, body: IpRange) -> dict[str, Any]:
        net = network(project_of(request), network_id)
        wanted = _cidr(body.ip_range, "ip_range")
        subnet = next((s for s in net.subnets if s.ip_range == wanted), None)
        if subnet is None:
            raise invalid_field("ip_range", f"network {net.id} has no subnet {wanted}")
        if any(a.subnet == wanted for a in (*net.servers.values(), *net.load_balancers.values())):
            raise InvalidInput(f"subnet {wanted} still has servers or load balancers attached")
        return run(request, net, "delete_subnet", lambda: net.subnets.remove(subnet))

    @app.post(f"{prefix}/add_route", status_code=201)
    async def add_route(request: Request, network_id: int, body: RouteBody) -> dict[str, Any]:
        net = network(project_of(request), network_id)
        route = _route(net, body)
        if route in net.routes:
            raise invalid_field("destination", "the network already has this route")
        return run(request, net, "add_route", lambda: net.routes.append(route))

    @app.post(f"{prefix}/delete_route", status_code=201)
    async def delete_route(request: Request, network_id: int, body: RouteBody) -> dict[str, Any]:
        net = network(project_of(request), network_id)
        route = (str(_cidr(body.destination, "destination")), str(_address(body.gateway, "gateway")))
        if route not in net.routes:
            raise invalid_field("destination", "the network has no such route")
        return run(request, net, "delete_route", lambda: net.routes.remove(route))

    @app.post(f"{prefix}/change_ip_range", status_code=201)
    async def change_ip_range(request: Request, network_id: int, body: IpRange) -> dict[str, Any]:
        net = network(project_of(request), network_id)
        ip_range = _network_range(body.ip_range)
        if not net.ip_range.subnet_of(ip_range) or ip_range.network_address != net.ip_range.network_address:
            raise invalid_field("ip_range", f"the range only grows: it must contain {net.ip_range} and start with it")

        def changed() -> None:
            net.ip_range = ip_range

        return run(request, net, "change_ip_range", changed)

    @app.post(f"{prefix}/change_protection", status_code=201)
    async def change_network_protection(request: Request, network_id: int, body: DeleteProtection) -> dict[str, Any]:
        net = network(project_of(request), network_id)

        def changed() -> None:
            if body.delete is not None:
                net.protection_delete = body.delete

        return run(request, net, "change_protection", changed)

    server_prefix = "/v1/servers/{server_id:int}/actions"

    @app.post(f"{server_prefix}/attach_to_network", status_code=201)
    async def attach_to_network(request: Request, server_id: int, body: AttachServer) -> dict[str, Any]:
        sim, project = sim_of(request), project_of(request)
        server = sim.server(project, server_id)
        net = network_ref(project, body.network)
        unlocked(sim, server.id, "server")
        unlocked(sim, net.id, "network")
        if server.id in net.servers:
            raise InvalidInput(f"server {server.id} is already attached to network {net.id}")
        attachment = net.place(server.datacenter.location.network_zone, body.ip, body.ip_range)
        used = net.used_ips() | {attachment.ip}
        for alias in body.alias_ips or []:
            address = _address(alias, "alias_ips")
            if address not in attachment.subnet or str(address) in used:
                raise invalid_field("alias_ips", f"{alias} is not a free address of subnet {attachment.subnet}")
            attachment.alias_ips.append(str(address))
            used.add(str(address))
        attachment.mac_address = _mac(server.id, net.id)

        def attached() -> None:
            net.servers[server.id] = attachment

        resources = [(server.id, "server"), (net.id, "network")]
        return ActionAnswer.of(sim, start(sim, project, "attach_to_network", resources, attached))

    @app.post(f"{server_prefix}/change_alias_ips", status_code=201)
    async def change_alias_ips(request: Request, server_id: int, body: ChangeAliasIps) -> dict[str, Any]:
        sim, project = sim_of(request), project_of(request)
        server = sim.server(project, server_id)
        net = network_ref(project, body.network)
        unlocked(sim, server.id, "server")
        unlocked(sim, net.id, "network")
        attachment = net.servers.get(server.id)
        if attachment is None:
            raise InvalidInput(f"server {server.id} is not attached to network {net.id}")
        used = net.used_ips() - set(attachment.alias_ips)
        aliases: list[str] = []
        for alias in body.alias_ips:
            address = _address(alias, "alias_ips")
            if address not in attachment.subnet or str(address) in used:
                raise invalid_field("alias_ips", f"{alias} is not a free address of subnet {attachment.subnet}")
            aliases.append(str(address))
            used.add(str(address))

        def changed() -> None:
            attachment.alias_ips = aliases

        resources = [(server.id, "server"), (net.id, "network")]
        return ActionAnswer.of(sim, start(sim, project, "change_alias_ips", resources, changed))

    @app.post(f"{server_prefix}/detach_from_network", status_code=201)
    async def detach_from_network(request: Request, server_id: int, body: DetachServer) -> dict[str, Any]:
        sim, project = sim_of(request), project_of(request)
        server = sim.server(project, server_id)
        net = network_ref(project, body.network)
        if server.id not in net.servers:
            raise InvalidInput(f"server {server.id} is not attached to network {net.id}")

        def detached() -> None:
            net.servers.pop(server.id, None)

        resources = [(server.id, "server"), (net.id, "network")]
        return ActionAnswer.of(sim, start(sim, project, "detach_from_network", resources, detached))
