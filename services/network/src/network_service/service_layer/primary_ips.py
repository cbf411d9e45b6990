"""Primary IP use cases: a tenant's primary IPs (create, read, list, update, delete), their
actions (assign, unassign, reverse DNS, protection), and what compute's servers do to them.

Network is the one writer of ``primary_ips``. Creating records the primary IP (``creating``,
locked) with its running ``create_primary_ip`` action and reserves a unit of the tenant's
``primary_ip`` quota in the same transaction; the worker makes it upstream (labelled with its
id). A server's own addresses, made upstream with the server by compute, are adopted: compute's
``server.created`` makes network record them (``adopted``, ``auto_delete``, no quota) and the
worker labels the upstream ones. A rule broken answers at once, before anything changed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from cpshared.aggregate import pending_events
from cpshared.clock import utcnow
from cpshared.errors import AlreadyExists, InvalidInput, NotFound
from cpshared.events.envelope import PendingEvent
from cpshared.logging import get_logger
from hetzner_conventions.errors import invalid_field
from hetzner_conventions.label_sql import LabelRequirement
from hetzner_conventions.labels import check_labels
from network_service import SERVICE_NAME
from network_service.domain import primary_ips as pips
from network_service.domain.actions import Action
from network_service.domain.floating_ips import LocationRef, ServerRef
from network_service.domain.primary_ips import PrimaryIp, check_assignee_type, check_name, check_type, ensure_off
from network_service.service_layer.ports import (
    ActionRepository,
    Compute,
    PrimaryIpRepository,
    Quotas,
    primary_ip_reservation_key,
)
from network_service.service_layer.unit_of_work import NetworkUnitOfWork

log = get_logger(__name__)

Reach = Callable[[int, int | None], None]


@dataclass(frozen=True)
class NewPrimaryIp:
    user_id: int
    organization_id: int | None
    type: str
    name: str
    location: str = ""
    assignee_id: int = 0
    assignee_type: str = "server"
    auto_delete: bool = False
    labels: Mapping[str, str] | None = None


def _server(compute: Compute, server_id: int, user_id: int, organization_id: int | None) -> ServerRef:
    server = compute.server(server_id)
    if server is None or not server.live or not _same_tenant(server, user_id, organization_id):
        raise invalid_field("assignee_id", f"server {server_id} does not exist")
    return server


def _same_tenant(server: ServerRef, user_id: int, organization_id: int | None) -> bool:
    if server.organization_id is not None:
        return organization_id == server.organization_id
    return organization_id is None and server.user_id == user_id


def _name_taken(name: str) -> AlreadyExists:
    return AlreadyExists(
        f"a primary IP named {name!r} exists already; choose another name",
        details={"fields": [{"name": "name", "messages": ["already exists"]}]},
    )


def _taken(uow: NetworkUnitOfWork, server_id: int, kind: str) -> bool:
    return any(p.type == kind for p in uow.primary_ips.assigned_to([server_id]))


def create(cmd: NewPrimaryIp, uow: NetworkUnitOfWork, compute: Compute, quotas: Quotas) -> tuple[PrimaryIp, Action]:
    kind = check_type(cmd.type)
    name = check_name(cmd.name)
    labels = check_labels(dict(cmd.labels or {}))
    check_assignee_type(cmd.assignee_type)
    if cmd.assignee_id < 0:
        raise invalid_field("assignee_id", "assignee_id must be the id of one of your servers")
    if bool(cmd.assignee_id) == bool(cmd.location):
        raise invalid_field("location", "give exactly one of location (or datacenter) and assignee_id")
    server = _server(compute, cmd.assignee_id, cmd.user_id, cmd.organization_id) if cmd.assignee_id else None
    location: LocationRef | None = compute.location(server.location if server is not None else cmd.location)
    if location is None:
        raise invalid_field("location", f"location {cmd.location!r} does not exist")
    pip = PrimaryIp(
        id=0,
        user_id=cmd.user_id,
        organization_id=cmd.organization_id,
        name=name,
        type=kind,
        location=location.code,
        datacenter_id=location.id,
        labels=labels,
        auto_delete=cmd.auto_delete,
    )
    now = utcnow()
    with uow:
        if uow.primary_ips.named(cmd.user_id, cmd.organization_id, name) is not None:
            raise _name_taken(name)
        if server is not None:
            pip.ensure_assignable_to(server, _taken(uow, server.id, kind))
        uow.primary_ips.add(pip, now)
        quotas.reserve(primary_ip_reservation_key(pip.id), cmd.user_id, cmd.organization_id)
        action = pip.begin(pips.CREATE, {"server_id": cmd.assignee_id} if cmd.assignee_id else {}, now)
        uow.actions.add(action)
        uow.primary_ips.save(pip, now)
        uow.commit()
    log.info("primary_ip_create_started", primary_ip_id=pip.id, action_id=action.id)
    return pip, action


def _reached(primary_ip_id: int, reach: Reach, uow: NetworkUnitOfWork, *, for_update: bool = False) -> PrimaryIp:
    pip = uow.primary_ips.get(primary_ip_id, for_update=for_update)
    if pip is None:
        raise NotFound(f"primary IP {primary_ip_id} does not exist")
    reach(pip.user_id, pip.organization_id)
    return pip


def _ready(pip: PrimaryIp) -> None:
    if pip.status != pips.READY:
        raise InvalidInput(f"primary IP {pip.id} is still being created; retry when its create action finished")


def get(primary_ip_id: int, reach: Reach, uow: NetworkUnitOfWork) -> PrimaryIp:
    with uow:
        return _reached(primary_ip_id, reach, uow)


def update(
    primary_ip_id: int,
    name: str | None,
    labels: Mapping[str, str] | None,
    auto_delete: bool | None,
    reach: Reach,
    uow: NetworkUnitOfWork,
) -> PrimaryIp:
    new_name = check_name(name) if name is not None else None
    new_labels = check_labels(dict(labels)) if labels is not None else None
    with uow:
        pip = _reached(primary_ip_id, reach, uow, for_update=True)
        if (
            new_name is not None
            and new_name != pip.name
            and uow.primary_ips.named(pip.user_id, pip.organization_id, new_name) is not None
        ):
            raise _name_taken(new_name)
        if not pip.update(new_name, new_labels, auto_delete):
            return pip
        uow.primary_ips.save(pip, utcnow())
        uow.commit()
    return pip


def _assignee_off(pip: PrimaryIp, compute: Compute, what: str) -> None:
    """An assigned primary IP changes only while its server is off (one deleted meanwhile is no obstacle)."""
    if pip.assignee_id is None:
        return
    server = compute.server(pip.assignee_id)
    if server is not None and server.live:
        ensure_off(server, what)


def delete(primary_ip_id: int, reach: Reach, uow: NetworkUnitOfWork, compute: Compute) -> Action:
    with uow:
        pip = _reached(primary_ip_id, reach, uow, for_update=True)
        _assignee_off(pip, compute, "delete its primary IP")
        now = utcnow()
        action = pip.delete(now)
        uow.actions.add(action)
        uow.primary_ips.save(pip, now)
        uow.commit()
    log.info("primary_ip_deleted", primary_ip_id=primary_ip_id, action_id=action.id)
    return action


def assign(
    primary_ip_id: int, assignee_id: int, assignee_type: str, reach: Reach, uow: NetworkUnitOfWork, compute: Compute
) -> Action:
    check_assignee_type(assignee_type)
    if assignee_id <= 0:
        raise invalid_field("assignee_id", "assignee_id must be the id of one of your servers")
    server = compute.server(assignee_id)
    with uow:
        pip = _reached(primary_ip_id, reach, uow, for_update=True)
        if server is None:
            raise invalid_field("assignee_id", f"server {assignee_id} does not exist")
        _ready(pip)
        pip.ensure_not_blocked()
        pip.ensure_assignable_to(server, _taken(uow, server.id, pip.type))
        action = pip.begin(pips.ASSIGN, {"server_id": assignee_id}, utcnow())
        uow.actions.add(action)
        uow.primary_ips.save(pip, utcnow())
        uow.commit()
    return action


def unassign(primary_ip_id: int, reach: Reach, uow: NetworkUnitOfWork, compute: Compute) -> Action:
    with uow:
        pip = _reached(primary_ip_id, reach, uow, for_update=True)
        _ready(pip)
        if pip.assignee_id is None:
            raise InvalidInput(f"primary IP {pip.id} is not assigned")
        _assignee_off(pip, compute, "change its primary IPs")
        action = pip.begin(pips.UNASSIGN, {"server_id": pip.assignee_id}, utcnow())
        uow.actions.add(action)
        uow.primary_ips.save(pip, utcnow())
        uow.commit()
    return action


def change_dns_ptr(primary_ip_id: int, ip: str, dns_ptr: str | None, reach: Reach, uow: NetworkUnitOfWork) -> Action:
    with uow:
        pip = _reached(primary_ip_id, reach, uow, for_update=True)
        _ready(pip)
        address = pip.check_dns_ptr(ip, dns_ptr)
        action = pip.begin(pips.CHANGE_DNS_PTR, {"ip": address, "dns_ptr": dns_ptr}, utcnow())
        uow.actions.add(action)
        uow.primary_ips.save(pip, utcnow())
        uow.commit()
    return action


def change_protection(primary_ip_id: int, delete: bool | None, reach: Reach, uow: NetworkUnitOfWork) -> Action:
    with uow:
        pip = _reached(primary_ip_id, reach, uow, for_update=True)
        now = utcnow()
        action = pip.change_protection(delete, now)
        uow.actions.add(action)
        pip.protection_recorded(action)
        uow.primary_ips.save(pip, now)
        uow.commit()
    return action


# -- compute's servers and identity's accounts (the consumer's reactions) -------------------------


def server_created(
    repository: PrimaryIpRepository,
    actions: ActionRepository,
    server_id: int,
    user_id: int,
    organization_id: int | None,
    location: str,
) -> list[PendingEvent]:
    """Compute made a server: its own IPv4 and IPv6 become primary IPs to adopt (the worker labels
    the upstream ones and records their addresses; a kind the server has none of ends the action
    in error and leaves no primary IP). Once per server. ``location``: the server's location code
    (the worker fills in compute's id of it)."""
    if not location or repository.adopted_for(server_id):
        return []
    now = utcnow()
    for kind in pips.TYPES:
        pip = PrimaryIp(
            id=0,
            user_id=user_id,
            organization_id=organization_id,
            name="pending",
            type=kind,
            location=location,
            datacenter_id=0,
            assignee_id=server_id,
            auto_delete=True,
            adopted=True,
        )
        repository.add(pip, now)
        pip.name = f"primary_ip-{pip.id}"
        actions.add(pip.begin(pips.CREATE, {"server_id": server_id, "adopt_server_id": server_id}, now))
        repository.save(pip, now)
    return []


def server_deleted(repository: PrimaryIpRepository, actions: ActionRepository, server_id: int) -> list[PendingEvent]:
    """Compute deleted the server: its ``auto_delete`` primary IPs are deleted (the worker deletes
    them upstream and gives the quota back), the others unassigned. One an action runs on is
    unassigned or deleted as well: the action (on a server that is gone) ends in error."""
    now = utcnow()
    recorded: list[PendingEvent] = []
    for pip in repository.assigned_to([server_id], for_update=True):
        pip.locked = False
        action = pip.server_gone(now)
        if action is not None:
            actions.add(action)
        repository.save(pip, now)
        recorded.extend(pending_events(pip, SERVICE_NAME))
    return recorded


def account_suspended(repository: PrimaryIpRepository, user_id: int, reason: str) -> list[PendingEvent]:
    recorded: list[PendingEvent] = []
    for pip in repository.owned_by(user_id, for_update=True):
        if pip.block(reason):
            repository.save(pip, utcnow())
            recorded.extend(pending_events(pip, SERVICE_NAME))
    return recorded


def account_activated(repository: PrimaryIpRepository, user_id: int) -> list[PendingEvent]:
    recorded: list[PendingEvent] = []
    for pip in repository.owned_by(user_id, for_update=True):
        if pip.unblock():
            repository.save(pip, utcnow())
            recorded.extend(pending_events(pip, SERVICE_NAME))
    return recorded


def account_erased(repository: PrimaryIpRepository, actions: ActionRepository, user_id: int) -> list[PendingEvent]:
    """Delete the primary IPs ``user_id`` owns itself, protected or not; one busy stays blocked."""
    now = utcnow()
    recorded: list[PendingEvent] = []
    for pip in repository.owned_by(user_id, for_update=True):
        action = pip.erase(now)
        if action is None:
            log.warning("primary_ip_of_erased_account_busy", primary_ip_id=pip.id)
        else:
            actions.add(action)
        repository.save(pip, now)
        recorded.extend(pending_events(pip, SERVICE_NAME))
    return recorded


def of_servers(server_ids: Sequence[int], reach: Reach, uow: NetworkUnitOfWork) -> dict[int, list[PrimaryIp]]:
    """The ready primary IPs assigned to each of those servers the caller reaches (one query)."""
    found: dict[int, list[PrimaryIp]] = {}
    with uow:
        for pip in uow.primary_ips.assigned_to(list(set(server_ids))):
            if pip.status != pips.READY:
                continue
            try:
                reach(pip.user_id, pip.organization_id)
            except NotFound:
                continue
            found.setdefault(pip.assignee_id or 0, []).append(pip)
    return found


@dataclass(frozen=True)
class Search:
    user_id: int | None
    organization_id: int | None
    name: str = ""
    ip: str = ""
    requirements: Sequence[LabelRequirement] = ()
    order: Sequence[tuple[str, bool]] = ()
    page: int = 1
    per_page: int = 25


def search(query: Search, uow: NetworkUnitOfWork) -> tuple[list[PrimaryIp], int]:
    with uow:
        return uow.primary_ips.search(
            user_id=query.user_id,
            organization_id=query.organization_id,
            name=query.name,
            ip=query.ip,
            requirements=query.requirements,
            order=query.order,
            offset=(max(query.page, 1) - 1) * query.per_page,
            limit=query.per_page,
        )


@dataclass(frozen=True)
class ActionSearch:
    user_id: int | None
    organization_id: int | None
    primary_ip_id: int = 0
    ids: Sequence[int] = ()
    statuses: Sequence[str] = ()
    order: Sequence[tuple[str, bool]] = ()
    page: int = 1
    per_page: int = 25


def actions(query: ActionSearch, reach: Reach, uow: NetworkUnitOfWork) -> tuple[list[Action], int]:
    with uow:
        if query.primary_ip_id:
            pip = uow.primary_ips.get_any(query.primary_ip_id)
            if pip is None or pip.deleted_at is not None:
                raise NotFound(f"primary IP {query.primary_ip_id} does not exist")
            reach(pip.user_id, pip.organization_id)
        return uow.actions.search(
            user_id=query.user_id,
            organization_id=query.organization_id,
            resource_type=pips.RESOURCE,
            resource_id=query.primary_ip_id,
            ids=query.ids,
            statuses=query.statuses,
            order=query.order,
            offset=(max(query.page, 1) - 1) * query.per_page,
            limit=query.per_page,
        )
