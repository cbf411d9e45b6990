"""Network's worker's use cases for private networks: carry out one running network action
upstream (the floating IP worker's template, :mod:`network_service.service_layer.provisioning`).

Every step is safe to repeat: creating looks the platform id's label up upstream first, and each
change looks at upstream's network (or the server's private networks) first and does nothing
when upstream has it already. Upstream that stays unavailable leaves the action running; a
permanent refusal ends it in ``error`` with upstream's code and changes nothing here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cpshared.clock import utcnow
from cpshared.errors import Unavailable
from cpshared.logging import get_logger
from network_service.domain import networks as nets
from network_service.domain.actions import Action, UpstreamFailure
from network_service.domain.networks import Network, Route, Subnet
from network_service.service_layer.networks import reservation_key
from network_service.service_layer.ports import Compute, Quotas, UpstreamNetworks
from network_service.service_layer.unit_of_work import NetworkUnitOfWork

log = get_logger(__name__)


@dataclass(frozen=True)
class NetworkPeers:
    upstream: UpstreamNetworks
    quotas: Quotas
    compute: Compute | None


def _upstream_of(peers: NetworkPeers, network: Network) -> int:
    found = peers.upstream.find(network.id)
    if not found:
        raise UpstreamFailure("not_found", f"network {network.id} does not exist upstream")
    return found[0].id


def _server_upstream(peers: NetworkPeers, server_id: int) -> int:
    upstream_server = peers.upstream.server_of(server_id)
    if upstream_server is not None:
        return upstream_server
    found = peers.compute.server(server_id) if peers.compute is not None else None
    if peers.compute is not None and (found is None or not found.live):
        raise UpstreamFailure("server_not_found", f"server {server_id} was deleted")
    raise Unavailable(f"server {server_id} does not exist upstream yet")


def _carry_out(peers: NetworkPeers, action: Action, network: Network) -> None:
    up, params, command = peers.upstream, action.params, action.command
    if command == nets.CREATE:
        made = up.create(
            network.id, network.ip_range, network.subnets, network.routes, network.expose_routes_to_vswitch
        )
        network.completed(action, utcnow(), hetzner_id=made.id)
        return
    if command == nets.DELETE:
        for found in up.find(network.id):
            up.delete(found.id)
        peers.quotas.release(reservation_key(network.id))
        network.completed(action, utcnow())
        return
    upstream_id = _upstream_of(peers, network)
    mac = ""
    if command == nets.ADD_SUBNET:
        up.wait(up.add_subnet(upstream_id, Subnet.of(params)))
    elif command == nets.DELETE_SUBNET:
        up.wait(up.delete_subnet(upstream_id, str(params["ip_range"])))
    elif command == nets.ADD_ROUTE:
        up.wait(up.add_route(upstream_id, Route(params["destination"], params["gateway"])))
    elif command == nets.DELETE_ROUTE:
        up.wait(up.delete_route(upstream_id, Route(params["destination"], params["gateway"])))
    elif command == nets.CHANGE_IP_RANGE:
        up.wait(up.change_ip_range(upstream_id, str(params["ip_range"])))
    elif command == nets.ATTACH:
        server = _server_upstream(peers, int(params["server_id"]))
        up.wait(up.attach(upstream_id, server, str(params["ip"]), list(params["alias_ips"])))
        mac = up.mac_address(upstream_id, server)
    elif command == nets.DETACH:
        server_id = int(params["server_id"])
        upstream_server = peers.upstream.server_of(server_id)
        if upstream_server is not None:
            up.wait(up.detach(upstream_id, upstream_server))
    elif command == nets.CHANGE_ALIAS_IPS:
        server = _server_upstream(peers, int(params["server_id"]))
        up.wait(up.change_alias_ips(upstream_id, server, list(params["alias_ips"])))
    network.completed(action, utcnow(), mac_address=mac)


COMMANDS = (
    nets.CREATE,
    nets.DELETE,
    nets.ADD_SUBNET,
    nets.DELETE_SUBNET,
    nets.ADD_ROUTE,
    nets.DELETE_ROUTE,
    nets.CHANGE_IP_RANGE,
    nets.ATTACH,
    nets.DETACH,
    nets.CHANGE_ALIAS_IPS,
)
"""The network commands the worker carries out (change_protection finishes at once)."""


def carry_out(peers: NetworkPeers, uow: NetworkUnitOfWork, action: Action) -> None:
    """Carry out the claimed network action in the worker's transaction (saved, not committed);
    Unavailable leaves it running."""
    network = uow.networks.get_any(action.resource_id, for_update=True)
    if network is None:  # pragma: no cover - actions are only made for existing networks
        raise RuntimeError(f"action {action.id} names network {action.resource_id}, which does not exist")
    log.info("action_claimed", action_id=action.id, command=action.command, network_id=network.id)
    try:
        _carry_out(peers, action, network)
    except UpstreamFailure as failure:
        network.action_failed(action, failure.code, failure.message, utcnow())
        if action.command == nets.CREATE:
            for found in peers.upstream.find(network.id):
                peers.upstream.delete(found.id)
            peers.quotas.release(reservation_key(network.id))
        log.warning("action_failed", action_id=action.id, code=failure.code, message=failure.message)
    uow.actions.save(action)
    uow.networks.save(network, utcnow())


Sweep = Callable[[], list[int]]


def sweep(uow_factory: Callable[[], NetworkUnitOfWork], upstream: UpstreamNetworks) -> list[int]:
    """Delete upstream networks whose platform network is deleted or that are not the one it
    recorded; their upstream ids."""
    labelled = upstream.labelled()
    if not labelled:
        return []
    with uow_factory() as uow:
        recorded = {}
        for platform_id in {n.platform_id for n in labelled if n.platform_id is not None}:
            found = uow.networks.get_any(platform_id)
            recorded[platform_id] = found.hetzner_id if found is not None and found.deleted_at is None else -1
    strays = [n for n in labelled if n.platform_id is not None and recorded.get(n.platform_id) not in (None, n.id)]
    for stray in strays:
        log.warning("stray_upstream_network_deleted", network_id=stray.platform_id, upstream_id=stray.id)
        upstream.delete(stray.id)
    return [stray.id for stray in strays]
