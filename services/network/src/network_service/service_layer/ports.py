"""The interfaces of network's outside world, which its use cases depend on and the bootstrap
fills with adapters: the upstream cloud (hcloud), compute's servers and locations, identity's
quotas, and the repositories of a unit of work."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from hetzner_conventions.label_sql import LabelRequirement
from network_service.domain.actions import Action
from network_service.domain.certificates import Certificate
from network_service.domain.firewalls import Firewall, Rule
from network_service.domain.floating_ips import FloatingIp, LocationRef, ServerRef
from network_service.domain.load_balancers import LoadBalancer, LoadBalancerType, Spec
from network_service.domain.metering import MeteredFloatingIp, MeteredLoadBalancer, MeteredPrimaryIp, Price
from network_service.domain.networks import Network, Route, Subnet
from network_service.domain.primary_ips import PrimaryIp

# -- upstream -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UpstreamFloatingIp:
    id: int
    ip: str
    """The address (IPv4) or network (IPv6, CIDR)."""
    server_id: int | None
    """Upstream's id of the server it is assigned to."""
    platform_id: int | None


class UpstreamFloatingIps(Protocol):
    """Floating IPs upstream, each labelled with the platform's id; every call is safe to repeat."""

    def find(self, platform_id: int) -> list[UpstreamFloatingIp]:
        """Upstream floating IPs labelled with ``platform_id``, oldest first."""

    def labelled(self) -> list[UpstreamFloatingIp]:
        """Every upstream floating IP that carries a platform id."""

    def create(
        self, platform_id: int, kind: str, home_location: str, upstream_server_id: int | None, description: str
    ) -> tuple[UpstreamFloatingIp, int]:
        """Create it unless one with its label exists (then adopt it): (it, action to wait for or 0)."""

    def server_of(self, platform_server_id: int) -> int | None:
        """Upstream's id of the platform's server (found by compute's label); None: none."""

    def assign(self, upstream_id: int, upstream_server_id: int) -> int:
        """Assign it (a no-op answering 0 when it is already); the action to wait for."""

    def unassign(self, upstream_id: int) -> int:
        """Unassign it (a no-op answering 0 when it is not); the action to wait for."""

    def change_dns_ptr(self, upstream_id: int, ip: str, dns_ptr: str | None) -> int: ...

    def delete(self, upstream_id: int) -> None:
        """Delete it; one gone already is no error."""

    def wait(self, action_id: int) -> None:
        """Until the upstream action finished; UpstreamFailure when it ended in error."""


@dataclass(frozen=True)
class UpstreamPrimaryIp:
    id: int
    ip: str
    """The address (IPv4) or network (IPv6, CIDR)."""
    assignee_id: int | None
    """Upstream's id of the server it is assigned to."""
    platform_id: int | None


class UpstreamPrimaryIps(Protocol):
    """Primary IPs upstream, each labelled with the platform's id (and kept with upstream's
    ``auto_delete`` off: the platform's row decides what a deleted server takes along); every
    call is safe to repeat."""

    def find(self, platform_id: int) -> list[UpstreamPrimaryIp]:
        """Upstream primary IPs labelled with ``platform_id``, oldest first."""

    def labelled(self) -> list[UpstreamPrimaryIp]:
        """Every upstream primary IP that carries a platform id."""

    def create(
        self, platform_id: int, kind: str, location: str, upstream_server_id: int | None
    ) -> tuple[UpstreamPrimaryIp, int]:
        """Create it unless one with its label exists (then adopt it): (it, action to wait for or 0)."""

    def adopt(self, platform_id: int, kind: str, upstream_server_id: int) -> UpstreamPrimaryIp | None:
        """Label the upstream server's own primary IP of ``kind`` with ``platform_id`` (one
        labelled already is answered as it is); None: the server has none of that kind."""

    def server_of(self, platform_server_id: int) -> int | None:
        """Upstream's id of the platform's server (found by compute's label); None: none."""

    def assign(self, upstream_id: int, upstream_server_id: int) -> int:
        """Assign it (a no-op answering 0 when it is already); the action to wait for."""

    def unassign(self, upstream_id: int) -> int:
        """Unassign it (a no-op answering 0 when it is not); the action to wait for."""

    def change_dns_ptr(self, upstream_id: int, ip: str, dns_ptr: str | None) -> int: ...

    def delete(self, upstream_id: int) -> None:
        """Delete it; one gone already is no error."""

    def wait(self, action_id: int) -> None:
        """Until the upstream action finished; UpstreamFailure when it ended in error."""


@dataclass(frozen=True)
class UpstreamNetwork:
    id: int
    ip_range: str
    subnets: list[str]
    routes: list[tuple[str, str]]
    server_ids: list[int]
    """Upstream's ids of the servers attached."""
    platform_id: int | None


class UpstreamNetworks(Protocol):
    """Private networks upstream, each labelled with the platform's id; every call is safe to
    repeat (a change upstream has already is a no-op answering action 0)."""

    def find(self, platform_id: int) -> list[UpstreamNetwork]:
        """Upstream networks labelled with ``platform_id``, oldest first."""

    def labelled(self) -> list[UpstreamNetwork]:
        """Every upstream network that carries a platform id."""

    def create(
        self,
        platform_id: int,
        ip_range: str,
        subnets: list[Subnet],
        routes: list[Route],
        expose_routes_to_vswitch: bool,
    ) -> UpstreamNetwork:
        """Create it unless one with its label exists (then adopt it)."""

    def add_subnet(self, upstream_id: int, subnet: Subnet) -> int: ...

    def delete_subnet(self, upstream_id: int, ip_range: str) -> int: ...

    def add_route(self, upstream_id: int, route: Route) -> int: ...

    def delete_route(self, upstream_id: int, route: Route) -> int: ...

    def change_ip_range(self, upstream_id: int, ip_range: str) -> int: ...

    def attach(self, upstream_id: int, upstream_server_id: int, ip: str, alias_ips: list[str]) -> int: ...

    def mac_address(self, upstream_id: int, upstream_server_id: int) -> str:
        """The server's MAC address in the network upstream; empty: not attached."""

    def detach(self, upstream_id: int, upstream_server_id: int) -> int: ...

    def change_alias_ips(self, upstream_id: int, upstream_server_id: int, alias_ips: list[str]) -> int: ...

    def server_of(self, platform_server_id: int) -> int | None:
        """Upstream's id of the platform's server (found by compute's label); None: none."""

    def delete(self, upstream_id: int) -> None:
        """Delete it; one gone already is no error."""

    def wait(self, action_id: int) -> None:
        """Until the upstream action finished; UpstreamFailure when it ended in error."""


# -- other services ------------------------------------------------------------------------------


class Quotas(Protocol):
    def reserve(self, reservation_key: str, user_id: int, organization_id: int | None) -> None:
        """One unit of the tenant's floating_ip quota, idempotent by key; LimitExceeded when used up."""

    def release(self, reservation_key: str) -> None:
        """Give the unit back; releasing again (or a key never reserved) is no error."""


def reservation_key(floating_ip_id: int) -> str:
    """The floating IP's quota reservation: its platform id, so every retry names the same one."""
    return f"floating_ip-{floating_ip_id}"


def primary_ip_reservation_key(primary_ip_id: int) -> str:
    """The primary IP's quota reservation (identity's ``primary_ip`` quota)."""
    return f"primary_ip-{primary_ip_id}"


class Compute(Protocol):
    """Compute's servers and locations, as network sees them."""

    def server(self, server_id: int) -> ServerRef | None:
        """The server (``live`` False once deleted); None: compute never had it."""

    def location(self, code: str) -> LocationRef | None:
        """The location of compute's catalog with this code; None: unknown."""

    def location_by_id(self, location_id: int) -> LocationRef | None: ...

    def locations(self) -> list[LocationRef]:
        """Every location of compute's catalog."""


class Prices(Protocol):
    """Billing's pricing plans, as metering reads them."""

    def floating_ip(self, kind: str) -> Price | None:
        """The active plan of floating IPs of ``kind`` (ipv4/ipv6); None: not offered."""

    def primary_ip(self, kind: str) -> Price | None:
        """The active plan of primary IPs of ``kind`` (ipv4/ipv6); None: not offered (not billed)."""


# -- the repositories of a unit of work ------------------------------------------------------


class MeteringRepository(Protocol):
    def claim_due(self, now: datetime, limit: int) -> list[MeteredFloatingIp]:
        """Up to ``limit`` floating IPs with an hour to record by ``now``, locked (SKIP LOCKED)."""

    def advance(self, floating_ip_id: int, metered_until: datetime) -> None: ...


class PrimaryIpMeteringRepository(Protocol):
    def claim_due(self, now: datetime, limit: int) -> list[MeteredPrimaryIp]:
        """Up to ``limit`` primary IPs with an hour to record by ``now``, locked (SKIP LOCKED)."""

    def advance(self, primary_ip_id: int, metered_until: datetime) -> None: ...


class PrimaryIpRepository(Protocol):
    seen: list[PrimaryIp]

    def add(self, pip: PrimaryIp, now: datetime) -> PrimaryIp: ...

    def get(self, primary_ip_id: int, *, for_update: bool = False) -> PrimaryIp | None:
        """A live (not deleted) primary IP."""

    def get_any(self, primary_ip_id: int, *, for_update: bool = False) -> PrimaryIp | None:
        """Deleted ones too (the worker's)."""

    def named(self, user_id: int, organization_id: int | None, name: str) -> PrimaryIp | None: ...

    def save(self, pip: PrimaryIp, now: datetime) -> None: ...

    def assigned_to(self, server_ids: Collection[int], *, for_update: bool = False) -> list[PrimaryIp]:
        """The live primary IPs assigned to those servers."""

    def adopted_for(self, server_id: int) -> list[PrimaryIp]:
        """Every primary IP (deleted ones too) adopted from that server."""

    def owned_by(self, user_id: int, *, for_update: bool = False) -> list[PrimaryIp]: ...

    def deleted_ids(self, ids: Iterable[int]) -> set[int]:
        """Of ``ids``, those deleted or never known."""

    def search(
        self,
        *,
        user_id: int | None,
        organization_id: int | None,
        name: str,
        ip: str,
        requirements: Sequence[LabelRequirement],
        order: Sequence[tuple[str, bool]],
        offset: int,
        limit: int,
    ) -> tuple[list[PrimaryIp], int]: ...


class FloatingIpRepository(Protocol):
    seen: list[FloatingIp]

    def add(self, fip: FloatingIp, now: datetime) -> FloatingIp: ...

    def get(self, floating_ip_id: int, *, for_update: bool = False) -> FloatingIp | None:
        """A live (not deleted) floating IP."""

    def named(self, user_id: int, organization_id: int | None, name: str) -> FloatingIp | None:
        """The tenant's live floating IP of that name."""

    def get_any(self, floating_ip_id: int, *, for_update: bool = False) -> FloatingIp | None:
        """Deleted ones too (the worker's)."""

    def save(self, fip: FloatingIp, now: datetime) -> None: ...

    def assigned_to(self, server_ids: Collection[int], *, for_update: bool = False) -> list[FloatingIp]:
        """The live floating IPs assigned to those servers."""

    def owned_by(self, user_id: int, *, for_update: bool = False) -> list[FloatingIp]:
        """The live floating IPs ``user_id`` owns itself (no organization's)."""

    def deleted_ids(self, ids: Iterable[int]) -> set[int]:
        """Of ``ids``, those deleted or never known."""

    def search(
        self,
        *,
        user_id: int | None,
        organization_id: int | None,
        name: str,
        requirements: Sequence[LabelRequirement],
        order: Sequence[tuple[str, bool]],
        offset: int,
        limit: int,
    ) -> tuple[list[FloatingIp], int]: ...


class NetworkRepository(Protocol):
    seen: list[Network]

    def add(self, network: Network, now: datetime) -> Network: ...

    def get(self, network_id: int, *, for_update: bool = False) -> Network | None:
        """A live (not deleted) network, with its attached servers."""

    def get_any(self, network_id: int, *, for_update: bool = False) -> Network | None:
        """Deleted ones too (the worker's)."""

    def named(self, user_id: int, organization_id: int | None, name: str) -> Network | None: ...

    def save(self, network: Network, now: datetime) -> None:
        """Write it, its subnets, routes and attached servers."""

    def attached_to(self, server_ids: Collection[int], *, for_update: bool = False) -> list[Network]:
        """The live networks any of those servers is attached to."""

    def owned_by(self, user_id: int, *, for_update: bool = False) -> list[Network]: ...

    def search(
        self,
        *,
        user_id: int | None,
        organization_id: int | None,
        name: str,
        requirements: Sequence[LabelRequirement],
        order: Sequence[tuple[str, bool]],
        offset: int,
        limit: int,
    ) -> tuple[list[Network], int]: ...


class FirewallRepository(Protocol):
    seen: list[Firewall]

    def add(self, firewall: Firewall, now: datetime) -> Firewall: ...

    def get(self, firewall_id: int, *, for_update: bool = False) -> Firewall | None:
        """A live (not deleted) firewall, with its rules and the servers it is applied to."""

    def get_any(self, firewall_id: int, *, for_update: bool = False) -> Firewall | None:
        """Deleted ones too (the worker's)."""

    def named(self, user_id: int, organization_id: int | None, name: str) -> Firewall | None: ...

    def save(self, firewall: Firewall, now: datetime) -> None:
        """Write it, its rules and the servers it is applied to one by one."""

    def applied_to(self, server_ids: Collection[int], *, for_update: bool = False) -> list[Firewall]:
        """The live firewalls applied one by one to any of those servers."""

    def with_selectors(self, user_id: int, organization_id: int | None, *, for_update: bool = False) -> list[Firewall]:
        """The tenant's live firewalls applied to at least one label selector."""

    def owned_by(self, user_id: int, *, for_update: bool = False) -> list[Firewall]: ...

    def unsynced(self, limit: int, *, for_update: bool = False) -> list[Firewall]:
        """Live firewalls upstream may not mirror yet (oldest first), no action running on them."""

    def deleted_ids(self, ids: Collection[int]) -> set[int]:
        """Those of ``ids`` that name no live firewall."""

    def server_labels(self, user_id: int, organization_id: int | None) -> dict[int, dict[str, str]]:
        """The tenant's servers network knows (from compute.events) with their labels."""

    def known_servers(self, server_ids: Collection[int]) -> dict[int, tuple[int, int | None, dict[str, str]]]:
        """Those of the servers network knows: (user id, organization id, labels) by server."""

    def server_seen(
        self, server_id: int, user_id: int, organization_id: int | None, labels: dict[str, str], now: datetime
    ) -> None:
        """Record the server's tenant and labels; the tenant's firewalls with selectors become unsynced."""

    def server_forgotten(self, server_id: int) -> None: ...

    def search(
        self,
        *,
        user_id: int | None,
        organization_id: int | None,
        name: str,
        requirements: Sequence[LabelRequirement],
        order: Sequence[tuple[str, bool]],
        offset: int,
        limit: int,
    ) -> tuple[list[Firewall], int]: ...


@dataclass(frozen=True)
class UpstreamFirewall:
    id: int
    rules: list[Rule]
    server_ids: list[int]
    """Upstream's ids of the servers it is applied to."""
    platform_id: int | None


class UpstreamFirewalls(Protocol):
    """Firewalls upstream, each labelled with the platform's id and applied to servers one by one
    (a platform selector is resolved here into the servers it matches); every call is safe to
    repeat (a change upstream has already is a no-op answering no actions)."""

    def find(self, platform_id: int) -> list[UpstreamFirewall]:
        """Upstream firewalls labelled with ``platform_id``, oldest first."""

    def labelled(self) -> list[UpstreamFirewall]:
        """Every upstream firewall that carries a platform id."""

    def create(self, platform_id: int, rules: list[Rule]) -> UpstreamFirewall:
        """Create it unless one with its label exists (then adopt it)."""

    def set_rules(self, upstream_id: int, rules: list[Rule]) -> list[int]:
        """Replace its rules unless upstream has them; upstream's action ids."""

    def apply(self, upstream_id: int, upstream_server_ids: list[int]) -> list[int]: ...

    def remove(self, upstream_id: int, upstream_server_ids: list[int]) -> list[int]: ...

    def server_of(self, platform_server_id: int) -> int | None:
        """Upstream's id of the platform's server (found by compute's label); None: none."""

    def delete(self, upstream_id: int) -> None:
        """Remove it from every server, then delete it (one gone already is no error)."""

    def wait(self, action_id: int) -> None: ...


@dataclass(frozen=True)
class UpstreamLoadBalancer:
    id: int
    platform_id: int | None
    ipv4: str | None
    ipv6: str | None
    health: dict[tuple[str, int], str]
    """Upstream's health by (``server:<upstream id>`` or ``ip:<address>``, listen port)."""


class UpstreamLoadBalancers(Protocol):
    """Load balancers upstream, each labelled with the platform's id; a platform label selector
    is resolved here into the servers it matches (upstream's labels are compute's). Every call is
    safe to repeat: a change upstream has already is no call."""

    def find(self, platform_id: int) -> list[UpstreamLoadBalancer]:
        """Upstream load balancers labelled with ``platform_id``, oldest first."""

    def labelled(self) -> list[UpstreamLoadBalancer]: ...

    def create(self, platform_id: int, spec: Spec, location: str) -> UpstreamLoadBalancer:
        """Create it (type, location, algorithm, public interface) unless one with its label exists."""

    def sync(
        self, upstream_id: int, spec: Spec, servers: list[tuple[int, bool]], networks: dict[int, int]
    ) -> UpstreamLoadBalancer:
        """Make it hold ``spec``: its type, algorithm, services, public interface, reverse DNS,
        the networks (platform id → upstream id) and exactly ``servers`` (upstream id, use
        private IP) and the spec's IP targets as targets; the result."""

    def server_of(self, platform_server_id: int) -> int | None: ...

    def network_of(self, platform_network_id: int) -> int | None:
        """Upstream's id of the platform's private network (found by its label); None: none."""

    def delete(self, upstream_id: int) -> None:
        """Delete it; one gone already is no error."""


class LoadBalancerTypes(Protocol):
    def load_balancer_type(self, code: str) -> LoadBalancerType | None:
        """The available type of compute's catalog with this code (or id, as digits); None: unknown."""


class LoadBalancerPrices(Protocol):
    def load_balancer(self, code: str) -> Price | None:
        """Billing's active plan of the load balancer type ``code``; None: not offered."""


class LoadBalancerRepository(Protocol):
    seen: list[LoadBalancer]

    def add(self, lb: LoadBalancer, now: datetime) -> LoadBalancer: ...

    def get(self, lb_id: int, *, for_update: bool = False) -> LoadBalancer | None: ...

    def get_any(self, lb_id: int, *, for_update: bool = False) -> LoadBalancer | None: ...

    def named(self, user_id: int, organization_id: int | None, name: str) -> LoadBalancer | None: ...

    def save(self, lb: LoadBalancer, now: datetime) -> None: ...

    def targeting(self, server_ids: Collection[int], *, for_update: bool = False) -> list[LoadBalancer]:
        """Live load balancers with any of those servers as a server target."""

    def with_selectors(self, user_id: int, organization_id: int | None) -> list[LoadBalancer]: ...

    def unsync_tenant(self, user_id: int, organization_id: int | None) -> None:
        """The tenant's load balancers with label selector targets become unsynced."""

    def unsynced(self, limit: int, *, for_update: bool = False) -> list[LoadBalancer]: ...

    def using_certificate(self, certificate_id: int) -> list[int]: ...

    def owned_by(self, user_id: int, *, for_update: bool = False) -> list[LoadBalancer]: ...

    def deleted_ids(self, ids: Collection[int]) -> set[int]: ...

    def health(self, lb_ids: Collection[int]) -> dict[int, dict[tuple[str, int], str]]:
        """Health last reported by (``server:<platform id>`` / ``ip:<address>``, listen port)."""

    def set_health(self, lb_id: int, health: dict[tuple[str, int], str], now: datetime) -> None: ...

    def stale_health(self, older_than: datetime, limit: int) -> list[int]:
        """Running load balancers whose health was last read before ``older_than``."""

    def claim_due(self, now: datetime, limit: int) -> list[MeteredLoadBalancer]: ...

    def advance(self, lb_id: int, metered_until: datetime) -> None: ...

    def search(
        self,
        *,
        user_id: int | None,
        organization_id: int | None,
        name: str,
        requirements: Sequence[LabelRequirement],
        order: Sequence[tuple[str, bool]],
        offset: int,
        limit: int,
    ) -> tuple[list[LoadBalancer], int]: ...


class CertificateRepository(Protocol):
    seen: list[Certificate]

    def add(self, certificate: Certificate, now: datetime) -> Certificate: ...

    def get(self, certificate_id: int) -> Certificate | None: ...

    def named(self, user_id: int, organization_id: int | None, name: str) -> Certificate | None: ...

    def save(self, certificate: Certificate, now: datetime) -> None: ...

    def owned_by(self, user_id: int) -> list[Certificate]: ...

    def search(
        self,
        *,
        user_id: int | None,
        organization_id: int | None,
        name: str,
        requirements: Sequence[LabelRequirement],
        order: Sequence[tuple[str, bool]],
        offset: int,
        limit: int,
    ) -> tuple[list[Certificate], int]: ...


class ActionRepository(Protocol):
    def add(self, action: Action) -> Action: ...

    def get(self, action_id: int) -> Action | None: ...

    def save(self, action: Action) -> None: ...

    def claim_next(self, skip: Collection[int], commands: Collection[str]) -> Action | None:
        """The oldest running action of ``commands`` (not in ``skip``), locked (SKIP LOCKED)."""

    def search(
        self,
        *,
        user_id: int | None,
        organization_id: int | None,
        resource_type: str,
        resource_id: int,
        ids: Sequence[int],
        statuses: Sequence[str],
        order: Sequence[tuple[str, bool]],
        offset: int,
        limit: int,
    ) -> tuple[list[Action], int]: ...
