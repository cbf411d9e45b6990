"""Private network use cases: a tenant's networks (create, read, list, update, delete), their
actions (subnets, routes, range, protection) and the server actions that attach servers to them.

The platform's rows are the truth and upstream mirrors them through network's worker: creating
records the network (``creating``, locked) with its subnets and routes and its running
``create_network`` action, and reserves a unit of the tenant's ``network`` quota in the same
transaction; the worker makes it upstream (labelled with its id). Every other action is checked
here against the network's rules and locks it; the worker does it upstream and the network
applies it (:meth:`Network.completed`). A rule broken answers at once, before anything changed,
here or upstream.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from cpshared.aggregate import pending_events
from cpshared.clock import utcnow
from cpshared.errors import AlreadyExists, NotFound
from cpshared.events.envelope import PendingEvent
from cpshared.logging import get_logger
from hetzner_conventions.errors import invalid_field
from hetzner_conventions.label_sql import LabelRequirement
from hetzner_conventions.labels import check_labels
from network_service import SERVICE_NAME
from network_service.domain import networks as nets
from network_service.domain.actions import Action
from network_service.domain.floating_ips import ServerRef
from network_service.domain.networks import Attachment, Network, check_name, new_network
from network_service.service_layer.ports import ActionRepository, Compute, NetworkRepository, Quotas
from network_service.service_layer.unit_of_work import NetworkUnitOfWork

log = get_logger(__name__)

Reach = Callable[[int, int | None], None]
"""Raises NOT_FOUND unless the caller reaches a resource of (user id, organization id)."""


def reservation_key(network_id: int) -> str:
    """The network's quota reservation: its platform id, so every retry names the same one."""
    return f"network-{network_id}"


@dataclass(frozen=True)
class NewSubnet:
    type: str
    network_zone: str
    ip_range: str = ""
    vswitch_id: int | None = None


@dataclass(frozen=True)
class NewNetwork:
    user_id: int
    organization_id: int | None
    name: str
    ip_range: str
    subnets: Sequence[NewSubnet] = ()
    routes: Sequence[tuple[str, str]] = ()
    labels: Mapping[str, str] | None = None
    expose_routes_to_vswitch: bool = False


def _name_taken(name: str) -> AlreadyExists:
    return AlreadyExists(
        f"a network named {name!r} exists already; choose another name",
        details={"fields": [{"name": "name", "messages": ["already exists"]}]},
    )


def create(cmd: NewNetwork, uow: NetworkUnitOfWork, quotas: Quotas) -> tuple[Network, Action]:
    network = new_network(
        cmd.user_id, cmd.organization_id, cmd.name, cmd.ip_range, check_labels(dict(cmd.labels or {}))
    )
    network.expose_routes_to_vswitch = cmd.expose_routes_to_vswitch
    for subnet in cmd.subnets:
        network.subnets.append(
            network.check_subnet(subnet.type, subnet.ip_range, subnet.network_zone, subnet.vswitch_id)
        )
    for destination, gateway in cmd.routes:
        network.routes.append(network.check_route(destination, gateway))
    now = utcnow()
    with uow:
        if uow.networks.named(cmd.user_id, cmd.organization_id, network.name) is not None:
            raise _name_taken(network.name)
        uow.networks.add(network, now)
        quotas.reserve(reservation_key(network.id), cmd.user_id, cmd.organization_id)
        action = network.begin(nets.CREATE, {}, now)
        uow.actions.add(action)
        uow.networks.save(network, now)
        uow.commit()
    log.info("network_create_started", network_id=network.id, action_id=action.id)
    return network, action


def _reached(network_id: int, reach: Reach, uow: NetworkUnitOfWork, *, for_update: bool = False) -> Network:
    network = uow.networks.get(network_id, for_update=for_update)
    if network is None:
        raise NotFound(f"network {network_id} does not exist")
    reach(network.user_id, network.organization_id)
    return network


def get(network_id: int, reach: Reach, uow: NetworkUnitOfWork) -> Network:
    with uow:
        return _reached(network_id, reach, uow)


def update(
    network_id: int,
    name: str | None,
    labels: Mapping[str, str] | None,
    expose_routes_to_vswitch: bool | None,
    reach: Reach,
    uow: NetworkUnitOfWork,
) -> Network:
    new_name = check_name(name) if name is not None else None
    new_labels = check_labels(dict(labels)) if labels is not None else None
    with uow:
        network = _reached(network_id, reach, uow, for_update=True)
        if (
            new_name is not None
            and new_name != network.name
            and uow.networks.named(network.user_id, network.organization_id, new_name) is not None
        ):
            raise _name_taken(new_name)
        if not network.update(new_name, new_labels, expose_routes_to_vswitch):
            return network
        uow.networks.save(network, utcnow())
        uow.commit()
    return network


def delete(network_id: int, reach: Reach, uow: NetworkUnitOfWork) -> Action:
    with uow:
        network = _reached(network_id, reach, uow, for_update=True)
        now = utcnow()
        action = network.delete(now)
        uow.actions.add(action)
        uow.networks.save(network, now)
        uow.commit()
    log.info("network_deleted", network_id=network_id, action_id=action.id)
    return action


def _run(network_id: int, reach: Reach, uow: NetworkUnitOfWork, start: Callable[[Network], Action]) -> Action:
    """Check and start one action on the network (``start`` checks its rule and begins it)."""
    with uow:
        network = _reached(network_id, reach, uow, for_update=True)
        action = start(network)
        uow.actions.add(action)
        uow.networks.save(network, utcnow())
        uow.commit()
    return action


def add_subnet(network_id: int, subnet: NewSubnet, reach: Reach, uow: NetworkUnitOfWork) -> Action:
    def start(network: Network) -> Action:
        checked = network.check_subnet(subnet.type, subnet.ip_range, subnet.network_zone, subnet.vswitch_id)
        return network.begin_add_subnet(checked, utcnow())

    return _run(network_id, reach, uow, start)


def delete_subnet(network_id: int, ip_range: str, reach: Reach, uow: NetworkUnitOfWork) -> Action:
    return _run(network_id, reach, uow, lambda network: network.begin_delete_subnet(ip_range, utcnow()))


def add_route(network_id: int, destination: str, gateway: str, reach: Reach, uow: NetworkUnitOfWork) -> Action:
    def start(network: Network) -> Action:
        return network.begin(nets.ADD_ROUTE, network.check_route(destination, gateway).as_dict(), utcnow())

    return _run(network_id, reach, uow, start)


def delete_route(network_id: int, destination: str, gateway: str, reach: Reach, uow: NetworkUnitOfWork) -> Action:
    def start(network: Network) -> Action:
        return network.begin(nets.DELETE_ROUTE, network.route_of(destination, gateway).as_dict(), utcnow())

    return _run(network_id, reach, uow, start)


def change_ip_range(network_id: int, ip_range: str, reach: Reach, uow: NetworkUnitOfWork) -> Action:
    def start(network: Network) -> Action:
        return network.begin(nets.CHANGE_IP_RANGE, {"ip_range": str(network.check_ip_range(ip_range))}, utcnow())

    return _run(network_id, reach, uow, start)


def change_protection(network_id: int, delete: bool | None, reach: Reach, uow: NetworkUnitOfWork) -> Action:
    with uow:
        network = _reached(network_id, reach, uow, for_update=True)
        now = utcnow()
        action = network.change_protection(delete, now)
        uow.actions.add(action)
        network.protection_recorded(action)
        uow.networks.save(network, now)
        uow.commit()
    return action


# -- the server actions -------------------------------------------------------------------------


@dataclass(frozen=True)
class Attach:
    server_id: int
    network_id: int
    ip: str = ""
    alias_ips: Sequence[str] = field(default_factory=tuple)
    ip_range: str = ""
    """The subnet to take the IP from; empty: any of the server's network zone."""


def _server(server_id: int, compute: Compute) -> ServerRef:
    if server_id <= 0:
        raise NotFound(f"server {server_id} does not exist")
    server = compute.server(server_id)
    if server is None or not server.live:
        raise NotFound(f"server {server_id} does not exist")
    return server


def _network_field(network_id: int, reach: Reach, uow: NetworkUnitOfWork) -> Network:
    """The network a server action names (a missing one is the request's bad ``network`` field)."""
    if network_id <= 0:
        raise invalid_field("network", "network must be the id of one of your networks")
    try:
        return _reached(network_id, reach, uow, for_update=True)
    except NotFound:
        raise invalid_field("network", f"network {network_id} does not exist") from None


def _server_run(
    server_id: int,
    network_id: int,
    reach: Reach,
    uow: NetworkUnitOfWork,
    compute: Compute,
    start: Callable[[Network, ServerRef], Action],
) -> Action:
    server = _server(server_id, compute)
    reach(server.user_id, server.organization_id)
    with uow:
        network = _network_field(network_id, reach, uow)
        action = start(network, server)
        uow.actions.add(action)
        uow.networks.save(network, utcnow())
        uow.commit()
    return action


def attach(cmd: Attach, reach: Reach, uow: NetworkUnitOfWork, compute: Compute) -> Action:
    def start(network: Network, server: ServerRef) -> Action:
        attachment = network.check_attach(server, cmd.ip, list(cmd.alias_ips), cmd.ip_range)
        return network.begin_attach(attachment, utcnow())

    return _server_run(cmd.server_id, cmd.network_id, reach, uow, compute, start)


def detach(server_id: int, network_id: int, reach: Reach, uow: NetworkUnitOfWork, compute: Compute) -> Action:
    def start(network: Network, server: ServerRef) -> Action:
        return network.begin_detach(server.id, utcnow())

    return _server_run(server_id, network_id, reach, uow, compute, start)


def change_alias_ips(
    server_id: int, network_id: int, alias_ips: Sequence[str], reach: Reach, uow: NetworkUnitOfWork, compute: Compute
) -> Action:
    def start(network: Network, server: ServerRef) -> Action:
        changed = network.check_alias_ips(server, list(alias_ips))
        params = {"server_id": server.id, "alias_ips": changed.alias_ips}
        return network.begin(nets.CHANGE_ALIAS_IPS, params, utcnow(), server_id=server.id)

    return _server_run(server_id, network_id, reach, uow, compute, start)


def of_servers(
    server_ids: Sequence[int], reach: Reach, uow: NetworkUnitOfWork
) -> dict[int, list[tuple[int, Attachment]]]:
    """The networks the caller reaches each of those servers is attached to, by server: (network
    id, attachment); one query for the page."""
    wanted = set(server_ids)
    found: dict[int, list[tuple[int, Attachment]]] = {}
    with uow:
        for network in uow.networks.attached_to(sorted(wanted)):
            try:
                reach(network.user_id, network.organization_id)
            except NotFound:
                continue
            for attached in network.attachments:
                if attached.server_id in wanted:
                    found.setdefault(attached.server_id, []).append((network.id, attached))
    return found


# -- reactions ----------------------------------------------------------------------------------


def server_deleted(repository: NetworkRepository, server_id: int) -> list[PendingEvent]:
    """Compute deleted the server (upstream detached it): it leaves its networks here; the
    ``network.server_detached`` events, for the caller's transaction's outbox."""
    now = utcnow()
    recorded: list[PendingEvent] = []
    for network in repository.attached_to([server_id], for_update=True):
        if network.server_gone(server_id):
            repository.save(network, now)
            recorded.extend(pending_events(network, SERVICE_NAME))
    return recorded


def account_suspended(repository: NetworkRepository, user_id: int, reason: str) -> list[PendingEvent]:
    recorded: list[PendingEvent] = []
    for network in repository.owned_by(user_id, for_update=True):
        if network.block(reason):
            repository.save(network, utcnow())
            recorded.extend(pending_events(network, SERVICE_NAME))
    return recorded


def account_activated(repository: NetworkRepository, user_id: int) -> list[PendingEvent]:
    recorded: list[PendingEvent] = []
    for network in repository.owned_by(user_id, for_update=True):
        if network.unblock():
            repository.save(network, utcnow())
            recorded.extend(pending_events(network, SERVICE_NAME))
    return recorded


def account_erased(repository: NetworkRepository, actions: ActionRepository, user_id: int) -> list[PendingEvent]:
    """Delete the networks ``user_id`` owns itself, protected or not (network's worker deletes
    them upstream and gives the quota back); one busy with an action stays blocked (logged)."""
    now = utcnow()
    recorded: list[PendingEvent] = []
    for network in repository.owned_by(user_id, for_update=True):
        action = network.erase(now)
        if action is None:
            log.warning("network_of_erased_account_busy", network_id=network.id)
        else:
            actions.add(action)
        repository.save(network, now)
        recorded.extend(pending_events(network, SERVICE_NAME))
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
        if found is None:
            raise NotFound(f"action {action_id} does not exist")
        reach(found.user_id, found.organization_id)
        return found


def search(query: Search, uow: NetworkUnitOfWork) -> tuple[list[Network], int]:
    with uow:
        return uow.networks.search(
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
    network_id: int = 0
    ids: Sequence[int] = ()
    statuses: Sequence[str] = ()
    order: Sequence[tuple[str, bool]] = ()
    page: int = 1
    per_page: int = 25


def actions(query: ActionSearch, reach: Reach, uow: NetworkUnitOfWork) -> tuple[list[Action], int]:
    with uow:
        if query.network_id:
            network = uow.networks.get_any(query.network_id)
            if network is None or network.deleted_at is not None:
                raise NotFound(f"network {query.network_id} does not exist")
            reach(network.user_id, network.organization_id)
        return uow.actions.search(
            user_id=query.user_id,
            organization_id=query.organization_id,
            resource_type=nets.RESOURCE,
            resource_id=query.network_id,
            ids=query.ids,
            statuses=query.statuses,
            order=query.order,
            offset=(max(query.page, 1) - 1) * query.per_page,
            limit=query.per_page,
        )
