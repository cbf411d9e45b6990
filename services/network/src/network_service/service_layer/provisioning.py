"""Network's worker's use cases: carry out one running action upstream, and sweep upstream for
floating IPs nobody should have.

Claiming an action locks its row (SELECT ... FOR UPDATE SKIP LOCKED) for the transaction that
carries it out, and everything the action changes — floating IP, action, events — commits in
that same transaction at its end. A worker killed at any line therefore leaves the action
running and unclaimed; the next worker starts it over, and every step is safe to repeat:
creating looks the platform id's label up upstream first, assigning and unassigning look at
upstream's assignment first, deleting deletes whatever carries the label, and identity's quota
release is idempotent. Upstream that stays unavailable (5xx, 429, timeouts after the retries)
leaves the action running for later; a permanent refusal ends it in ``error`` with upstream's code.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass

from cpshared.clock import utcnow
from cpshared.errors import Unavailable
from cpshared.logging import get_logger
from network_service.domain import floating_ips as fips
from network_service.domain.actions import Action, UpstreamFailure
from network_service.domain.floating_ips import FloatingIp
from network_service.service_layer import (
    firewall_provisioning,
    load_balancer_provisioning,
    network_provisioning,
    primary_ip_provisioning,
)
from network_service.service_layer.ports import (
    Compute,
    Quotas,
    UpstreamFirewalls,
    UpstreamFloatingIps,
    UpstreamLoadBalancers,
    UpstreamNetworks,
    UpstreamPrimaryIps,
    reservation_key,
)
from network_service.service_layer.unit_of_work import NetworkUnitOfWork

log = get_logger(__name__)
DEFERRED = "deferred"


@dataclass(frozen=True)
class Peers:
    """What an action is carried out with: upstream, identity's quotas, compute's servers."""

    upstream: UpstreamFloatingIps
    quotas: Quotas
    compute: Compute | None


CarryOut = Callable[[Peers, NetworkUnitOfWork, Action, FloatingIp], None]
"""Carries one running action out upstream and has the floating IP record the result, in the
worker's transaction; raises UpstreamFailure (the action's failure) or Unavailable (left running)."""


@dataclass(frozen=True)
class Outcome:
    action_id: int
    command: str
    status: str


def _upstream_of(up: UpstreamFloatingIps, fip: FloatingIp) -> int:
    found = up.find(fip.id)
    if not found:
        raise UpstreamFailure("not_found", f"floating IP {fip.id} does not exist upstream")
    return found[0].id


def _server_upstream(peers: Peers, server_id: int) -> int:
    """Upstream's id of the platform's server. One compute has deleted meanwhile ends the action
    (``server_not_found``); one compute has not made upstream yet is waited for."""
    upstream_server = peers.upstream.server_of(server_id)
    if upstream_server is not None:
        return upstream_server
    found = peers.compute.server(server_id) if peers.compute is not None else None
    if peers.compute is not None and (found is None or not found.live):
        raise UpstreamFailure("server_not_found", f"server {server_id} was deleted")
    raise Unavailable(f"server {server_id} does not exist upstream yet")


def _create(peers: Peers, uow: NetworkUnitOfWork, action: Action, fip: FloatingIp) -> None:
    up = peers.upstream
    server_id = int(action.params.get("server_id", 0) or 0)
    upstream_server = _server_upstream(peers, server_id) if server_id else None
    made, upstream_action = up.create(fip.id, fip.type, fip.home_location, upstream_server, fip.description)
    up.wait(upstream_action)
    fip.provisioned(action, made.id, made.ip, server_id or None, utcnow())


def _assign(peers: Peers, uow: NetworkUnitOfWork, action: Action, fip: FloatingIp) -> None:
    up = peers.upstream
    server_id = int(action.params["server_id"])
    up.wait(up.assign(_upstream_of(up, fip), _server_upstream(peers, server_id)))
    fip.assigned(action, server_id, utcnow())


def _unassign(peers: Peers, uow: NetworkUnitOfWork, action: Action, fip: FloatingIp) -> None:
    up = peers.upstream
    up.wait(up.unassign(_upstream_of(up, fip)))
    fip.unassigned(action, utcnow())


def _dns_ptr(peers: Peers, uow: NetworkUnitOfWork, action: Action, fip: FloatingIp) -> None:
    up = peers.upstream
    ip = str(action.params["ip"])
    dns_ptr = action.params.get("dns_ptr")
    up.wait(up.change_dns_ptr(_upstream_of(up, fip), ip, dns_ptr))
    fip.dns_ptr_changed(action, ip, dns_ptr, utcnow())


def _delete(peers: Peers, uow: NetworkUnitOfWork, action: Action, fip: FloatingIp) -> None:
    for found in peers.upstream.find(fip.id):
        peers.upstream.delete(found.id)
    peers.quotas.release(reservation_key(fip.id))
    fip.cleaned_up(action, utcnow())


CARRY_OUT: dict[str, CarryOut] = {
    fips.CREATE: _create,
    fips.ASSIGN: _assign,
    fips.UNASSIGN: _unassign,
    fips.CHANGE_DNS_PTR: _dns_ptr,
    fips.DELETE: _delete,
}
"""The worker's dispatch: each command it carries out, and what carries it out."""


class Provisioner:
    def __init__(
        self,
        uow_factory: Callable[[], NetworkUnitOfWork],
        upstream: UpstreamFloatingIps,
        quotas: Quotas,
        compute: Compute | None = None,
        networks: UpstreamNetworks | None = None,
        network_quotas: Quotas | None = None,
        firewalls: UpstreamFirewalls | None = None,
        primary_ips: UpstreamPrimaryIps | None = None,
        primary_ip_quotas: Quotas | None = None,
        load_balancers: UpstreamLoadBalancers | None = None,
        load_balancer_quotas: Quotas | None = None,
    ) -> None:
        """``networks`` (and ``network_quotas``, identity's ``network`` quota): private networks'
        actions are carried out too; ``firewalls``: firewalls' actions, and :meth:`reconcile`;
        ``primary_ips`` (and ``primary_ip_quotas``, identity's ``primary_ip`` quota): primary IPs';
        ``load_balancers`` (and ``load_balancer_quotas``): load balancers' actions and reconcile."""
        self.uow_factory = uow_factory
        self.upstream = upstream
        self.quotas = quotas
        self.peers = Peers(upstream, quotas, compute)
        self.networks = (
            network_provisioning.NetworkPeers(networks, network_quotas or quotas, compute) if networks else None
        )
        self.firewalls = firewall_provisioning.FirewallPeers(firewalls) if firewalls else None
        self.primary_ips = (
            primary_ip_provisioning.PrimaryIpPeers(primary_ips, primary_ip_quotas or quotas, compute)
            if primary_ips
            else None
        )
        self.load_balancers = (
            load_balancer_provisioning.LoadBalancerPeers(load_balancers, load_balancer_quotas or quotas)
            if load_balancers
            else None
        )
        self.commands = sorted(
            {
                *CARRY_OUT,
                *(network_provisioning.COMMANDS if networks else ()),
                *(firewall_provisioning.COMMANDS if firewalls else ()),
                *(primary_ip_provisioning.COMMANDS if primary_ips else ()),
                *(load_balancer_provisioning.COMMANDS if load_balancers else ()),
            }
        )

    def run_once(self, skip: Collection[int] = ()) -> Outcome | None:
        """Claim the oldest running action (not in ``skip``) and carry it out; None when there is none."""
        with self.uow_factory() as uow:
            action = uow.actions.claim_next(skip, self.commands)
            if action is None:
                return None
            if action.resource_type in ("network", "firewall", "primary_ip", "load_balancer"):
                try:
                    if action.resource_type == "network" and self.networks is not None:
                        network_provisioning.carry_out(self.networks, uow, action)
                    elif action.resource_type == "primary_ip" and self.primary_ips is not None:
                        primary_ip_provisioning.carry_out(self.primary_ips, uow, action)
                    elif action.resource_type == "load_balancer" and self.load_balancers is not None:
                        load_balancer_provisioning.carry_out(self.load_balancers, uow, action)
                    elif action.resource_type == "firewall" and self.firewalls is not None:
                        firewall_provisioning.carry_out(self.firewalls, uow, action)
                    else:  # a command name two kinds share, of a kind this worker has no upstream for
                        raise Unavailable(f"this worker carries out no {action.resource_type} actions")
                except Unavailable as exc:
                    log.warning("action_deferred", action_id=action.id, command=action.command, error=exc.message)
                    return Outcome(action.id, action.command, DEFERRED)
                uow.commit()
                log.info("action_finished", action_id=action.id, status=action.status, error_code=action.error_code)
                return Outcome(action.id, action.command, action.status)
            fip = uow.floating_ips.get_any(action.resource_id, for_update=True)
            if fip is None:  # pragma: no cover - actions are only made for existing floating IPs
                raise RuntimeError(f"action {action.id} names floating IP {action.resource_id}, which does not exist")
            log.info("action_claimed", action_id=action.id, command=action.command, floating_ip_id=fip.id)
            try:
                CARRY_OUT[action.command](self.peers, uow, action, fip)
            except UpstreamFailure as failure:
                self._failed(action, fip, failure)
            except Unavailable as exc:
                log.warning("action_deferred", action_id=action.id, command=action.command, error=exc.message)
                return Outcome(action.id, action.command, DEFERRED)
            now = utcnow()
            uow.actions.save(action)
            uow.floating_ips.save(fip, now)
            uow.commit()
            log.info("action_finished", action_id=action.id, status=action.status, error_code=action.error_code)
            return Outcome(action.id, action.command, action.status)

    def _failed(self, action: Action, fip: FloatingIp, failure: UpstreamFailure) -> None:
        fip.action_failed(action, failure.code, failure.message, utcnow())
        if action.command == fips.CREATE:
            # Nothing of it may stay: whatever upstream made under its label goes, the quota comes back.
            for found in self.upstream.find(fip.id):
                self.upstream.delete(found.id)
            self.quotas.release(reservation_key(fip.id))
        log.warning("action_failed", action_id=action.id, code=failure.code, message=failure.message)

    def sweep(self) -> list[int]:
        """Delete upstream floating IPs (and networks, firewalls) whose platform one is deleted; their upstream ids.
        (A create request a dead worker sent may land upstream after its successor made its own.)"""
        swept = network_provisioning.sweep(self.uow_factory, self.networks.upstream) if self.networks else []
        if self.firewalls:
            swept += firewall_provisioning.sweep(self.uow_factory, self.firewalls.upstream)
        if self.primary_ips:
            swept += primary_ip_provisioning.sweep(self.uow_factory, self.primary_ips.upstream)
        if self.load_balancers:
            swept += load_balancer_provisioning.sweep(self.uow_factory, self.load_balancers.upstream)
        return swept + self._sweep_floating_ips()

    def reconcile(self) -> list[int]:
        """Bring unsynced firewalls and load balancers in line upstream (and read load
        balancers' health); their ids."""
        done = firewall_provisioning.reconcile(self.uow_factory, self.firewalls) if self.firewalls else []
        if self.load_balancers:
            done += load_balancer_provisioning.reconcile(self.uow_factory, self.load_balancers)
        return done

    def _sweep_floating_ips(self) -> list[int]:
        labelled = self.upstream.labelled()
        if not labelled:
            return []
        with self.uow_factory() as uow:
            gone = uow.floating_ips.deleted_ids({f.platform_id for f in labelled if f.platform_id is not None})
            recorded = {
                fid: fip.hetzner_id
                for fid in {f.platform_id for f in labelled if f.platform_id is not None} - gone
                if (fip := uow.floating_ips.get_any(fid)) is not None
            }
        strays = [
            f
            for f in labelled
            if f.platform_id is not None and (f.platform_id in gone or recorded.get(f.platform_id) not in (None, f.id))
        ]
        for stray in strays:
            log.warning("stray_upstream_floating_ip_deleted", floating_ip_id=stray.platform_id, upstream_id=stray.id)
            self.upstream.delete(stray.id)
        return [stray.id for stray in strays]
