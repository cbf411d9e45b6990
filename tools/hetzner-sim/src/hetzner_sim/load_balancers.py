"""Load balancers: a type (lb11/lb21/lb31, limits on services and targets) in a location, a
public interface with an IPv4 address and an IPv6 address from the server pool, services
(tcp/http; https needs certificates, which are not simulated), targets (servers, label
selectors, IPs) with a health status per service (healthy while the server runs), private
networks (an address from a subnet of its zone, like a server's), and metrics. A server that
goes away stops being a target; targeted servers show the load balancer in ``load_balancers``.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from pydantic import BaseModel

from cpshared.errors import DomainError, InvalidInput, NotFound
from hetzner_conventions.errors import invalid_field
from hetzner_conventions.label_selector import parse_label_selector
from hetzner_sim import catalog
from hetzner_sim.common import (
    ActionAnswer,
    change_dns_ptr,
    check_limit,
    check_name,
    listing,
    multi,
    parse_time,
    project_of,
    register_action_routes,
    sim_of,
    start,
    unlocked,
    unprotected,
)
from hetzner_sim.networks import Network, network_ref
from hetzner_sim.state import SERVER_GONE, SERVER_VIEWS, Project, Server, Simulator, check_labels, iso8601


class LoadBalancerNotAttached(DomainError):
    code = "load_balancer_not_attached_to_network"


@dataclass
class Target:
    type: str  # server | label_selector | ip
    server: int | None = None
    selector: str | None = None
    ip: str | None = None
    use_private_ip: bool = False

    def key(self) -> tuple[str, int | str | None]:
        return self.type, self.server if self.type == "server" else self.selector or self.ip


@dataclass
class LoadBalancer:
    id: int
    name: str
    type: catalog.LoadBalancerType
    location: catalog.Location
    created: float
    ipv4: str
    ipv6_network: str
    algorithm: str = "round_robin"
    public_enabled: bool = True
    services: list[dict[str, Any]] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    dns_ptr: dict[str, str] = field(default_factory=dict)
    protection_delete: bool = False

    @property
    def ipv6(self) -> str:
        return str(ipaddress.IPv6Network(self.ipv6_network).network_address + 1)

    def servers_of(self, project: Project, target: Target) -> list[Server]:
        if target.type == "server":
            return [project.servers[target.server]] if target.server in project.servers else []
        if target.type == "label_selector":
            selector = parse_label_selector(target.selector or "")
            return sorted((s for s in project.servers.values() if selector.matches(s.labels)), key=lambda s: s.id)
        return []


class ResourceId(BaseModel):
    id: int


class Selector(BaseModel):
    selector: str


class TargetIp(BaseModel):
    ip: str


class TargetBody(BaseModel):
    type: str
    server: ResourceId | None = None
    label_selector: Selector | None = None
    ip: TargetIp | None = None
    use_private_ip: bool | None = None


class HealthCheckHttpBody(BaseModel):
    domain: str | None = None
    path: str | None = None
    response: str | None = None
    status_codes: list[str] | None = None
    tls: bool | None = None


class HealthCheckBody(BaseModel):
    protocol: str | None = None
    port: int | None = None
    interval: int | None = None
    timeout: int | None = None
    retries: int | None = None
    http: HealthCheckHttpBody | None = None


class HttpBody(BaseModel):
    cookie_name: str | None = None
    cookie_lifetime: int | None = None
    certificates: list[int] | None = None
    redirect_http: bool | None = None
    sticky_sessions: bool | None = None
    timeout_idle: int | None = None


class ServiceBody(BaseModel):
    listen_port: int | None = None
    protocol: str | None = None
    destination_port: int | None = None
    proxyprotocol: bool | None = None
    health_check: HealthCheckBody | None = None
    http: HttpBody | None = None


class Algorithm(BaseModel):
    type: str


class CreateLoadBalancer(BaseModel):
    name: str
    load_balancer_type: str | int
    location: str | None = None
    network_zone: str | None = None
    algorithm: Algorithm | None = None
    services: list[ServiceBody] | None = None
    targets: list[TargetBody] | None = None
    labels: dict[str, str] | None = None
    public_interface: bool | None = None
    network: int | None = None


class UpdateLoadBalancer(BaseModel):
    name: str | None = None
    labels: dict[str, str] | None = None


class ListenPort(BaseModel):
    listen_port: int


class ChangeType(BaseModel):
    load_balancer_type: str | int


class DnsPtr(BaseModel):
    ip: str
    dns_ptr: str | None


class DeleteProtection(BaseModel):
    delete: bool | None = None


class AttachNetwork(BaseModel):
    network: int
    ip: str | None = None
    ip_range: str | None = None


class DetachNetwork(BaseModel):
    network: int


def load_balancer(project: Project, lb_id: int) -> LoadBalancer:
    if lb_id not in project.load_balancers:
        raise NotFound(f"load balancer {lb_id} not found")
    return project.load_balancers[lb_id]


def _networks_of(project: Project, lb: LoadBalancer) -> list[Network]:
    return sorted((n for n in project.networks.values() if lb.id in n.load_balancers), key=lambda n: n.id)


def _health(project: Project, lb: LoadBalancer, server: Server | None) -> list[dict[str, Any]]:
    status = "unknown" if server is None else ("healthy" if server.status == "running" else "unhealthy")
    return [{"listen_port": s["listen_port"], "status": status} for s in lb.services]


def as_json(project: Project, lb: LoadBalancer) -> dict[str, Any]:
    targets: list[dict[str, Any]] = []
    for t in lb.targets:
        entry: dict[str, Any] = {"type": t.type, "use_private_ip": t.use_private_ip}
        if t.type == "server":
            entry["server"] = {"id": t.server}
            entry["health_status"] = _health(project, lb, project.servers.get(t.server or 0))
        elif t.type == "label_selector":
            entry["label_selector"] = {"selector": t.selector}
            entry["targets"] = [
                {
                    "type": "server",
                    "server": {"id": s.id},
                    "use_private_ip": t.use_private_ip,
                    "health_status": _health(project, lb, s),
                }
                for s in lb.servers_of(project, t)
            ]
        else:
            entry = {"type": "ip", "ip": {"ip": t.ip}, "health_status": _health(project, lb, None)}
        targets.append(entry)
    return {
        "id": lb.id,
        "name": lb.name,
        "public_net": {
            "enabled": lb.public_enabled,
            "ipv4": {"ip": lb.ipv4, "dns_ptr": lb.dns_ptr.get(lb.ipv4)},
            "ipv6": {"ip": lb.ipv6, "dns_ptr": lb.dns_ptr.get(lb.ipv6)},
        },
        "private_net": [{"network": n.id, "ip": n.load_balancers[lb.id].ip} for n in _networks_of(project, lb)],
        "location": lb.location.as_json(),
        "load_balancer_type": catalog.load_balancer_type_json(lb.type),
        "protection": {"delete": lb.protection_delete},
        "labels": dict(lb.labels),
        "targets": targets,
        "services": [dict(s) for s in lb.services],
        "algorithm": {"type": lb.algorithm},
        "outgoing_traffic": 0,
        "ingoing_traffic": 0,
        "included_traffic": 20 * catalog.TB if lb.location.name in catalog.EU else catalog.TB,
        "created": iso8601(lb.created),
    }


def _port(value: int | None, name: str) -> int:
    if value is None or not 1 <= value <= 65535:
        raise invalid_field(name, f"{name} must be a port from 1 to 65535")
    return value


def _service(body: ServiceBody, old: dict[str, Any] | None = None) -> dict[str, Any]:
    """A service as the API shows it: ``body`` over ``old`` (an update) or over the defaults."""
    protocol = body.protocol or (old["protocol"] if old else None)
    if protocol not in ("tcp", "http", "https"):
        raise invalid_field("protocol", "protocol must be tcp, http or https")
    if protocol == "https":
        raise invalid_field("protocol", "https needs certificates, which the simulator does not have; use tcp or http")
    default_port = 80 if protocol == "http" else None
    listen = body.listen_port if body.listen_port is not None else (old["listen_port"] if old else default_port)
    listen = _port(listen, "listen_port")
    destination = body.destination_port or (old["destination_port"] if old else listen)
    destination = _port(destination, "destination_port")
    service: dict[str, Any] = {
        "protocol": protocol,
        "listen_port": listen,
        "destination_port": destination,
        "proxyprotocol": body.proxyprotocol
        if body.proxyprotocol is not None
        else (old["proxyprotocol"] if old else False),
    }
    hc_old: dict[str, Any] = dict(old["health_check"]) if old else {}
    hc = body.health_check or HealthCheckBody()
    hc_protocol = hc.protocol or hc_old.get("protocol", "tcp")
    if hc_protocol not in ("tcp", "http"):
        raise invalid_field("health_check.protocol", "health_check.protocol must be tcp or http")
    health: dict[str, Any] = {
        "protocol": hc_protocol,
        "port": _port(hc.port or hc_old.get("port", destination), "health_check.port"),
        "interval": hc.interval or hc_old.get("interval", 15),
        "timeout": hc.timeout or hc_old.get("timeout", 10),
        "retries": hc.retries if hc.retries is not None else hc_old.get("retries", 3),
    }
    if hc_protocol == "http":
        http_old: dict[str, Any] = hc_old.get("http") or {}
        given = hc.http or HealthCheckHttpBody()
        health["http"] = {
            "domain": given.domain if given.domain is not None else http_old.get("domain"),
            "path": given.path or http_old.get("path", "/"),
            "response": given.response if given.response is not None else http_old.get("response", ""),
            "status_codes": given.status_codes or http_old.get("status_codes", ["2??", "3??"]),
            "tls": given.tls if given.tls is not None else http_old.get("tls", False),
        }
    service["health_check"] = health
    if protocol == "http":
        h_old: dict[str, Any] = (old or {}).get("http") or {}
        h = body.http or HttpBody()
        service["http"] = {
            "cookie_name": h.cookie_name or h_old.get("cookie_name", "HCLBSTICKY"),
            "cookie_lifetime": h.cookie_lifetime or h_old.get("cookie_lifetime", 300),
            "certificates": [],
            "redirect_http": False,
            "sticky_sessions": h.sticky_sessions
            if h.sticky_sessions is not None
            else h_old.get("sticky_sessions", False),
            # newer than the spec, and the hcloud client (2.27) needs it
            "timeout_idle": h.timeout_idle or h_old.get("timeout_idle", 60),
        }
    return service


def _target(project: Project, lb: LoadBalancer, body: TargetBody) -> Target:
    private = bool(body.use_private_ip)
    if body.type == "server":
        if body.server is None or body.server.id not in project.servers:
            raise invalid_field("server", "target server not found")
        target = Target("server", server=body.server.id, use_private_ip=private)
        if private and not any(body.server.id in n.servers for n in _networks_of(project, lb)):
            raise InvalidInput("use_private_ip needs the server in a network the load balancer is attached to")
    elif body.type == "label_selector":
        if body.label_selector is None:
            raise invalid_field("label_selector", "a label_selector target needs label_selector.selector")
        parse_label_selector(body.label_selector.selector)
        target = Target("label_selector", selector=body.label_selector.selector, use_private_ip=private)
    elif body.type == "ip":
        if body.ip is None:
            raise invalid_field("ip", "an ip target needs ip.ip")
        try:
            address = ipaddress.ip_address(body.ip.ip)
        except ValueError:
            raise invalid_field("ip", f"{body.ip.ip!r} is not an IP address") from None
        target = Target("ip", ip=str(address))
    else:
        raise invalid_field("type", "type must be server, label_selector or ip")
    if any(t.key() == target.key() for t in lb.targets):
        raise InvalidInput("the load balancer already has this target")
    return target


def _fits(lb: LoadBalancer, lb_type: catalog.LoadBalancerType, services: int, targets: int) -> None:
    if services > lb_type.max_services:
        raise InvalidInput(f"{lb_type.name} allows at most {lb_type.max_services} services")
    if targets > lb_type.max_targets:
        raise InvalidInput(f"{lb_type.name} allows at most {lb_type.max_targets} targets")


def _view(project: Project, server: Server, answer: dict[str, Any]) -> None:
    answer["load_balancers"] = sorted(
        lb.id
        for lb in project.load_balancers.values()
        if any(server.id in {s.id for s in lb.servers_of(project, t)} for t in lb.targets)
    )


def _server_gone(sim: Simulator, project: Project, server: Server) -> None:
    for lb in project.load_balancers.values():
        lb.targets = [t for t in lb.targets if not (t.type == "server" and t.server == server.id)]


SERVER_VIEWS.append(_view)
SERVER_GONE.append(_server_gone)

SORTS: dict[str, Callable[[Any], Any]] = {
    "id": lambda lb: lb.id,
    "name": lambda lb: lb.name,
    "created": lambda lb: lb.created,
}
METRICS = {
    "open_connections": [("open_connections", 500.0)],
    "connections_per_second": [("connections_per_second", 50.0)],
    "requests_per_second": [("requests_per_second", 120.0)],
    "bandwidth": [("bandwidth.in", 2e6), ("bandwidth.out", 4e6)],
}


def register(app: FastAPI) -> None:
    register_action_routes(app, "load_balancers", "load_balancer", load_balancer)

    @app.get("/v1/load_balancer_types")
    async def list_load_balancer_types(request: Request) -> dict[str, Any]:
        name = request.query_params.get("name")
        items = [lt for lt in catalog.LOAD_BALANCER_TYPES if name in (None, lt.name)]
        sorts: dict[str, Callable[[Any], Any]] = {"id": lambda x: x.id, "name": lambda x: x.name}
        return listing(request, "load_balancer_types", items, catalog.load_balancer_type_json, sorts)

    @app.get("/v1/load_balancer_types/{type_id:int}")
    async def get_load_balancer_type(type_id: int) -> dict[str, Any]:
        lt = next((x for x in catalog.LOAD_BALANCER_TYPES if x.id == type_id), None)
        if lt is None:
            raise NotFound(f"load balancer type {type_id} not found")
        return {"load_balancer_type": catalog.load_balancer_type_json(lt)}

    @app.get("/v1/load_balancers")
    async def list_load_balancers(request: Request) -> dict[str, Any]:
        project = project_of(request)
        name = request.query_params.get("name")
        items = [lb for lb in project.load_balancers.values() if name in (None, lb.name)]
        return listing(request, "load_balancers", items, lambda lb: as_json(project, lb), SORTS)

    @app.post("/v1/load_balancers", status_code=201)
    async def create_load_balancer(request: Request, body: CreateLoadBalancer) -> dict[str, Any]:
        sim, project = sim_of(request), project_of(request)
        lb_type = catalog.load_balancer_type(body.load_balancer_type)
        if lb_type is None:
            raise invalid_field("load_balancer_type", f"load balancer type {body.load_balancer_type!r} not found")
        if (body.location is None) == (body.network_zone is None):
            raise invalid_field("location", "give either location or network_zone")
        if body.location is not None:
            loc = catalog.location(body.location)
            if loc is None:
                raise invalid_field("location", f"location {body.location!r} not found")
        else:
            loc = next((x for x in catalog.LOCATIONS if x.network_zone == body.network_zone), None)
            if loc is None:
                raise invalid_field("network_zone", f"network zone {body.network_zone!r} not found")
        algorithm = body.algorithm.type if body.algorithm else "round_robin"
        if algorithm not in ("round_robin", "least_connections"):
            raise invalid_field("algorithm", "algorithm must be round_robin or least_connections")
        net = network_ref(project, body.network) if body.network is not None else None
        if body.public_interface is False and net is None:
            raise LoadBalancerNotAttached("a load balancer without public interface needs a network")
        labels = check_labels(body.labels)
        check_name(project.load_balancers.values(), body.name)
        check_limit(len(project.load_balancers), sim.config.max_load_balancers, "load balancer")
        lb = LoadBalancer(sim.next_id(), body.name, lb_type, loc, sim.now(), "", "", algorithm, labels=labels)
        lb.public_enabled = body.public_interface is not False
        attachment = net.place(loc.network_zone) if net is not None else None
        for service_body in body.services or []:
            service = _service(service_body)
            if any(s["listen_port"] == service["listen_port"] for s in lb.services):
                raise invalid_field("services", f"listen_port {service['listen_port']} is used twice")
            lb.services.append(service)
        if net is not None and attachment is not None:
            net.load_balancers[lb.id] = attachment
        try:
            for target_body in body.targets or []:
                lb.targets.append(_target(project, lb, target_body))
            _fits(lb, lb_type, len(lb.services), len(lb.targets))
        except DomainError:
            if net is not None:
                net.load_balancers.pop(lb.id, None)
            raise
        lb.ipv4, lb.ipv6_network = sim.pool.take_v4(), sim.pool.take_v6()
        project.load_balancers[lb.id] = lb
        resources = [(lb.id, "load_balancer")]
        action = start(sim, project, "create_load_balancer", resources)
        return {"load_balancer": as_json(project, lb), "action": action.as_json(sim.now())}

    @app.get("/v1/load_balancers/{lb_id:int}")
    async def get_load_balancer(request: Request, lb_id: int) -> dict[str, Any]:
        project = project_of(request)
        return {"load_balancer": as_json(project, load_balancer(project, lb_id))}

    @app.put("/v1/load_balancers/{lb_id:int}")
    async def update_load_balancer(request: Request, lb_id: int, body: UpdateLoadBalancer) -> dict[str, Any]:
        project = project_of(request)
        lb = load_balancer(project, lb_id)
        if body.name is not None:
            check_name(project.load_balancers.values(), body.name, lb.id)
        labels = check_labels(body.labels) if body.labels is not None else lb.labels
        lb.name = body.name if body.name is not None else lb.name
        lb.labels = labels
        return {"load_balancer": as_json(project, lb)}

    @app.delete("/v1/load_balancers/{lb_id:int}", status_code=204)
    async def delete_load_balancer(request: Request, lb_id: int) -> None:
        sim, project = sim_of(request), project_of(request)
        lb = load_balancer(project, lb_id)
        unprotected(lb.protection_delete, lb.id, "load_balancer")
        unlocked(sim, lb.id, "load_balancer")
        for net in project.networks.values():
            net.load_balancers.pop(lb.id, None)
        del project.load_balancers[lb.id]
        sim.pool.release_v4(lb.ipv4)
        sim.pool.release_v6(lb.ipv6_network)

    @app.get("/v1/load_balancers/{lb_id:int}/metrics")
    async def load_balancer_metrics(request: Request, lb_id: int) -> dict[str, Any]:
        lb = load_balancer(project_of(request), lb_id)
        kinds = multi(request, "type")
        if not kinds or any(k not in METRICS for k in kinds):
            raise invalid_field("type", f"type must be one or more of {', '.join(METRICS)}")
        begin = parse_time("start", request.query_params.get("start"))
        end = parse_time("end", request.query_params.get("end"))
        if end < begin:
            raise invalid_field("end", "end must not be before start")
        step_raw = request.query_params.get("step")
        try:
            step = max(1, int(float(step_raw))) if step_raw else max(1, int((end - begin) // 100))
        except ValueError:
            raise invalid_field("step", "step must be a number of seconds") from None
        if (end - begin) / step > 10_000:
            raise invalid_field("step", "too many samples; choose a larger step")
        points = [begin + i * step for i in range(int((end - begin) // step) + 1)]
        series: dict[str, Any] = {}
        for kind in kinds:
            for name, scale in METRICS[kind]:
                level = (0.3 + 0.2 * math.sin(t / 300.0 + lb.id % 13) if lb.targets else 0.0 for t in points)
                series[name] = {"values": [[t, f"{scale * v:.4f}"] for t, v in zip(points, level, strict=True)]}
        return {"metrics": {"start": iso8601(begin), "end": iso8601(end), "step": step, "time_series": series}}

    prefix = "/v1/load_balancers/{lb_id:int}/actions"

    def run(request: Request, lb: LoadBalancer, command: str, effect: Callable[[], None] | None) -> dict[str, Any]:
        sim, project = sim_of(request), project_of(request)
        return ActionAnswer.of(sim, start(sim, project, command, [(lb.id, "load_balancer")], effect))

    @app.post(f"{prefix}/add_target", status_code=201)
    async def add_target(request: Request, lb_id: int, body: TargetBody) -> dict[str, Any]:
        project = project_of(request)
        lb = load_balancer(project, lb_id)
        unlocked(sim_of(request), lb.id, "load_balancer")
        target = _target(project, lb, body)
        _fits(lb, lb.type, len(lb.services), len(lb.targets) + 1)
        return run(request, lb, "add_target", lambda: lb.targets.append(target))

    @app.post(f"{prefix}/remove_target", status_code=201)
    async def remove_target(request: Request, lb_id: int, body: TargetBody) -> dict[str, Any]:
        project = project_of(request)
        lb = load_balancer(project, lb_id)
        key = (
            body.type,
            body.server.id
            if body.type == "server" and body.server
            else (body.label_selector.selector if body.label_selector else (body.ip.ip if body.ip else None)),
        )
        target = next((t for t in lb.targets if t.key() == key), None)
        if target is None:
            raise InvalidInput("the load balancer has no such target")
        return run(request, lb, "remove_target", lambda: lb.targets.remove(target))

    @app.post(f"{prefix}/add_service", status_code=201)
    async def add_service(request: Request, lb_id: int, body: ServiceBody) -> dict[str, Any]:
        lb = load_balancer(project_of(request), lb_id)
        unlocked(sim_of(request), lb.id, "load_balancer")
        service = _service(body)
        if any(s["listen_port"] == service["listen_port"] for s in lb.services):
            raise InvalidInput(f"listen_port {service['listen_port']} already has a service")
        _fits(lb, lb.type, len(lb.services) + 1, len(lb.targets))
        return run(request, lb, "add_service", lambda: lb.services.append(service))

    @app.post(f"{prefix}/update_service", status_code=201)
    async def update_service(request: Request, lb_id: int, body: ServiceBody) -> dict[str, Any]:
        lb = load_balancer(project_of(request), lb_id)
        unlocked(sim_of(request), lb.id, "load_balancer")
        index = next((i for i, s in enumerate(lb.services) if s["listen_port"] == body.listen_port), None)
        if index is None:
            raise invalid_field("listen_port", f"no service listens on {body.listen_port}")
        service = _service(body, lb.services[index])

        def updated() -> None:
            lb.services[index] = service

        return run(request, lb, "update_service", updated)

    @app.post(f"{prefix}/delete_service", status_code=201)
    async def delete_service(request: Request, lb_id: int, body: ListenPort) -> dict[str, Any]:
        lb = load_balancer(project_of(request), lb_id)
        service = next((s for s in lb.services if s["listen_port"] == body.listen_port), None)
        if service is None:
            raise invalid_field("listen_port", f"no service listens on {body.listen_port}")
        return run(request, lb, "delete_service", lambda: lb.services.remove(service))

    @app.post(f"{prefix}/change_algorithm", status_code=201)
    async def change_algorithm(request: Request, lb_id: int, body: Algorithm) -> dict[str, Any]:
        lb = load_balancer(project_of(request), lb_id)
        if body.type not in ("round_robin", "least_connections"):
            raise invalid_field("type", "type must be round_robin or least_connections")

        def changed() -> None:
            lb.algorithm = body.type

        return run(request, lb, "change_algorithm", changed)

    @app.post(f"{prefix}/change_type", status_code=201)
    async def change_lb_type(request: Request, lb_id: int, body: ChangeType) -> dict[str, Any]:
        lb = load_balancer(project_of(request), lb_id)
        new_type = catalog.load_balancer_type(body.load_balancer_type)
        if new_type is None:
            raise invalid_field("load_balancer_type", f"load balancer type {body.load_balancer_type!r} not found")
        _fits(lb, new_type, len(lb.services), len(lb.targets))

        def changed() -> None:
            lb.type = new_type

        return run(request, lb, "change_load_balancer_type", changed)

    @app.post(f"{prefix}/change_protection", status_code=201)
    async def change_lb_protection(request: Request, lb_id: int, body: DeleteProtection) -> dict[str, Any]:
        lb = load_balancer(project_of(request), lb_id)

        def changed() -> None:
            if body.delete is not None:
                lb.protection_delete = body.delete

        return run(request, lb, "change_protection", changed)

    @app.post(f"{prefix}/change_dns_ptr", status_code=201)
    async def change_lb_dns_ptr(request: Request, lb_id: int, body: DnsPtr) -> dict[str, Any]:
        lb = load_balancer(project_of(request), lb_id)
        ip = lb.ipv6 if ":" in body.ip else lb.ipv4
        effect = change_dns_ptr(lb.dns_ptr, ip, ip, body.ip, body.dns_ptr)
        return run(request, lb, "change_dns_ptr", effect)

    @app.post(f"{prefix}/enable_public_interface", status_code=201)
    async def enable_public_interface(request: Request, lb_id: int) -> dict[str, Any]:
        lb = load_balancer(project_of(request), lb_id)

        def enabled() -> None:
            lb.public_enabled = True

        return run(request, lb, "enable_public_interface", enabled)

    @app.post(f"{prefix}/disable_public_interface", status_code=201)
    async def disable_public_interface(request: Request, lb_id: int) -> dict[str, Any]:
        project = project_of(request)
        lb = load_balancer(project, lb_id)
        if not _networks_of(project, lb):
            raise LoadBalancerNotAttached("attach the load balancer to a network before disabling its public interface")

        def disabled() -> None:
            lb.public_enabled = False

        return run(request, lb, "disable_public_interface", disabled)

    @app.post(f"{prefix}/attach_to_network", status_code=201)
    async def attach_lb_to_network(request: Request, lb_id: int, body: AttachNetwork) -> dict[str, Any]:
        sim, project = sim_of(request), project_of(request)
        lb = load_balancer(project, lb_id)
        net = network_ref(project, body.network)
        unlocked(sim, lb.id, "load_balancer")
        unlocked(sim, net.id, "network")
        if lb.id in net.load_balancers:
            raise InvalidInput(f"load balancer {lb.id} is already attached to network {net.id}")
        attachment = net.place(lb.location.network_zone, body.ip, body.ip_range)

        def attached() -> None:
            net.load_balancers[lb.id] = attachment

        resources = [(lb.id, "load_balancer"), (net.id, "network")]
        return ActionAnswer.of(sim, start(sim, project, "attach_to_network", resources, attached))

    @app.post(f"{prefix}/detach_from_network", status_code=201)
    async def detach_lb_from_network(request: Request, lb_id: int, body: DetachNetwork) -> dict[str, Any]:
        sim, project = sim_of(request), project_of(request)
        lb = load_balancer(project, lb_id)
        net = network_ref(project, body.network)
        if lb.id not in net.load_balancers:
            raise InvalidInput(f"load balancer {lb.id} is not attached to network {net.id}")
        if not lb.public_enabled and len(_networks_of(project, lb)) == 1:
            raise InvalidInput("enable the public interface before detaching the last network")

        def detached() -> None:
            net.load_balancers.pop(lb.id, None)
            lb.targets = [t for t in lb.targets if not t.use_private_ip or _networks_of(project, lb)]

        resources = [(lb.id, "load_balancer"), (net.id, "network")]
        return ActionAnswer.of(sim, start(sim, project, "detach_from_network", resources, detached))
