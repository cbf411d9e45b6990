"""Network's worker's use cases for primary IPs: carry out one running primary IP action
upstream (the floating IP worker's template, :mod:`network_service.service_layer.provisioning`).

Every step is safe to repeat: creating (and adopting a server's own address) looks the platform
id's label up upstream first; assigning and unassigning look at upstream's assignment first;
deleting deletes whatever carries the label; identity's quota release is idempotent. Upstream
that stays unavailable leaves the action running; a permanent refusal ends it in ``error`` with
upstream's code (a failed creation leaves no primary IP, here or upstream, and its quota back).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cpshared.clock import utcnow
from cpshared.errors import Unavailable
from cpshared.logging import get_logger
from network_service.domain import primary_ips as pips
from network_service.domain.actions import Action, UpstreamFailure
from network_service.domain.primary_ips import PrimaryIp
from network_service.service_layer.ports import Compute, Quotas, UpstreamPrimaryIps, primary_ip_reservation_key
from network_service.service_layer.unit_of_work import NetworkUnitOfWork

log = get_logger(__name__)


@dataclass(frozen=True)
class PrimaryIpPeers:
    upstream: UpstreamPrimaryIps
    quotas: Quotas
    compute: Compute | None


def _upstream_of(peers: PrimaryIpPeers, pip: PrimaryIp) -> int:
    found = peers.upstream.find(pip.id)
    if not found:
        raise UpstreamFailure("not_found", f"primary IP {pip.id} does not exist upstream")
    return found[0].id


def _server_upstream(peers: PrimaryIpPeers, server_id: int) -> int:
    """Upstream's id of the platform's server; one deleted meanwhile ends the action, one not made
    upstream yet is waited for."""
    upstream_server = peers.upstream.server_of(server_id)
    if upstream_server is not None:
        return upstream_server
    found = peers.compute.server(server_id) if peers.compute is not None else None
    if peers.compute is not None and (found is None or not found.live):
        raise UpstreamFailure("server_not_found", f"server {server_id} was deleted")
    raise Unavailable(f"server {server_id} does not exist upstream yet")


def _create(peers: PrimaryIpPeers, action: Action, pip: PrimaryIp) -> None:
    up = peers.upstream
    adopt = int(action.params.get("adopt_server_id", 0) or 0)
    if adopt:
        if not pip.datacenter_id and peers.compute is not None:
            location = peers.compute.location(pip.location)
            pip.datacenter_id = location.id if location is not None else 0
        adopted = up.adopt(pip.id, pip.type, _server_upstream(peers, adopt))
        if adopted is None:
            raise UpstreamFailure("not_found", f"server {adopt} has no primary {pip.type} upstream")
        pip.provisioned(action, adopted.id, adopted.ip, adopt, utcnow())
        return
    server_id = int(action.params.get("server_id", 0) or 0)
    upstream_server = _server_upstream(peers, server_id) if server_id else None
    made, upstream_action = up.create(pip.id, pip.type, pip.location, upstream_server)
    up.wait(upstream_action)
    pip.provisioned(action, made.id, made.ip, server_id or None, utcnow())


def _assign(peers: PrimaryIpPeers, action: Action, pip: PrimaryIp) -> None:
    up = peers.upstream
    server_id = int(action.params["server_id"])
    up.wait(up.assign(_upstream_of(peers, pip), _server_upstream(peers, server_id)))
    pip.assigned(action, server_id, utcnow())


def _unassign(peers: PrimaryIpPeers, action: Action, pip: PrimaryIp) -> None:
    up = peers.upstream
    up.wait(up.unassign(_upstream_of(peers, pip)))
    pip.unassigned(action, utcnow())


def _dns_ptr(peers: PrimaryIpPeers, action: Action, pip: PrimaryIp) -> None:
    up = peers.upstream
    ip = str(action.params["ip"])
    dns_ptr = action.params.get("dns_ptr")
    up.wait(up.change_dns_ptr(_upstream_of(peers, pip), ip, dns_ptr))
    pip.dns_ptr_changed(action, ip, dns_ptr, utcnow())


def _delete(peers: PrimaryIpPeers, action: Action, pip: PrimaryIp) -> None:
    for found in peers.upstream.find(pip.id):
        try:
            peers.upstream.delete(found.id)
        except UpstreamFailure as refused:
            if refused.code != "server_not_stopped":
                raise
            # Gone here already: upstream deletes it once its server is off or deleted (an erased
            # account's servers are being deleted); the action waits for that.
            raise Unavailable(f"primary IP {pip.id} waits for its server to stop upstream") from None
    peers.quotas.release(primary_ip_reservation_key(pip.id))
    pip.cleaned_up(action, utcnow())


CARRY_OUT: dict[str, Callable[[PrimaryIpPeers, Action, PrimaryIp], None]] = {
    pips.CREATE: _create,
    pips.ASSIGN: _assign,
    pips.UNASSIGN: _unassign,
    pips.CHANGE_DNS_PTR: _dns_ptr,
    pips.DELETE: _delete,
}
"""The worker's dispatch for primary IPs: each command it carries out, and what carries it out."""

COMMANDS = (pips.CREATE, pips.ASSIGN, pips.UNASSIGN, pips.DELETE)
"""The commands only primary IPs have (change_dns_ptr is floating IPs' name too)."""


def carry_out(peers: PrimaryIpPeers, uow: NetworkUnitOfWork, action: Action) -> None:
    """Carry out the claimed primary IP action in the worker's transaction (saved, not committed);
    Unavailable leaves it running."""
    pip = uow.primary_ips.get_any(action.resource_id, for_update=True)
    if pip is None:  # pragma: no cover - actions are only made for existing primary IPs
        raise RuntimeError(f"action {action.id} names primary IP {action.resource_id}, which does not exist")
    log.info("action_claimed", action_id=action.id, command=action.command, primary_ip_id=pip.id)
    try:
        CARRY_OUT[action.command](peers, action, pip)
    except UpstreamFailure as failure:
        pip.action_failed(action, failure.code, failure.message, utcnow())
        if action.command == pips.CREATE:
            # Nothing of it may stay: whatever upstream made under its label goes, the quota comes back.
            for found in peers.upstream.find(pip.id):
                peers.upstream.delete(found.id)
            peers.quotas.release(primary_ip_reservation_key(pip.id))
        log.warning("action_failed", action_id=action.id, code=failure.code, message=failure.message)
    uow.actions.save(action)
    uow.primary_ips.save(pip, utcnow())


def sweep(uow_factory: Callable[[], NetworkUnitOfWork], upstream: UpstreamPrimaryIps) -> list[int]:
    """Delete upstream primary IPs whose platform one is deleted or that are not the one it
    recorded (a create a dead worker sent may land after its successor made its own); their ids."""
    labelled = upstream.labelled()
    if not labelled:
        return []
    with uow_factory() as uow:
        recorded: dict[int, int | None] = {}
        for platform_id in {p.platform_id for p in labelled if p.platform_id is not None}:
            found = uow.primary_ips.get_any(platform_id)
            if found is None or found.deleted_at is not None:
                recorded[platform_id] = -1
            elif found.status == pips.READY:
                recorded[platform_id] = found.hetzner_id
    strays = [p for p in labelled if p.platform_id in recorded and recorded[p.platform_id] != p.id]
    for stray in strays:
        log.warning("stray_upstream_primary_ip_deleted", primary_ip_id=stray.platform_id, upstream_id=stray.id)
        try:
            upstream.delete(stray.id)
        except UpstreamFailure as failure:  # e.g. still assigned to a running server: the next pass
            log.warning("stray_upstream_primary_ip_kept", upstream_id=stray.id, code=failure.code)
    return [stray.id for stray in strays]
