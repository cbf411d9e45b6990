"""Floating IP use cases: a tenant's floating IPs (create, read, list, update, delete) and their
actions (assign, unassign, reverse DNS, protection).

The platform's rows are the truth and upstream mirrors them through network's worker: creating
records the floating IP (``creating``, locked) with its running ``create_floating_ip`` action
and reserves a unit of the tenant's ``floating_ip`` quota in the same transaction; the worker
makes it upstream (labelled with its id) and records its address. Deleting takes it from its
tenant at once (``floating_ip.deleted``); the worker deletes it upstream and gives the quota
back. A rule broken answers at once, before anything changed, here or upstream.
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
from network_service.domain import floating_ips as fips
from network_service.domain.actions import Action
from network_service.domain.floating_ips import FloatingIp, check_description, check_name, check_type
from network_service.service_layer.ports import (
    ActionRepository,
    Compute,
    FloatingIpRepository,
    Quotas,
    reservation_key,
)
from network_service.service_layer.unit_of_work import NetworkUnitOfWork

log = get_logger(__name__)

Reach = Callable[[int, int | None], None]
"""Raises NOT_FOUND unless the caller reaches a resource of (user id, organization id)."""


@dataclass(frozen=True)
class NewFloatingIp:
    user_id: int
    organization_id: int | None
    type: str
    home_location: str = ""
    server_id: int = 0
    description: str = ""
    name: str = ""
    labels: Mapping[str, str] | None = None


def create(cmd: NewFloatingIp, uow: NetworkUnitOfWork, compute: Compute, quotas: Quotas) -> tuple[FloatingIp, Action]:
    kind = check_type(cmd.type)
    labels = check_labels(dict(cmd.labels or {}))
    description = check_description(cmd.description)
    name = check_name(cmd.name) if cmd.name else ""
    if cmd.server_id < 0:
        raise invalid_field("server", "server must be the id of one of your servers")
    server = compute.server(cmd.server_id) if cmd.server_id else None
    if cmd.server_id and (
        server is None or not server.live or not _same_tenant(server, cmd.user_id, cmd.organization_id)
    ):
        raise invalid_field("server", f"server {cmd.server_id} does not exist")
    if cmd.home_location:
        location = compute.location(cmd.home_location)
        if location is None:
            raise invalid_field("home_location", f"location {cmd.home_location!r} does not exist")
    elif server is not None:
        location = compute.location(server.location)
        if location is None:  # pragma: no cover - a server's location is in the catalog
            raise InvalidInput(f"the location of server {server.id} is unknown")
    else:
        raise invalid_field("home_location", "give home_location or server: the floating IP needs a home location")
    fip = FloatingIp(
        id=0,
        user_id=cmd.user_id,
        organization_id=cmd.organization_id,
        name=name or "pending",
        type=kind,
        home_location=location.code,
        datacenter_id=location.id,
        network_zone=location.network_zone,
        description=description,
        labels=labels,
    )
    if server is not None:
        fip.ensure_assignable_to(server)
    now = utcnow()
    with uow:
        if name and uow.floating_ips.named(cmd.user_id, cmd.organization_id, name) is not None:
            raise _name_taken(name)
        uow.floating_ips.add(fip, now)
        if not name:
            fip.name = f"floating-ip-{fip.id}"
        quotas.reserve(reservation_key(fip.id), cmd.user_id, cmd.organization_id)
        action = fip.begin(fips.CREATE, {"server_id": cmd.server_id} if cmd.server_id else {}, now)
        uow.actions.add(action)
        uow.floating_ips.save(fip, now)
        uow.commit()
    log.info("floating_ip_create_started", floating_ip_id=fip.id, action_id=action.id)
    return fip, action


def _same_tenant(server: fips.ServerRef, user_id: int, organization_id: int | None) -> bool:
    if server.organization_id is not None:
        return organization_id == server.organization_id
    return organization_id is None and server.user_id == user_id


def _name_taken(name: str) -> AlreadyExists:
    return AlreadyExists(
        f"a floating IP named {name!r} exists already; choose another name",
        details={"fields": [{"name": "name", "messages": ["already exists"]}]},
    )


def _reached(floating_ip_id: int, reach: Reach, uow: NetworkUnitOfWork, *, for_update: bool = False) -> FloatingIp:
    fip = uow.floating_ips.get(floating_ip_id, for_update=for_update)
    if fip is None:
        raise NotFound(f"floating IP {floating_ip_id} does not exist")
    reach(fip.user_id, fip.organization_id)
    return fip


def get(floating_ip_id: int, reach: Reach, uow: NetworkUnitOfWork) -> FloatingIp:
    with uow:
        return _reached(floating_ip_id, reach, uow)


def update(
    floating_ip_id: int,
    name: str | None,
    description: str | None,
    labels: Mapping[str, str] | None,
    reach: Reach,
    uow: NetworkUnitOfWork,
) -> FloatingIp:
    new_name = check_name(name) if name is not None else None
    new_description = check_description(description) if description is not None else None
    new_labels = check_labels(dict(labels)) if labels is not None else None
    with uow:
        fip = _reached(floating_ip_id, reach, uow, for_update=True)
        if new_name is not None and new_name != fip.name:
            other = uow.floating_ips.named(fip.user_id, fip.organization_id, new_name)
            if other is not None:
                raise _name_taken(new_name)
        if not fip.update(new_name, new_description, new_labels):
            return fip
        uow.floating_ips.save(fip, utcnow())
        uow.commit()
    return fip


def delete(floating_ip_id: int, reach: Reach, uow: NetworkUnitOfWork) -> Action:
    with uow:
        fip = _reached(floating_ip_id, reach, uow, for_update=True)
        now = utcnow()
        action = fip.delete(now)
        uow.actions.add(action)
        uow.floating_ips.save(fip, now)
        uow.commit()
    log.info("floating_ip_deleted", floating_ip_id=floating_ip_id, action_id=action.id)
    return action


def _ready(fip: FloatingIp) -> None:
    if fip.status != fips.READY:
        raise InvalidInput(f"floating IP {fip.id} is still being created; retry when its create action finished")


def assign(floating_ip_id: int, server_id: int, reach: Reach, uow: NetworkUnitOfWork, compute: Compute) -> Action:
    if server_id <= 0:
        raise invalid_field("server", "server must be the id of one of your servers")
    server = compute.server(server_id)
    with uow:
        fip = _reached(floating_ip_id, reach, uow, for_update=True)
        if server is None:
            raise invalid_field("server", f"server {server_id} does not exist")
        _ready(fip)
        fip.ensure_assignable_to(server)
        action = fip.begin(fips.ASSIGN, {"server_id": server_id}, utcnow())
        uow.actions.add(action)
        uow.floating_ips.save(fip, utcnow())
        uow.commit()
    return action


def unassign(floating_ip_id: int, reach: Reach, uow: NetworkUnitOfWork) -> Action:
    with uow:
        fip = _reached(floating_ip_id, reach, uow, for_update=True)
        _ready(fip)
        action = fip.begin(fips.UNASSIGN, {"server_id": fip.server_id or 0}, utcnow())
        uow.actions.add(action)
        uow.floating_ips.save(fip, utcnow())
        uow.commit()
    return action


def change_dns_ptr(floating_ip_id: int, ip: str, dns_ptr: str | None, reach: Reach, uow: NetworkUnitOfWork) -> Action:
    with uow:
        fip = _reached(floating_ip_id, reach, uow, for_update=True)
        _ready(fip)
        address = fip.check_dns_ptr(ip, dns_ptr)
        action = fip.begin(fips.CHANGE_DNS_PTR, {"ip": address, "dns_ptr": dns_ptr}, utcnow())
        uow.actions.add(action)
        uow.floating_ips.save(fip, utcnow())
        uow.commit()
    return action


def change_protection(floating_ip_id: int, delete: bool | None, reach: Reach, uow: NetworkUnitOfWork) -> Action:
    with uow:
        fip = _reached(floating_ip_id, reach, uow, for_update=True)
        now = utcnow()
        action = fip.change_protection(delete, now)
        uow.actions.add(action)
        fip.protection_recorded(action)
        uow.floating_ips.save(fip, now)
        uow.commit()
    return action


def server_deleted(repository: FloatingIpRepository, server_id: int) -> list[PendingEvent]:
    """Compute deleted the server (upstream unassigned what it had): its floating IPs are
    unassigned here (each locked first, so a worker's action on one finishes before); the
    ``floating_ip.unassigned`` events, for the caller's transaction's outbox."""
    now = utcnow()
    recorded: list[PendingEvent] = []
    for fip in repository.assigned_to([server_id], for_update=True):
        fip.unassigned(None, now)
        repository.save(fip, now)
        recorded.extend(pending_events(fip, SERVICE_NAME))
    if recorded:
        log.info("floating_ips_of_deleted_server_unassigned", server_id=server_id, count=len(recorded))
    return recorded


def account_suspended(repository: FloatingIpRepository, user_id: int, reason: str) -> list[PendingEvent]:
    """Block the floating IPs ``user_id`` owns itself (``reason``: suspended or banned)."""
    recorded: list[PendingEvent] = []
    for fip in repository.owned_by(user_id, for_update=True):
        if fip.block(reason):
            repository.save(fip, utcnow())
            recorded.extend(pending_events(fip, SERVICE_NAME))
    return recorded


def account_activated(repository: FloatingIpRepository, user_id: int) -> list[PendingEvent]:
    recorded: list[PendingEvent] = []
    for fip in repository.owned_by(user_id, for_update=True):
        if fip.unblock():
            repository.save(fip, utcnow())
            recorded.extend(pending_events(fip, SERVICE_NAME))
    return recorded


def account_erased(repository: FloatingIpRepository, actions: ActionRepository, user_id: int) -> list[PendingEvent]:
    """Delete the floating IPs ``user_id`` owns itself, protected or not (network's worker deletes
    them upstream and gives the quota back); one busy with an action stays blocked (logged)."""
    now = utcnow()
    recorded: list[PendingEvent] = []
    for fip in repository.owned_by(user_id, for_update=True):
        action = fip.erase(now)
        if action is None:
            log.warning("floating_ip_of_erased_account_busy", floating_ip_id=fip.id)
        else:
            actions.add(action)
        repository.save(fip, now)
        recorded.extend(pending_events(fip, SERVICE_NAME))
    return recorded


def of_servers(server_ids: Sequence[int], reach: Reach, uow: NetworkUnitOfWork) -> dict[int, list[int]]:
    """The floating IPs the caller reaches assigned to each of those servers, by server (one query)."""
    found: dict[int, list[int]] = {}
    with uow:
        for fip in uow.floating_ips.assigned_to(list(set(server_ids))):
            try:
                reach(fip.user_id, fip.organization_id)
            except NotFound:
                continue
            found.setdefault(fip.server_id or 0, []).append(fip.id)
    return {server: sorted(ids) for server, ids in found.items()}


@dataclass(frozen=True)
class Search:
    user_id: int | None
    organization_id: int | None
    name: str = ""
    requirements: Sequence[LabelRequirement] = ()
    order: Sequence[tuple[str, bool]] = ()
    page: int = 1
    per_page: int = 25


def search(query: Search, uow: NetworkUnitOfWork) -> tuple[list[FloatingIp], int]:
    with uow:
        return uow.floating_ips.search(
            user_id=query.user_id,
            organization_id=query.organization_id,
            name=query.name,
            requirements=query.requirements,
            order=query.order,
            offset=(max(query.page, 1) - 1) * query.per_page,
            limit=query.per_page,
        )


# -- actions -------------------------------------------------------------------------------------


def action(action_id: int, reach: Reach, uow: NetworkUnitOfWork) -> Action:
    with uow:
        found = uow.actions.get(action_id)
        if found is None:
            raise NotFound(f"action {action_id} does not exist")
        reach(found.user_id, found.organization_id)
        return found


@dataclass(frozen=True)
class ActionSearch:
    user_id: int | None
    organization_id: int | None
    floating_ip_id: int = 0
    ids: Sequence[int] = ()
    statuses: Sequence[str] = ()
    order: Sequence[tuple[str, bool]] = ()
    page: int = 1
    per_page: int = 25


def actions(query: ActionSearch, reach: Reach, uow: NetworkUnitOfWork) -> tuple[list[Action], int]:
    with uow:
        if query.floating_ip_id:
            fip = uow.floating_ips.get_any(query.floating_ip_id)
            if fip is None or fip.deleted_at is not None:
                raise NotFound(f"floating IP {query.floating_ip_id} does not exist")
            reach(fip.user_id, fip.organization_id)
        return uow.actions.search(
            user_id=query.user_id,
            organization_id=query.organization_id,
            resource_type=fips.RESOURCE,
            resource_id=query.floating_ip_id,
            ids=query.ids,
            statuses=query.statuses,
            order=query.order,
            offset=(max(query.page, 1) - 1) * query.per_page,
            limit=query.per_page,
        )
