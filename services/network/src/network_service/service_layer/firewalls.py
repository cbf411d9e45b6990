"""Firewall use cases: a tenant's firewalls (create with rules and what it applies to, read,
list, update, delete) and their actions (set_rules, apply_to_resources, remove_from_resources).

The platform's rows are the truth; upstream is to mirror them through network's worker (not
wired yet, see the README). Creating records the firewall with its rules and reserves a unit of
the tenant's ``firewall`` quota in the same transaction; what it applies to, given at creation,
starts an ``apply_firewall`` action. Every action is checked here against the firewall's rules
(:mod:`network_service.domain.firewalls`) and locks it until it completes
(:meth:`Firewall.completed`, which records its event). Deleting refuses a firewall applied to
anything (``resource_in_use``) and gives the quota unit back. A rule broken answers at once,
before anything changed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cpshared.aggregate import pending_events
from cpshared.clock import utcnow
from cpshared.errors import AlreadyExists, LimitExceeded, NotFound
from cpshared.events.envelope import PendingEvent
from cpshared.logging import get_logger
from hetzner_conventions.errors import invalid_field
from hetzner_conventions.label_selector import parse_label_selector
from hetzner_conventions.label_sql import LabelRequirement
from hetzner_conventions.labels import check_labels
from network_service import SERVICE_NAME
from network_service.domain import firewalls as fws
from network_service.domain.actions import Action
from network_service.domain.firewalls import Firewall, check_name, check_rules, new_firewall
from network_service.service_layer.ports import Compute, FirewallRepository, Quotas
from network_service.service_layer.unit_of_work import NetworkUnitOfWork

log = get_logger(__name__)

Reach = Callable[[int, int | None], None]
"""Raises NOT_FOUND unless the caller reaches a resource of (user id, organization id)."""


def reservation_key(firewall_id: int) -> str:
    """The firewall's quota reservation: its platform id, so every retry names the same one."""
    return f"firewall-{firewall_id}"


@dataclass(frozen=True)
class Targets:
    """What a firewall is applied to (or removed from): servers by id, label selectors."""

    servers: Sequence[int] = ()
    selectors: Sequence[str] = ()

    def __bool__(self) -> bool:
        return bool(self.servers or self.selectors)


@dataclass(frozen=True)
class NewFirewall:
    user_id: int
    organization_id: int | None
    name: str
    rules: Sequence[Mapping[str, Any]] = ()
    labels: Mapping[str, str] | None = None
    apply_to: Targets = field(default_factory=Targets)


def _name_taken(name: str) -> AlreadyExists:
    return AlreadyExists(
        f"a firewall named {name!r} exists already; choose another name",
        details={"fields": [{"name": "name", "messages": ["already exists"]}]},
    )


def _check_servers(server_ids: Sequence[int], reach: Reach, compute: Compute) -> list[int]:
    """Each server exists (live) and the caller reaches it (Hetzner's ``firewall_resource_not_found``)."""
    for server_id in server_ids:
        server = compute.server(server_id) if server_id > 0 else None
        if server is None or not server.live:
            raise fws.FirewallResourceNotFound(f"server {server_id} does not exist")
        try:
            reach(server.user_id, server.organization_id)
        except NotFound:
            raise fws.FirewallResourceNotFound(f"server {server_id} does not exist") from None
    return list(server_ids)


def _covering(uow: NetworkUnitOfWork, server_ids: Sequence[int]) -> dict[int, list[Firewall]]:
    """The live firewalls covering each of those servers (applied one by one, or by a selector the
    server's labels match, of the server's tenant), by server; inside ``uow``."""
    wanted = sorted(set(server_ids))
    found: dict[int, list[Firewall]] = {}
    known = uow.firewalls.known_servers(wanted)
    candidates = {f.id: f for f in uow.firewalls.applied_to(wanted)}
    for tenant in sorted({(user_id, org) for user_id, org, _ in known.values()}, key=str):
        candidates.update({f.id: f for f in uow.firewalls.with_selectors(*tenant)})
    for firewall in sorted(candidates.values(), key=lambda f: f.id):
        for server_id in wanted:
            tenant_labels = known.get(server_id)
            same_tenant = tenant_labels is not None and (
                tenant_labels[1] == firewall.organization_id
                if firewall.organization_id
                else (tenant_labels[0], tenant_labels[1]) == (firewall.user_id, None)
            )
            labels = tenant_labels[2] if tenant_labels is not None and same_tenant else {}
            if server_id in firewall.servers or (same_tenant and firewall.covers(server_id, labels)):
                found.setdefault(server_id, []).append(firewall)
    return found


def _ensure_room(uow: NetworkUnitOfWork, firewall: Firewall, servers: Sequence[int], selectors: Sequence[str]) -> None:
    """Hetzner's limit: a server is covered by at most :data:`fws.MAX_PER_SERVER` firewalls, those
    applied through a label selector included (``403 resource_limit_exceeded`` past it)."""
    targets = set(servers)
    if selectors:
        parsed = [parse_label_selector(selector) for selector in selectors]
        tenant_servers = uow.firewalls.server_labels(firewall.user_id, firewall.organization_id)
        targets |= {sid for sid, labels in tenant_servers.items() if any(p.matches(labels) for p in parsed)}
    if not targets:
        return
    covering = _covering(uow, sorted(targets))
    for server_id in sorted(targets):
        ids = {f.id for f in covering.get(server_id, [])} | {firewall.id}
        if len(ids) > fws.MAX_PER_SERVER:
            raise LimitExceeded(
                f"server {server_id} is covered by {len(ids) - 1} firewalls already; a server has at most "
                f"{fws.MAX_PER_SERVER}: remove one from it first"
            )


def create(
    cmd: NewFirewall, reach: Reach, uow: NetworkUnitOfWork, quotas: Quotas, compute: Compute
) -> tuple[Firewall, list[Action]]:
    """The firewall, and its ``apply_firewall`` action when ``apply_to`` names anything."""
    rules = check_rules(list(cmd.rules))
    firewall = new_firewall(cmd.user_id, cmd.organization_id, cmd.name, rules, check_labels(dict(cmd.labels or {})))
    if cmd.apply_to:
        servers, selectors = firewall.check_apply(list(cmd.apply_to.servers), list(cmd.apply_to.selectors))
        _check_servers(servers, reach, compute)
    now = utcnow()
    started: list[Action] = []
    with uow:
        if uow.firewalls.named(cmd.user_id, cmd.organization_id, firewall.name) is not None:
            raise _name_taken(firewall.name)
        if cmd.apply_to:
            _ensure_room(uow, firewall, servers, selectors)
        uow.firewalls.add(firewall, now)
        firewall.created()
        quotas.reserve(reservation_key(firewall.id), cmd.user_id, cmd.organization_id)
        if cmd.apply_to:
            action = firewall.begin(fws.APPLY, {"servers": servers, "selectors": selectors}, now)
            uow.actions.add(action)
            started.append(action)
            uow.firewalls.save(firewall, now)
        uow.commit()
    log.info("firewall_created", firewall_id=firewall.id, actions=[a.id for a in started])
    return firewall, started


def _reached(firewall_id: int, reach: Reach, uow: NetworkUnitOfWork, *, for_update: bool = False) -> Firewall:
    firewall = uow.firewalls.get(firewall_id, for_update=for_update) if firewall_id > 0 else None
    if firewall is None:
        raise NotFound(f"firewall {firewall_id} does not exist")
    reach(firewall.user_id, firewall.organization_id)
    return firewall


def get(firewall_id: int, reach: Reach, uow: NetworkUnitOfWork) -> Firewall:
    with uow:
        return _reached(firewall_id, reach, uow)


def update(
    firewall_id: int, name: str | None, labels: Mapping[str, str] | None, reach: Reach, uow: NetworkUnitOfWork
) -> Firewall:
    new_name = check_name(name) if name is not None else None
    new_labels = check_labels(dict(labels)) if labels is not None else None
    with uow:
        firewall = _reached(firewall_id, reach, uow, for_update=True)
        if (
            new_name is not None
            and new_name != firewall.name
            and uow.firewalls.named(firewall.user_id, firewall.organization_id, new_name) is not None
        ):
            raise _name_taken(new_name)
        if not firewall.update(new_name, new_labels):
            return firewall
        uow.firewalls.save(firewall, utcnow())
        uow.commit()
    return firewall


def delete(firewall_id: int, reach: Reach, uow: NetworkUnitOfWork, quotas: Quotas) -> None:
    """Delete it (``resource_in_use`` while applied to anything) and give its quota unit back."""
    with uow:
        firewall = _reached(firewall_id, reach, uow, for_update=True)
        now = utcnow()
        firewall.delete(now)
        uow.firewalls.save(firewall, now)
        uow.commit()
    quotas.release(reservation_key(firewall_id))
    log.info("firewall_deleted", firewall_id=firewall_id)


def _run(firewall_id: int, reach: Reach, uow: NetworkUnitOfWork, start: Callable[[Firewall], Action]) -> Action:
    """Check and start one action on the firewall (``start`` checks its rule and begins it)."""
    with uow:
        firewall = _reached(firewall_id, reach, uow, for_update=True)
        action = start(firewall)
        uow.actions.add(action)
        uow.firewalls.save(firewall, utcnow())
        uow.commit()
    return action


def set_rules(firewall_id: int, rules: Sequence[Mapping[str, Any]], reach: Reach, uow: NetworkUnitOfWork) -> Action:
    checked = check_rules(list(rules))
    params = {"rules": [rule.as_dict() for rule in checked]}
    return _run(firewall_id, reach, uow, lambda firewall: firewall.begin(fws.SET_RULES, params, utcnow()))


def apply_to_resources(
    firewall_id: int, targets: Targets, reach: Reach, uow: NetworkUnitOfWork, compute: Compute
) -> Action:
    if not targets:
        raise invalid_field("apply_to", "name at least one server or label selector to apply the firewall to")
    _check_servers(list(targets.servers), reach, compute)

    def start(firewall: Firewall) -> Action:
        servers, selectors = firewall.check_apply(list(targets.servers), list(targets.selectors))
        _ensure_room(uow, firewall, servers, selectors)
        return firewall.begin(fws.APPLY, {"servers": servers, "selectors": selectors}, utcnow())

    return _run(firewall_id, reach, uow, start)


def remove_from_resources(firewall_id: int, targets: Targets, reach: Reach, uow: NetworkUnitOfWork) -> Action:
    if not targets:
        raise invalid_field("remove_from", "name at least one server or label selector to remove the firewall from")

    def start(firewall: Firewall) -> Action:
        servers, selectors = firewall.check_remove(list(targets.servers), list(targets.selectors))
        return firewall.begin(fws.REMOVE, {"servers": servers, "selectors": selectors}, utcnow())

    return _run(firewall_id, reach, uow, start)


def of_servers(server_ids: Sequence[int], reach: Reach, uow: NetworkUnitOfWork) -> dict[int, list[Firewall]]:
    """The firewalls the caller reaches covering each of those servers, by server: applied one
    by one, or by a label selector the server's labels (as compute.events told) match; a few
    queries for the page, whatever its size."""
    found: dict[int, list[Firewall]] = {}
    with uow:
        for server_id, covering in _covering(uow, server_ids).items():
            for firewall in covering:
                try:
                    reach(firewall.user_id, firewall.organization_id)
                except NotFound:
                    continue
                found.setdefault(server_id, []).append(firewall)
    return found


def selector_servers(firewalls: Sequence[Firewall], uow: NetworkUnitOfWork) -> dict[tuple[int, str], list[int]]:
    """The tenant's servers each selector of those firewalls matches now: (firewall id,
    selector) → server ids."""
    matched: dict[tuple[int, str], list[int]] = {}
    with uow:
        labels_of: dict[tuple[int, int | None], dict[int, dict[str, str]]] = {}
        for firewall in firewalls:
            if not firewall.selectors:
                continue
            tenant = (firewall.user_id, firewall.organization_id)
            if tenant not in labels_of:
                labels_of[tenant] = uow.firewalls.server_labels(*tenant)
            for selector in firewall.selectors:
                parsed = parse_label_selector(selector)
                matched[(firewall.id, selector)] = [
                    server_id for server_id, labels in labels_of[tenant].items() if parsed.matches(labels)
                ]
    return matched


# -- reactions ----------------------------------------------------------------------------------


def server_labelled(
    repository: FirewallRepository, server_id: int, user_id: int, organization_id: int | None, labels: dict[str, str]
) -> None:
    """Compute created or relabelled the server: its labels, for the tenant's label selectors."""
    repository.server_seen(server_id, user_id, organization_id, labels, utcnow())


def server_deleted(repository: FirewallRepository, server_id: int) -> list[PendingEvent]:
    """Compute deleted the server: the firewalls applied to it one by one leave it; the
    ``firewall.removed`` events, for the caller's transaction's outbox."""
    now = utcnow()
    recorded: list[PendingEvent] = []
    for firewall in repository.applied_to([server_id], for_update=True):
        if firewall.server_gone(server_id):
            repository.save(firewall, now)
            recorded.extend(pending_events(firewall, SERVICE_NAME))
    return recorded


def account_suspended(repository: FirewallRepository, user_id: int, reason: str) -> list[PendingEvent]:
    recorded: list[PendingEvent] = []
    for firewall in repository.owned_by(user_id, for_update=True):
        if firewall.block(reason):
            repository.save(firewall, utcnow())
            recorded.extend(pending_events(firewall, SERVICE_NAME))
    return recorded


def account_activated(repository: FirewallRepository, user_id: int) -> list[PendingEvent]:
    recorded: list[PendingEvent] = []
    for firewall in repository.owned_by(user_id, for_update=True):
        if firewall.unblock():
            repository.save(firewall, utcnow())
            recorded.extend(pending_events(firewall, SERVICE_NAME))
    return recorded


def account_erased(repository: FirewallRepository, user_id: int) -> list[PendingEvent]:
    """Delete the firewalls ``user_id`` owns itself, applied or not (network's worker sweeps them
    upstream); one busy with an action stays blocked (logged)."""
    now = utcnow()
    recorded: list[PendingEvent] = []
    for firewall in repository.owned_by(user_id, for_update=True):
        if not firewall.erase(now):
            log.warning("firewall_of_erased_account_busy", firewall_id=firewall.id)
            continue
        repository.save(firewall, now)
        recorded.extend(pending_events(firewall, SERVICE_NAME))
    return recorded


@dataclass(frozen=True)
class Search:
    user_id: int | None
    organization_id: int | None
    name: str = ""
    requirements: Sequence[LabelRequirement] = ()
    order: Sequence[tuple[str, bool]] = ()
    page: int = 1
    per_page: int = 25


def action(action_id: int, reach: Reach, uow: NetworkUnitOfWork) -> Action:
    with uow:
        found = uow.actions.get(action_id)
        if found is None or found.resource_type != fws.RESOURCE:
            raise NotFound(f"action {action_id} does not exist")
        reach(found.user_id, found.organization_id)
        return found


def search(query: Search, uow: NetworkUnitOfWork) -> tuple[list[Firewall], int]:
    with uow:
        return uow.firewalls.search(
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
    firewall_id: int = 0
    ids: Sequence[int] = ()
    statuses: Sequence[str] = ()
    order: Sequence[tuple[str, bool]] = ()
    page: int = 1
    per_page: int = 25


def actions(query: ActionSearch, reach: Reach, uow: NetworkUnitOfWork) -> tuple[list[Action], int]:
    with uow:
        if query.firewall_id:
            firewall = uow.firewalls.get_any(query.firewall_id)
            if firewall is None or firewall.deleted_at is not None:
                raise NotFound(f"firewall {query.firewall_id} does not exist")
            reach(firewall.user_id, firewall.organization_id)
        return uow.actions.search(
            user_id=query.user_id,
            organization_id=query.organization_id,
            resource_type=fws.RESOURCE,
            resource_id=query.firewall_id,
            ids=query.ids,
            statuses=query.statuses,
            order=query.order,
            offset=(max(query.page, 1) - 1) * query.per_page,
            limit=query.per_page,
        )
