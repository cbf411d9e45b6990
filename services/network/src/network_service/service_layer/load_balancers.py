"""Load balancer use cases: a tenant's load balancers (create, read, list, update, delete), their
actions (services, targets, algorithm, type, networks, public interface, reverse DNS,
protection), and the reactions to compute's servers and identity's accounts.

The platform's rows are the truth; network's worker mirrors them upstream
(:mod:`network_service.service_layer.load_balancer_provisioning`). Creating reserves a unit of the
tenant's ``load_balancer`` quota in the transaction that records the load balancer and its
``create_load_balancer`` action; deleting records it deleted at once and starts the
``delete_load_balancer`` action that deletes it upstream and gives the quota back. Every action
is checked here (:meth:`LoadBalancer.check`, the type's limits, the tenant of every server,
network and certificate it names) before anything changed.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cpshared.aggregate import pending_events
from cpshared.clock import utcnow
from cpshared.errors import AlreadyExists, NotFound
from cpshared.events.envelope import PendingEvent
from cpshared.logging import get_logger
from hetzner_conventions.errors import invalid_field
from hetzner_conventions.label_selector import parse_label_selector
from hetzner_conventions.label_sql import LabelRequirement
from hetzner_conventions.labels import check_labels
from network_service import SERVICE_NAME
from network_service.domain import load_balancers as lbs
from network_service.domain.actions import Action
from network_service.domain.load_balancers import LoadBalancer, LoadBalancerType, Spec, Target
from network_service.service_layer.ports import (
    ActionRepository,
    Compute,
    LoadBalancerRepository,
    LoadBalancerTypes,
    Quotas,
)
from network_service.service_layer.unit_of_work import NetworkUnitOfWork

log = get_logger(__name__)

Reach = Callable[[int, int | None], None]
"""Raises NOT_FOUND unless the caller reaches a resource of (user id, organization id)."""

HTTPS_UPSTREAM = (
    "https services need their certificates upstream, which the platform's upstream does not take yet; "
    "use tcp or http (terminate TLS on the targets)"
)


def reservation_key(lb_id: int) -> str:
    """The load balancer's quota reservation: its platform id, so every retry names the same one."""
    return f"load_balancer-{lb_id}"


@dataclass(frozen=True)
class NewLoadBalancer:
    user_id: int
    organization_id: int | None
    name: str
    load_balancer_type: str
    location: str = ""
    network_zone: str = ""
    algorithm: str = "round_robin"
    services: Sequence[Mapping[str, Any]] = ()
    targets: Sequence[Mapping[str, Any]] = ()
    labels: Mapping[str, str] | None = None
    public_interface: bool = True
    network: int = 0


@dataclass(frozen=True)
class Peers:
    """What the use cases check against: compute's servers and locations, its catalog's types,
    identity's quotas."""

    compute: Compute
    types: LoadBalancerTypes
    quotas: Quotas | None = None


def _name_taken(name: str) -> AlreadyExists:
    return AlreadyExists(
        f"a load balancer named {name!r} exists already; choose another name",
        details={"fields": [{"name": "name", "messages": ["already exists"]}]},
    )


def lb_type(types: LoadBalancerTypes, code: str) -> LoadBalancerType:
    found = types.load_balancer_type(code) if code else None
    if found is None:
        raise invalid_field("load_balancer_type", f"load balancer type {code!r} does not exist")
    return found


def target_of(data: Mapping[str, Any]) -> Target:
    return lbs.check_target(
        str(data.get("type", "")),
        server_id=int(data.get("server_id") or 0) or None,
        selector=data.get("selector"),
        ip=data.get("ip"),
        private=bool(data.get("use_private_ip")),
    )


def _check_server(target: Target, reach: Reach, compute: Compute) -> None:
    """A server target is a live server the caller reaches (``invalid_input`` naming ``server``:
    another tenant's server is not to be told apart from none)."""
    if target.type != "server" or target.server_id is None:
        return
    server = compute.server(target.server_id)
    if server is None or not server.live:
        raise invalid_field("server", f"server {target.server_id} does not exist")
    try:
        reach(server.user_id, server.organization_id)
    except NotFound:
        raise invalid_field("server", f"server {target.server_id} does not exist") from None


def _check_certificates(service: Mapping[str, Any], user_id: int, org: int | None, uow: NetworkUnitOfWork) -> None:
    """An https service's certificates are the load balancer's tenant's; https is refused then
    (its certificates cannot be made upstream)."""
    if service["protocol"] != "https":
        return
    for certificate_id in (service.get("http") or {}).get("certificates") or []:
        found = uow.certificates.get(int(certificate_id)) if int(certificate_id) > 0 else None
        if found is None or not found.owned_by(user_id, org):
            raise invalid_field("http.certificates", f"certificate {certificate_id} does not exist")
    raise invalid_field("protocol", HTTPS_UPSTREAM)


def _check_network(
    network_id: int, lb: LoadBalancer, reach: Reach, uow: NetworkUnitOfWork, zone: str, ip: str | None = None
) -> None:
    network = uow.networks.get(network_id) if network_id > 0 else None
    if network is None:
        raise invalid_field("network", f"network {network_id} does not exist")
    try:
        reach(network.user_id, network.organization_id)
    except NotFound:
        raise invalid_field("network", f"network {network_id} does not exist") from None
    if not lb.owned_by(network.user_id, network.organization_id):
        raise invalid_field("network", f"network {network_id} does not exist")
    if not any(s.network_zone == zone for s in network.subnets):
        raise invalid_field("network", f"network {network_id} has no subnet in the network zone {zone}")
    if ip:
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            raise invalid_field("ip", f"{ip!r} is not an IP address") from None
        if not any(address in ipaddress.ip_network(s.ip_range) for s in network.subnets if s.network_zone == zone):
            raise invalid_field("ip", f"{ip} is not in a subnet of network {network_id} in the network zone {zone}")


def create(cmd: NewLoadBalancer, reach: Reach, uow: NetworkUnitOfWork, peers: Peers) -> tuple[LoadBalancer, Action]:
    """The load balancer (``provisioning``) and its ``create_load_balancer`` action."""
    name = lbs.check_name(cmd.name)
    the_type = lb_type(peers.types, cmd.load_balancer_type)
    if bool(cmd.location) == bool(cmd.network_zone):
        raise invalid_field("location", "give either location or network_zone")
    if cmd.location:
        location = peers.compute.location(cmd.location)
        if location is None:
            raise invalid_field("location", f"location {cmd.location!r} does not exist")
    else:
        zone = [loc for loc in peers.compute.locations() if loc.network_zone == cmd.network_zone]
        location = min(zone, key=lambda loc: loc.id) if zone else None
        if location is None:
            raise invalid_field("network_zone", f"network zone {cmd.network_zone!r} does not exist")
    services = [lbs.check_service(s) for s in cmd.services]
    lbs.check_services(services)
    targets = [target_of(t) for t in cmd.targets]
    lbs.check_targets(targets)
    for target in targets:
        _check_server(target, reach, peers.compute)
    if not cmd.public_interface and not cmd.network:
        raise lbs.NotAttachedToNetwork("a load balancer without public interface needs a network")
    if any(t.use_private_ip for t in targets) and not cmd.network:
        raise lbs.NotAttachedToNetwork("use_private_ip needs the load balancer attached to a network")
    spec = Spec(
        type=the_type.code,
        algorithm=lbs.check_algorithm(cmd.algorithm or "round_robin"),
        public_enabled=cmd.public_interface,
        services=services,
        targets=targets,
        networks=[{"network": cmd.network, "ip": None}] if cmd.network else [],
    )
    lbs.fits(the_type, spec)
    lb = LoadBalancer(
        id=0,
        user_id=cmd.user_id,
        organization_id=cmd.organization_id,
        name=name,
        location=location.code,
        location_id=location.id,
        network_zone=location.network_zone,
        spec=spec,
        labels=check_labels(dict(cmd.labels or {})),
    )
    now = utcnow()
    with uow:
        for service in services:
            _check_certificates(service, cmd.user_id, cmd.organization_id, uow)
        if cmd.network:
            _check_network(cmd.network, lb, reach, uow, location.network_zone)
        if uow.load_balancers.named(cmd.user_id, cmd.organization_id, name) is not None:
            raise _name_taken(name)
        uow.load_balancers.add(lb, now)
        if peers.quotas is None:  # pragma: no cover - the servicer passes identity's quotas
            raise RuntimeError("creating a load balancer needs identity's quotas")
        peers.quotas.reserve(reservation_key(lb.id), cmd.user_id, cmd.organization_id)
        action = lb.begin(lbs.CREATE, {}, now)
        uow.actions.add(action)
        lb.created(action)
        uow.load_balancers.save(lb, now)
        uow.commit()
    log.info("load_balancer_created", load_balancer_id=lb.id, action_id=action.id)
    return lb, action


def _reached(lb_id: int, reach: Reach, uow: NetworkUnitOfWork, *, for_update: bool = False) -> LoadBalancer:
    lb = uow.load_balancers.get(lb_id, for_update=for_update) if lb_id > 0 else None
    if lb is None:
        raise NotFound(f"load balancer {lb_id} does not exist")
    reach(lb.user_id, lb.organization_id)
    return lb


def get(lb_id: int, reach: Reach, uow: NetworkUnitOfWork) -> LoadBalancer:
    with uow:
        return _reached(lb_id, reach, uow)


def update(
    lb_id: int, name: str | None, labels: Mapping[str, str] | None, reach: Reach, uow: NetworkUnitOfWork
) -> LoadBalancer:
    new_name = lbs.check_name(name) if name is not None else None
    new_labels = check_labels(dict(labels)) if labels is not None else None
    with uow:
        lb = _reached(lb_id, reach, uow, for_update=True)
        if (
            new_name is not None
            and new_name != lb.name
            and uow.load_balancers.named(lb.user_id, lb.organization_id, new_name) is not None
        ):
            raise _name_taken(new_name)
        if lb.update(new_name, new_labels):
            uow.load_balancers.save(lb, utcnow())
            uow.commit()
    return lb


def delete(lb_id: int, reach: Reach, uow: NetworkUnitOfWork) -> Action:
    """Delete it here at once (``protected``, ``locked`` refuse); the ``delete_load_balancer``
    action deletes it upstream and gives its quota unit back."""
    with uow:
        lb = _reached(lb_id, reach, uow, for_update=True)
        now = utcnow()
        action = lb.delete(now)
        uow.actions.add(action)
        uow.load_balancers.save(lb, now)
        uow.commit()
    log.info("load_balancer_deleted", load_balancer_id=lb_id, action_id=action.id)
    return action


def start(
    lb_id: int,
    command: str,
    params: dict[str, Any],
    reach: Reach,
    uow: NetworkUnitOfWork,
    peers: Peers,
) -> Action:
    """Check and start one upstream action on the load balancer; ``params`` as the request gave
    them (a service's body, a target, …), checked here."""
    if command not in lbs.UPSTREAM_COMMANDS or command in (lbs.CREATE, lbs.DELETE):
        raise invalid_field("command", f"{command} is not an action of a load balancer")
    checked = dict(params)
    if command == lbs.ADD_SERVICE:
        checked = {"service": lbs.check_service(params["service"])}
    elif command == lbs.DELETE_SERVICE:
        checked = {"listen_port": lbs.check_port("listen_port", params.get("listen_port"))}
    elif command in (lbs.ADD_TARGET, lbs.REMOVE_TARGET):
        target = target_of(params["target"])
        if command == lbs.ADD_TARGET:
            _check_server(target, reach, peers.compute)
        checked = {"target": target.as_dict()}
    elif command == lbs.CHANGE_ALGORITHM:
        checked = {"algorithm": lbs.check_algorithm(str(params.get("algorithm", "")))}
    elif command == lbs.CHANGE_TYPE:
        checked = {"type": lb_type(peers.types, str(params.get("type", ""))).code}
    elif command == lbs.CHANGE_DNS_PTR:
        ip, dns_ptr = lbs.check_dns_ptr(str(params.get("ip", "")), params.get("dns_ptr"))
        checked = {"ip": ip, "dns_ptr": dns_ptr}
    elif command in (lbs.ATTACH, lbs.DETACH):
        network_id = int(params.get("network") or 0)
        checked = {"network": network_id}
        if command == lbs.ATTACH and params.get("ip"):
            checked["ip"] = str(params["ip"])
    with uow:
        lb = _reached(lb_id, reach, uow, for_update=True)
        if command == lbs.UPDATE_SERVICE:
            port = params.get("listen_port")
            old = next((s for s in lb.spec.services if s["listen_port"] == port), None)
            if old is None:
                raise NotFound(f"load balancer {lb_id} has no service listening on port {port}")
            checked = {"listen_port": port, "service": lbs.check_service(params["service"], old)}
            if checked["service"]["listen_port"] != port:
                raise invalid_field("listen_port", "update_service keeps the service's listen_port")
        if "service" in checked:
            _check_certificates(checked["service"], lb.user_id, lb.organization_id, uow)
        if command == lbs.ATTACH:
            _check_network(int(checked["network"]), lb, reach, uow, lb.network_zone, checked.get("ip"))
        the_type = lb_type(peers.types, checked["type"] if command == lbs.CHANGE_TYPE else lb.spec.type)
        lb.check(command, checked, the_type)
        action = lb.begin(command, checked, utcnow())
        uow.actions.add(action)
        uow.load_balancers.save(lb, utcnow())
        uow.commit()
    return action


def change_protection(lb_id: int, delete: bool, reach: Reach, uow: NetworkUnitOfWork) -> Action:
    with uow:
        lb = _reached(lb_id, reach, uow, for_update=True)
        action = lb.change_protection(delete, utcnow())
        uow.actions.add(action)
        uow.load_balancers.save(lb, utcnow())
        uow.commit()
    return action


def of_servers(server_ids: Sequence[int], uow: NetworkUnitOfWork) -> dict[int, list[int]]:
    """The live load balancers targeting each of those servers (by server target or by a label
    selector its labels match), by server; a few queries for the page, whatever its size."""
    wanted = sorted(set(server_ids))
    found: dict[int, set[int]] = {}
    with uow:
        for lb in uow.load_balancers.targeting(wanted):
            for target in lb.spec.targets:
                if target.type == "server" and target.server_id in wanted:
                    found.setdefault(int(target.server_id), set()).add(lb.id)
        known = uow.firewalls.known_servers(wanted)
        for user_id, organization_id in sorted({(u, o) for u, o, _ in known.values()}, key=str):
            for lb in uow.load_balancers.with_selectors(user_id, organization_id):
                parsed = [parse_label_selector(s) for s in lb.selectors()]
                for server_id, (u, o, labels) in known.items():
                    if (u, o) == (user_id, organization_id) and any(p.matches(labels) for p in parsed):
                        found.setdefault(server_id, set()).add(lb.id)
    return {server_id: sorted(ids) for server_id, ids in found.items()}


def selector_servers(lbs_: Sequence[LoadBalancer], uow: NetworkUnitOfWork) -> dict[tuple[int, str], list[int]]:
    """The tenant's servers each label selector target matches now: (load balancer, selector) → servers."""
    matched: dict[tuple[int, str], list[int]] = {}
    with uow:
        labels_of: dict[tuple[int, int | None], dict[int, dict[str, str]]] = {}
        for lb in lbs_:
            if not lb.selectors():
                continue
            tenant = (lb.user_id, lb.organization_id)
            if tenant not in labels_of:
                labels_of[tenant] = uow.firewalls.server_labels(*tenant)
            for selector in lb.selectors():
                parsed = parse_label_selector(selector)
                matched[(lb.id, selector)] = [s for s, labels in labels_of[tenant].items() if parsed.matches(labels)]
    return matched


def health(lbs_: Sequence[LoadBalancer], uow: NetworkUnitOfWork) -> dict[int, dict[tuple[str, int], str]]:
    with uow:
        return uow.load_balancers.health([lb.id for lb in lbs_])


# -- reactions ----------------------------------------------------------------------------------


def server_labelled(repository: LoadBalancerRepository, user_id: int, organization_id: int | None) -> None:
    """A server of the tenant was made or relabelled: its load balancers with selectors are unsynced."""
    repository.unsync_tenant(user_id, organization_id)


def server_deleted(repository: LoadBalancerRepository, server_id: int) -> list[PendingEvent]:
    """Compute deleted the server: it is no more a target of any load balancer (upstream, deleting
    the server did that already; the worker brings the rest in line)."""
    now = utcnow()
    recorded: list[PendingEvent] = []
    for lb in repository.targeting([server_id], for_update=True):
        if lb.server_gone(server_id):
            repository.save(lb, now)
            recorded.extend(pending_events(lb, SERVICE_NAME))
    return recorded


def account_suspended(repository: LoadBalancerRepository, user_id: int, reason: str) -> list[PendingEvent]:
    recorded: list[PendingEvent] = []
    for lb in repository.owned_by(user_id, for_update=True):
        if lb.block(reason):
            repository.save(lb, utcnow())
            recorded.extend(pending_events(lb, SERVICE_NAME))
    return recorded


def account_activated(repository: LoadBalancerRepository, user_id: int) -> list[PendingEvent]:
    recorded: list[PendingEvent] = []
    for lb in repository.owned_by(user_id, for_update=True):
        if lb.unblock():
            repository.save(lb, utcnow())
            recorded.extend(pending_events(lb, SERVICE_NAME))
    return recorded


def account_erased(repository: LoadBalancerRepository, actions: ActionRepository, user_id: int) -> list[PendingEvent]:
    """Delete the load balancers ``user_id`` owns itself, protected or not (their delete actions
    delete them upstream and give the quota back); one busy with an action stays (logged)."""
    now = utcnow()
    recorded: list[PendingEvent] = []
    for lb in repository.owned_by(user_id, for_update=True):
        action = lb.erase(now)
        if action is None:
            log.warning("load_balancer_of_erased_account_busy", load_balancer_id=lb.id)
            continue
        actions.add(action)
        repository.save(lb, now)
        recorded.extend(pending_events(lb, SERVICE_NAME))
    return recorded


# -- lists --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Search:
    user_id: int | None
    organization_id: int | None
    name: str = ""
    requirements: Sequence[LabelRequirement] = ()
    order: Sequence[tuple[str, bool]] = ()
    page: int = 1
    per_page: int = 25


def search(query: Search, uow: NetworkUnitOfWork) -> tuple[list[LoadBalancer], int]:
    with uow:
        return uow.load_balancers.search(
            user_id=query.user_id,
            organization_id=query.organization_id,
            name=query.name,
            requirements=query.requirements,
            order=query.order,
            offset=(max(query.page, 1) - 1) * query.per_page,
            limit=query.per_page,
        )


@dataclass(frozen=True)
class ActionSearch:
    user_id: int | None
    organization_id: int | None
    load_balancer_id: int = 0
    ids: Sequence[int] = field(default_factory=tuple)
    statuses: Sequence[str] = ()
    order: Sequence[tuple[str, bool]] = ()
    page: int = 1
    per_page: int = 25


def action(action_id: int, reach: Reach, uow: NetworkUnitOfWork) -> Action:
    with uow:
        found = uow.actions.get(action_id)
        if found is None or found.resource_type != lbs.RESOURCE:
            raise NotFound(f"action {action_id} does not exist")
        reach(found.user_id, found.organization_id)
        return found


def actions(query: ActionSearch, reach: Reach, uow: NetworkUnitOfWork) -> tuple[list[Action], int]:
    with uow:
        if query.load_balancer_id:
            lb = uow.load_balancers.get_any(query.load_balancer_id)
            if lb is None or lb.deleted_at is not None:
                raise NotFound(f"load balancer {query.load_balancer_id} does not exist")
            reach(lb.user_id, lb.organization_id)
        return uow.actions.search(
            user_id=query.user_id,
            organization_id=query.organization_id,
            resource_type=lbs.RESOURCE,
            resource_id=query.load_balancer_id,
            ids=query.ids,
            statuses=query.statuses,
            order=query.order,
            offset=(max(query.page, 1) - 1) * query.per_page,
            limit=query.per_page,
        )
