"""Firewalls: inbound/outbound rules applied to servers, directly or through a label selector
(every server whose labels match). An application is ``pending`` while its action runs and
``applied`` after; it shows in the server's ``public_net.firewalls``. A firewall still applied
somewhere cannot be deleted (``resource_in_use``); a server that goes away drops its direct
applications.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from pydantic import BaseModel

from cpshared.errors import DomainError, NotFound
from hetzner_conventions.errors import invalid_field
from hetzner_conventions.label_selector import parse_label_selector
from hetzner_sim import catalog
from hetzner_sim.common import check_limit, check_name, listing, project_of, register_action_routes, sim_of, unlocked
from hetzner_sim.state import (
    SERVER_CREATE_OPTIONS,
    SERVER_GONE,
    SERVER_VIEWS,
    Action,
    CreateServer,
    Project,
    Server,
    Simulator,
    check_labels,
    iso8601,
)

PROTOCOLS = ("tcp", "udp", "icmp", "esp", "gre")
_PORT = re.compile(r"^(any|\d{1,5}(-\d{1,5})?)$")
MAX_RULES = 50


class FirewallError(DomainError):
    """Hetzner's firewall-specific codes: resource_in_use, firewall_already_applied, ..."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Rule:
    direction: str
    protocol: str
    port: str | None
    source_ips: list[str]
    destination_ips: list[str]
    description: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "direction": self.direction,
            "protocol": self.protocol,
            "port": self.port,
            "source_ips": list(self.source_ips),
            "destination_ips": list(self.destination_ips),
            "description": self.description,
        }


@dataclass
class Applied:
    """One ``apply_to`` entry: a server id or a label selector."""

    server: int | None
    selector: str | None
    status: str = "pending"

    def key(self) -> tuple[int | None, str | None]:
        return self.server, self.selector


@dataclass
class Firewall:
    id: int
    name: str
    created: float
    rules: list[Rule] = field(default_factory=list)
    applied: list[Applied] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)

    def matched(self, project: Project, entry: Applied) -> list[Server]:
        if entry.server is not None:
            return [project.servers[entry.server]] if entry.server in project.servers else []
        selector = parse_label_selector(entry.selector or "")
        return sorted((s for s in project.servers.values() if selector.matches(s.labels)), key=lambda s: s.id)

    def as_json(self, project: Project) -> dict[str, Any]:
        applied_to: list[dict[str, Any]] = []
        for entry in self.applied:
            if entry.server is not None:
                applied_to.append({"type": "server", "server": {"id": entry.server}})
            else:
                applied_to.append(
                    {
                        "type": "label_selector",
                        "label_selector": {"selector": entry.selector},
                        "applied_to_resources": [
                            {"type": "server", "server": {"id": s.id}} for s in self.matched(project, entry)
                        ],
                    }
                )
        return {
            "id": self.id,
            "name": self.name,
            "labels": dict(self.labels),
            "created": iso8601(self.created),
            "rules": [r.as_json() for r in self.rules],
            "applied_to": applied_to,
        }


class RuleBody(BaseModel):
    direction: str
    protocol: str
    port: str | None = None
    source_ips: list[str] | None = None
    destination_ips: list[str] | None = None
    description: str | None = None


class Selector(BaseModel):
    selector: str


class ResourceId(BaseModel):
    id: int


class ResourceBody(BaseModel):
    type: str
    server: ResourceId | None = None
    label_selector: Selector | None = None


class CreateFirewall(BaseModel):
    name: str
    labels: dict[str, str] | None = None
    rules: list[RuleBody] | None = None
    apply_to: list[ResourceBody] | None = None


class UpdateFirewall(BaseModel):
    name: str | None = None
    labels: dict[str, str] | None = None


class SetRules(BaseModel):
    rules: list[RuleBody]


class ApplyTo(BaseModel):
    apply_to: list[ResourceBody]


class RemoveFrom(BaseModel):
    remove_from: list[ResourceBody]


def firewall(project: Project, firewall_id: int) -> Firewall:
    if firewall_id not in project.firewalls:
        raise NotFound(f"firewall {firewall_id} not found")
    return project.firewalls[firewall_id]


def _ips(values: list[str] | None, name: str) -> list[str]:
    out = []
    for value in values or []:
        try:
            out.append(str(ipaddress.ip_network(value, strict=False)))
        except ValueError:
            raise invalid_field(name, f"{value!r} is not an IP network in CIDR notation") from None
    return out


def _rule(body: RuleBody) -> Rule:
    if body.direction not in ("in", "out"):
        raise invalid_field("rules.direction", "direction must be in or out")
    if body.protocol not in PROTOCOLS:
        raise invalid_field("rules.protocol", f"protocol must be one of {', '.join(PROTOCOLS)}")
    if body.protocol in ("tcp", "udp"):
        if body.port is None or not _PORT.match(body.port):
            raise invalid_field("rules.port", "tcp and udp rules need a port: a number, a range a-b, or any")
        bounds = [] if body.port == "any" else [int(p) for p in body.port.split("-")]
        if any(not 1 <= p <= 65535 for p in bounds) or (len(bounds) == 2 and bounds[0] > bounds[1]):
            raise invalid_field("rules.port", "ports are 1 to 65535, a range low-high")
    elif body.port is not None:
        raise invalid_field("rules.port", f"{body.protocol} rules have no port")
    sources = _ips(body.source_ips, "rules.source_ips")
    destinations = _ips(body.destination_ips, "rules.destination_ips")
    if body.direction == "in" and (not sources or destinations):
        raise invalid_field("rules.source_ips", "an inbound rule needs source_ips and no destination_ips")
    if body.direction == "out" and (not destinations or sources):
        raise invalid_field("rules.destination_ips", "an outbound rule needs destination_ips and no source_ips")
    return Rule(body.direction, body.protocol, body.port, sources, destinations, body.description)


def _rules(bodies: list[RuleBody] | None) -> list[Rule]:
    if len(bodies or []) > MAX_RULES:
        raise invalid_field("rules", f"at most {MAX_RULES} rules")
    return [_rule(b) for b in bodies or []]


def _entry(project: Project, body: ResourceBody) -> Applied:
    if body.type == "server":
        if body.server is None:
            raise invalid_field("server", "a server resource needs server.id")
        if body.server.id not in project.servers:
            raise FirewallError("firewall_resource_not_found", f"server {body.server.id} not found")
        return Applied(body.server.id, None)
    if body.type == "label_selector":
        if body.label_selector is None:
            raise invalid_field("label_selector", "a label_selector resource needs label_selector.selector")
        parse_label_selector(body.label_selector.selector)
        return Applied(None, body.label_selector.selector)
    raise invalid_field("type", "type must be server or label_selector")


def _resources(fw: Firewall, entry: Applied) -> list[tuple[int, str]]:
    resources = [(fw.id, "firewall")]
    if entry.server is not None:
        resources.append((entry.server, "server"))
    return resources


def _apply(sim: Simulator, project: Project, fw: Firewall, entries: list[Applied]) -> list[Action]:
    actions = []
    for entry in entries:
        if any(e.key() == entry.key() for e in fw.applied):
            raise FirewallError("firewall_already_applied", f"firewall {fw.id} is already applied there")
    for entry in entries:
        fw.applied.append(entry)

        def applied(entry: Applied = entry) -> None:
            entry.status = "applied"

        def failed(entry: Applied = entry) -> None:
            if entry in fw.applied:
                fw.applied.remove(entry)

        actions.append(sim.start_action(project, "apply_firewall", _resources(fw, entry), applied, failed))
    return actions


def _view(project: Project, server: Server, answer: dict[str, Any]) -> None:
    shown = []
    for fw in sorted(project.firewalls.values(), key=lambda f: f.id):
        statuses = [e.status for e in fw.applied if server in fw.matched(project, e)]
        if statuses:
            shown.append({"id": fw.id, "status": "applied" if "applied" in statuses else "pending"})
    answer["public_net"]["firewalls"] = shown


def _server_gone(sim: Simulator, project: Project, server: Server) -> None:
    for fw in project.firewalls.values():
        fw.applied = [e for e in fw.applied if e.server != server.id]


def _on_create(
    sim: Simulator, project: Project, request: CreateServer, dc: catalog.Datacenter
) -> Callable[[Server], None] | None:
    """``firewalls`` (``[{"firewall": id}]``) in a server's create request: applied to it."""
    if not request.firewalls:
        return None
    chosen = []
    for item in request.firewalls:
        fw = project.firewalls.get(item.get("firewall", -1))
        if fw is None:
            raise invalid_field("firewalls", f"firewall {item.get('firewall')} not found")
        chosen.append(fw)

    def apply(server: Server) -> None:
        for fw in chosen:
            fw.applied.append(Applied(server.id, None, "applied"))

    return apply


SERVER_VIEWS.append(_view)
SERVER_GONE.append(_server_gone)
SERVER_CREATE_OPTIONS.append(_on_create)

SORTS: dict[str, Callable[[Any], Any]] = {
    "id": lambda f: f.id,
    "name": lambda f: f.name,
    "created": lambda f: f.created,
}


def register(app: FastAPI) -> None:
    register_action_routes(app, "firewalls", "firewall", firewall)

    def actions_json(sim: Simulator, actions: list[Action]) -> list[dict[str, Any]]:
        now = sim.now()
        return [a.as_json(now) for a in actions]

    @app.get("/v1/firewalls")
    async def list_firewalls(request: Request) -> dict[str, Any]:
        project = project_of(request)
        name = request.query_params.get("name")
        items = [f for f in project.firewalls.values() if name in (None, f.name)]
        return listing(request, "firewalls", items, lambda f: f.as_json(project), SORTS)

    @app.post("/v1/firewalls", status_code=201)
    async def create_firewall(request: Request, body: CreateFirewall) -> dict[str, Any]:
        sim, project = sim_of(request), project_of(request)
        labels = check_labels(body.labels)
        rules = _rules(body.rules)
        entries = [_entry(project, r) for r in body.apply_to or []]
        for entry in entries:
            if entry.server is not None:
                unlocked(sim, entry.server, "server")
        check_name(project.firewalls.values(), body.name)
        check_limit(len(project.firewalls), sim.config.max_firewalls, "firewall")
        fw = Firewall(sim.next_id(), body.name, sim.now(), rules, labels=labels)
        project.firewalls[fw.id] = fw
        actions = _apply(sim, project, fw, entries)
        return {"firewall": fw.as_json(project), "actions": actions_json(sim, actions)}

    @app.get("/v1/firewalls/{firewall_id:int}")
    async def get_firewall(request: Request, firewall_id: int) -> dict[str, Any]:
        project = project_of(request)
        return {"firewall": firewall(project, firewall_id).as_json(project)}

    @app.put("/v1/firewalls/{firewall_id:int}")
    async def update_firewall(request: Request, firewall_id: int, body: UpdateFirewall) -> dict[str, Any]:
        project = project_of(request)
        fw = firewall(project, firewall_id)
        if body.name is not None:
            check_name(project.firewalls.values(), body.name, fw.id)
        labels = check_labels(body.labels) if body.labels is not None else fw.labels
        fw.name = body.name if body.name is not None else fw.name
        fw.labels = labels
        return {"firewall": fw.as_json(project)}

    @app.delete("/v1/firewalls/{firewall_id:int}", status_code=204)
    async def delete_firewall(request: Request, firewall_id: int) -> None:
        sim, project = sim_of(request), project_of(request)
        fw = firewall(project, firewall_id)
        unlocked(sim, fw.id, "firewall")
        if fw.applied:
            raise FirewallError("resource_in_use", f"firewall {fw.id} is still applied; remove it from its resources")
        del project.firewalls[fw.id]

    prefix = "/v1/firewalls/{firewall_id:int}/actions"

    @app.post(f"{prefix}/set_rules", status_code=201)
    async def set_rules(request: Request, firewall_id: int, body: SetRules) -> dict[str, Any]:
        sim, project = sim_of(request), project_of(request)
        fw = firewall(project, firewall_id)
        unlocked(sim, fw.id, "firewall")
        rules = _rules(body.rules)

        def changed() -> None:
            fw.rules = rules

        servers = sorted({s.id for e in fw.applied for s in fw.matched(project, e)})
        actions = [sim.start_action(project, "set_firewall_rules", [(fw.id, "firewall")], changed)]
        actions += [
            sim.start_action(project, "apply_firewall", [(fw.id, "firewall"), (sid, "server")]) for sid in servers
        ]
        return {"actions": actions_json(sim, actions)}

    @app.post(f"{prefix}/apply_to_resources", status_code=201)
    async def apply_to_resources(request: Request, firewall_id: int, body: ApplyTo) -> dict[str, Any]:
        sim, project = sim_of(request), project_of(request)
        fw = firewall(project, firewall_id)
        unlocked(sim, fw.id, "firewall")
        entries = [_entry(project, r) for r in body.apply_to]
        return {"actions": actions_json(sim, _apply(sim, project, fw, entries))}

    @app.post(f"{prefix}/remove_from_resources", status_code=201)
    async def remove_from_resources(request: Request, firewall_id: int, body: RemoveFrom) -> dict[str, Any]:
        sim, project = sim_of(request), project_of(request)
        fw = firewall(project, firewall_id)
        unlocked(sim, fw.id, "firewall")
        entries = []
        for resource in body.remove_from:
            wanted = _entry(project, resource).key()
            entry = next((e for e in fw.applied if e.key() == wanted), None)
            if entry is None:
                raise FirewallError("firewall_already_removed", f"firewall {fw.id} is not applied there")
            entries.append(entry)
        actions = []
        for entry in entries:

            def removed(entry: Applied = entry) -> None:
                if entry in fw.applied:
                    fw.applied.remove(entry)

            actions.append(sim.start_action(project, "remove_firewall", _resources(fw, entry), removed))
        return {"actions": actions_json(sim, actions)}
