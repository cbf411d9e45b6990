"""Network's worker's use cases for load balancers: carry out one running load balancer action
upstream, bring unsynced ones in line (a server of the tenant made or relabelled since), read
their targets' health, and sweep upstream for load balancers nobody should have.

Upstream mirrors a load balancer as one upstream load balancer labelled with its platform id,
holding its spec (:class:`Spec`), its label selector targets resolved into the tenant's servers
they match here (learnt from compute.events). Every step looks at upstream first, so a worker
killed at any line repeats it harmlessly: creating finds the label before making one. A server
compute has not made upstream yet is added later (the load balancer stays unsynced); upstream
that stays unavailable leaves the action running; a permanent refusal ends it in ``error`` with
upstream's code (a create's leftovers deleted, its quota given back) and changes nothing here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from cpshared.clock import utcnow
from cpshared.errors import Unavailable
from cpshared.logging import get_logger
from hetzner_conventions.label_selector import parse_label_selector
from network_service.domain import load_balancers as lbs
from network_service.domain.actions import Action, UpstreamFailure
from network_service.domain.load_balancers import LoadBalancer, Spec
from network_service.service_layer.load_balancers import reservation_key
from network_service.service_layer.ports import Quotas, UpstreamLoadBalancer, UpstreamLoadBalancers
from network_service.service_layer.unit_of_work import NetworkUnitOfWork

log = get_logger(__name__)

COMMANDS = lbs.UPSTREAM_COMMANDS
HEALTH_EVERY = timedelta(seconds=10)
"""How stale a running load balancer's health may get before the idle worker reads it again."""


@dataclass(frozen=True)
class LoadBalancerPeers:
    upstream: UpstreamLoadBalancers
    quotas: Quotas


def _servers(uow: NetworkUnitOfWork, lb: LoadBalancer, spec: Spec) -> dict[int, bool]:
    """The platform servers the spec targets (server targets and the tenant's servers its label
    selectors match now), each with whether its private IP is used."""
    wanted: dict[int, bool] = {}
    for target in spec.targets:
        if target.type == "server" and target.server_id:
            wanted[int(target.server_id)] = wanted.get(int(target.server_id), False) or target.use_private_ip
    selectors = [t for t in spec.targets if t.type == "label_selector" and t.selector]
    if selectors:
        labelled = uow.firewalls.server_labels(lb.user_id, lb.organization_id)
        for target in selectors:
            parsed = parse_label_selector(target.selector or "")
            for server_id, labels in labelled.items():
                if parsed.matches(labels):
                    wanted[server_id] = wanted.get(server_id, False) or target.use_private_ip
    return wanted


def _sync(
    peers: LoadBalancerPeers, uow: NetworkUnitOfWork, lb: LoadBalancer, spec: Spec
) -> tuple[UpstreamLoadBalancer, bool]:
    """Make upstream hold ``spec``; (upstream's load balancer, whether every targeted server is
    upstream). A network not made upstream yet is waited for (Unavailable)."""
    up = peers.upstream
    found = up.find(lb.id)
    made = found[0] if found else up.create(lb.id, spec, lb.location)
    lb.hetzner_id = made.id
    networks: dict[int, int] = {}
    for network_id in spec.network_ids():
        upstream_network = up.network_of(network_id)
        if upstream_network is None:
            raise Unavailable(f"network {network_id} does not exist upstream yet")
        networks[network_id] = upstream_network
    servers: list[tuple[int, bool]] = []
    upstream_of: dict[int, int] = {}
    complete = True
    for server_id, private in sorted(_servers(uow, lb, spec).items()):
        upstream_server = up.server_of(server_id)
        if upstream_server is None:
            complete = False
            continue
        servers.append((upstream_server, private))
        upstream_of[upstream_server] = server_id
    result = up.sync(made.id, spec, servers, networks)
    _store_health(uow, lb, result, upstream_of)
    return result, complete


def _store_health(
    uow: NetworkUnitOfWork, lb: LoadBalancer, upstream: UpstreamLoadBalancer, upstream_of: dict[int, int]
) -> None:
    """Upstream's health under the platform's names (``server:<platform id>``, ``ip:<address>``)."""
    health: dict[tuple[str, int], str] = {}
    for (key, port), status in upstream.health.items():
        kind, _, value = key.partition(":")
        if kind == "server":
            platform = upstream_of.get(int(value)) if value.isdigit() else None
            if platform is None:
                continue
            health[(f"server:{platform}", port)] = status
        else:
            health[(key, port)] = status
    uow.load_balancers.set_health(lb.id, health, utcnow())


def carry_out(peers: LoadBalancerPeers, uow: NetworkUnitOfWork, action: Action) -> None:
    """Carry out the claimed load balancer action in the worker's transaction (saved, not
    committed); Unavailable leaves it running."""
    lb = uow.load_balancers.get_any(action.resource_id, for_update=True)
    if lb is None:  # pragma: no cover - actions are only made for existing load balancers
        raise RuntimeError(f"action {action.id} names load balancer {action.resource_id}, which does not exist")
    log.info("action_claimed", action_id=action.id, command=action.command, load_balancer_id=lb.id)
    now = utcnow()
    if action.command == lbs.DELETE:
        for found in peers.upstream.find(lb.id):
            peers.upstream.delete(found.id)
        peers.quotas.release(reservation_key(lb.id))
        lb.cleaned_up(action, now)
    else:
        try:
            made, complete = _sync(peers, uow, lb, lb.after(action))
            lb.synced = complete
            if action.command == lbs.CREATE:
                lb.provisioned(action, made.id, made.ipv4, made.ipv6, utcnow())
            else:
                lb.completed(action, utcnow())
        except UpstreamFailure as failure:
            lb.action_failed(action, failure.code, failure.message, utcnow())
            log.warning("action_failed", action_id=action.id, code=failure.code, message=failure.message)
            if action.command == lbs.CREATE:
                for found in peers.upstream.find(lb.id):
                    peers.upstream.delete(found.id)
                peers.quotas.release(reservation_key(lb.id))
    uow.actions.save(action)
    uow.load_balancers.save(lb, utcnow())


def reconcile(uow_factory: Callable[[], NetworkUnitOfWork], peers: LoadBalancerPeers, limit: int = 20) -> list[int]:
    """Bring unsynced load balancers in line upstream and read stale health; the ids synced."""
    done: list[int] = []
    with uow_factory() as uow:
        for lb in uow.load_balancers.unsynced(limit, for_update=True):
            try:
                _, complete = _sync(peers, uow, lb, lb.spec)
            except (UpstreamFailure, Unavailable) as failure:
                log.warning("load_balancer_sync_deferred", load_balancer_id=lb.id, error=str(failure))
                continue
            lb.synced = complete
            uow.load_balancers.save(lb, utcnow())
            if complete:
                done.append(lb.id)
        uow.commit()
    with uow_factory() as uow:
        for lb_id in uow.load_balancers.stale_health(utcnow() - HEALTH_EVERY, limit):
            live = uow.load_balancers.get(lb_id)
            if live is None:
                continue
            found = peers.upstream.find(live.id)
            if not found:
                continue
            upstream_of = {}
            for server_id in _servers(uow, live, live.spec):
                upstream_server = peers.upstream.server_of(server_id)
                if upstream_server is not None:
                    upstream_of[upstream_server] = server_id
            _store_health(uow, live, found[0], upstream_of)
        uow.commit()
    return done


def sweep(uow_factory: Callable[[], NetworkUnitOfWork], upstream: UpstreamLoadBalancers) -> list[int]:
    """Delete upstream load balancers whose platform one is deleted or that are not the one it
    recorded; their upstream ids."""
    labelled = upstream.labelled()
    if not labelled:
        return []
    with uow_factory() as uow:
        ids = {f.platform_id for f in labelled if f.platform_id is not None}
        gone = uow.load_balancers.deleted_ids(ids)
        recorded = {i: lb.hetzner_id for i in ids - gone if (lb := uow.load_balancers.get_any(i)) is not None}
    strays = [
        f
        for f in labelled
        if f.platform_id is not None and (f.platform_id in gone or recorded.get(f.platform_id) not in (None, f.id))
    ]
    for stray in strays:
        log.warning("stray_upstream_load_balancer_deleted", load_balancer_id=stray.platform_id, upstream_id=stray.id)
        upstream.delete(stray.id)
    return [stray.id for stray in strays]
