"""Network's worker's use cases for firewalls: carry out one running firewall action upstream,
bring unsynced firewalls in line upstream, and sweep upstream for firewalls nobody should have.

Upstream mirrors a firewall as one upstream firewall labelled with its platform id, holding its
rules and applied, server by server, to every server it covers here: the servers named and the
tenant's servers whose labels (learnt from compute.events) match one of its selectors. Every step
is safe to repeat (it looks at upstream first). A server compute has not made upstream yet is
left for later (the firewall stays unsynced); upstream that stays unavailable leaves the action
running; a permanent refusal ends it in ``error`` with upstream's code and changes nothing here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cpshared.clock import utcnow
from cpshared.logging import get_logger
from hetzner_conventions.label_selector import parse_label_selector
from network_service.domain import firewalls as fws
from network_service.domain.actions import Action, UpstreamFailure
from network_service.domain.firewalls import Firewall, Rule
from network_service.service_layer.ports import FirewallRepository, UpstreamFirewalls
from network_service.service_layer.unit_of_work import NetworkUnitOfWork

log = get_logger(__name__)

COMMANDS = (fws.SET_RULES, fws.APPLY, fws.REMOVE)
"""The firewall commands the worker carries out."""


@dataclass(frozen=True)
class FirewallPeers:
    upstream: UpstreamFirewalls


def covered(repository: FirewallRepository, firewall: Firewall, servers: list[int], selectors: list[str]) -> list[int]:
    """The platform servers a firewall applied to ``servers`` and ``selectors`` covers."""
    wanted = set(servers)
    if selectors:
        parsed = [parse_label_selector(s) for s in selectors]
        for server_id, labels in repository.server_labels(firewall.user_id, firewall.organization_id).items():
            if any(p.matches(labels) for p in parsed):
                wanted.add(server_id)
    return sorted(wanted)


def _sync(
    peers: FirewallPeers,
    repository: FirewallRepository,
    firewall: Firewall,
    rules: list[Rule],
    servers: list[int],
    selectors: list[str],
) -> bool:
    """Make upstream hold ``rules`` applied to exactly the servers covered; whether every covered
    server exists upstream (False: some are not made yet, to be applied later)."""
    up = peers.upstream
    found = up.find(firewall.id)
    made = found[0] if found else up.create(firewall.id, rules)
    firewall.hetzner_id = made.id
    for action_id in up.set_rules(made.id, rules):
        up.wait(action_id)
    wanted: set[int] = set()
    complete = True
    for server_id in covered(repository, firewall, servers, selectors):
        upstream_server = up.server_of(server_id)
        if upstream_server is None:
            complete = False
        else:
            wanted.add(upstream_server)
    current = set(made.server_ids)
    for action_id in up.remove(made.id, sorted(current - wanted)):
        up.wait(action_id)
    for action_id in up.apply(made.id, sorted(wanted - current)):
        up.wait(action_id)
    return complete


def carry_out(peers: FirewallPeers, uow: NetworkUnitOfWork, action: Action) -> None:
    """Carry out the claimed firewall action in the worker's transaction (saved, not committed);
    Unavailable leaves it running."""
    firewall = uow.firewalls.get_any(action.resource_id, for_update=True)
    if firewall is None:  # pragma: no cover - actions are only made for existing firewalls
        raise RuntimeError(f"action {action.id} names firewall {action.resource_id}, which does not exist")
    log.info("action_claimed", action_id=action.id, command=action.command, firewall_id=firewall.id)
    rules = [Rule.of(r) for r in action.params["rules"]] if action.command == fws.SET_RULES else firewall.rules
    servers, selectors = firewall.after(action)
    try:
        firewall.synced = _sync(peers, uow.firewalls, firewall, rules, servers, selectors)
        firewall.completed(action, utcnow())
    except UpstreamFailure as failure:
        firewall.action_failed(action, failure.code, failure.message, utcnow())
        log.warning("action_failed", action_id=action.id, code=failure.code, message=failure.message)
    uow.actions.save(action)
    uow.firewalls.save(firewall, utcnow())


def reconcile(uow_factory: Callable[[], NetworkUnitOfWork], peers: FirewallPeers, limit: int = 20) -> list[int]:
    """Bring unsynced firewalls (new ones, those whose tenant's servers changed labels) in line
    upstream; the ids of those now in line. A refusal upstream is logged and retried later."""
    done: list[int] = []
    with uow_factory() as uow:
        for firewall in uow.firewalls.unsynced(limit, for_update=True):
            try:
                synced = _sync(peers, uow.firewalls, firewall, firewall.rules, firewall.servers, firewall.selectors)
            except UpstreamFailure as failure:
                log.warning("firewall_sync_refused", firewall_id=firewall.id, code=failure.code)
                continue
            firewall.synced = synced
            uow.firewalls.save(firewall, utcnow())
            if synced:
                done.append(firewall.id)
        uow.commit()
    return done


def sweep(uow_factory: Callable[[], NetworkUnitOfWork], upstream: UpstreamFirewalls) -> list[int]:
    """Delete upstream firewalls whose platform firewall is deleted or that are not the one it
    recorded; their upstream ids."""
    labelled = upstream.labelled()
    if not labelled:
        return []
    with uow_factory() as uow:
        ids = {f.platform_id for f in labelled if f.platform_id is not None}
        gone = uow.firewalls.deleted_ids(ids)
        recorded = {i: fw.hetzner_id for i in ids - gone if (fw := uow.firewalls.get_any(i)) is not None}
    strays = [
        f
        for f in labelled
        if f.platform_id is not None and (f.platform_id in gone or recorded.get(f.platform_id) not in (None, f.id))
    ]
    for stray in strays:
        log.warning("stray_upstream_firewall_deleted", firewall_id=stray.platform_id, upstream_id=stray.id)
        upstream.delete(stray.id)
    return [stray.id for stray in strays]
