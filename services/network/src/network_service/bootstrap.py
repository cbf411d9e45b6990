"""Wires the network service together, for every entrypoint: engine, sessions, a fresh unit of
work per call, the upstream cloud (hcloud), identity's quotas, compute's servers and locations,
billing's prices, and the worker's provisioner and meter built on them."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.engine import Engine

from cpshared.db import make_engine, make_session_factory
from cpshared.errors import Unavailable
from cpshared.upstream import RetryPolicy, read_token
from network_service.adapters.billing import BillingPrices
from network_service.adapters.compute import ComputeClient
from network_service.adapters.quotas import (
    FIREWALL_RESOURCE_TYPE,
    LOAD_BALANCER_RESOURCE_TYPE,
    NETWORK_RESOURCE_TYPE,
    PRIMARY_IP_RESOURCE_TYPE,
    IdentityQuotas,
)
from network_service.adapters.unit_of_work import SqlAlchemyNetworkUnitOfWork
from network_service.adapters.upstream import HcloudFloatingIps
from network_service.adapters.upstream_firewalls import HcloudFirewalls
from network_service.adapters.upstream_load_balancers import HcloudLoadBalancers
from network_service.adapters.upstream_networks import HcloudNetworks
from network_service.adapters.upstream_primary_ips import HcloudPrimaryIps
from network_service.service_layer.metering import Meter
from network_service.service_layer.ports import (
    Compute,
    LoadBalancerTypes,
    Prices,
    Quotas,
    UpstreamFirewalls,
    UpstreamFloatingIps,
    UpstreamLoadBalancers,
    UpstreamNetworks,
    UpstreamPrimaryIps,
)
from network_service.service_layer.provisioning import Provisioner


class Network:
    """What the entrypoints need; a missing peer answers UNAVAILABLE when a use case needs it."""

    def __init__(
        self,
        engine: Engine,
        *,
        quotas: Quotas | None = None,
        compute: Compute | None = None,
        upstream: Callable[[], UpstreamFloatingIps] | None = None,
        prices: Prices | None = None,
        network_quotas: Quotas | None = None,
        networks_upstream: Callable[[], UpstreamNetworks] | None = None,
        firewall_quotas: Quotas | None = None,
        firewalls_upstream: Callable[[], UpstreamFirewalls] | None = None,
        primary_ip_quotas: Quotas | None = None,
        primary_ips_upstream: Callable[[], UpstreamPrimaryIps] | None = None,
        load_balancer_quotas: Quotas | None = None,
        load_balancers_upstream: Callable[[], UpstreamLoadBalancers] | None = None,
    ) -> None:
        self.engine = engine
        self._primary_ip_quotas = primary_ip_quotas
        self._primary_ips_upstream = primary_ips_upstream
        self._load_balancer_quotas = load_balancer_quotas
        self._load_balancers_upstream = load_balancers_upstream
        self._firewalls_upstream = firewalls_upstream
        self._firewall_quotas = firewall_quotas
        self._network_quotas = network_quotas
        self._networks_upstream = networks_upstream
        self._quotas = quotas
        self._compute = compute
        self._upstream = upstream
        self._prices = prices
        self._sessions = make_session_factory(engine)

    def uow(self) -> SqlAlchemyNetworkUnitOfWork:
        return SqlAlchemyNetworkUnitOfWork(self._sessions)

    @property
    def quotas(self) -> Quotas:
        if self._quotas is None:
            raise Unavailable("network cannot reach identity's quotas: set CP_IDENTITY_GRPC_ADDR")
        return self._quotas

    @property
    def network_quotas(self) -> Quotas:
        """Identity's ``network`` quota (private networks)."""
        if self._network_quotas is None:
            raise Unavailable("network cannot reach identity's quotas: set CP_IDENTITY_GRPC_ADDR")
        return self._network_quotas

    @property
    def firewall_quotas(self) -> Quotas:
        """Identity's ``firewall`` quota (firewalls)."""
        if self._firewall_quotas is None:
            raise Unavailable("network cannot reach identity's quotas: set CP_IDENTITY_GRPC_ADDR")
        return self._firewall_quotas

    @property
    def primary_ip_quotas(self) -> Quotas:
        """Identity's ``primary_ip`` quota (primary IPs)."""
        if self._primary_ip_quotas is None:
            raise Unavailable("network cannot reach identity's quotas: set CP_IDENTITY_GRPC_ADDR")
        return self._primary_ip_quotas

    @property
    def load_balancer_quotas(self) -> Quotas:
        """Identity's ``load_balancer`` quota."""
        if self._load_balancer_quotas is None:
            raise Unavailable("network cannot reach identity's quotas: set CP_IDENTITY_GRPC_ADDR")
        return self._load_balancer_quotas

    @property
    def load_balancer_types(self) -> LoadBalancerTypes:
        """Compute's catalog of load balancer types."""
        compute = self.compute
        if not isinstance(compute, ComputeClient):  # pragma: no cover - the bootstrap wires compute's client
            raise Unavailable("network cannot read compute's load balancer types")
        return compute

    @property
    def compute(self) -> Compute:
        if self._compute is None:
            raise Unavailable("network cannot reach compute: set CP_COMPUTE_GRPC_ADDR")
        return self._compute

    def provisioner(self) -> Provisioner:
        if self._upstream is None:
            raise Unavailable("network has no upstream: set CP_HCLOUD_ENDPOINT and CP_HCLOUD_TOKEN_FILE")
        return Provisioner(
            self.uow,
            self._upstream(),
            self.quotas,
            self._compute,
            networks=self._networks_upstream() if self._networks_upstream else None,
            network_quotas=self._network_quotas,
            firewalls=self._firewalls_upstream() if self._firewalls_upstream else None,
            primary_ips=self._primary_ips_upstream() if self._primary_ips_upstream else None,
            primary_ip_quotas=self._primary_ip_quotas,
            load_balancers=self._load_balancers_upstream() if self._load_balancers_upstream else None,
            load_balancer_quotas=self._load_balancer_quotas,
        )

    def meter(self) -> Meter | None:
        """The worker's metering, when billing's prices are reachable (CP_BILLING_GRPC_ADDR)."""
        if self._prices is None:
            return None
        lb_prices = self._prices if isinstance(self._prices, BillingPrices) else None
        return Meter(self.uow, self._prices, load_balancer_prices=lb_prices)

    def close(self) -> None:
        for peer in (
            self._quotas,
            self._network_quotas,
            self._firewall_quotas,
            self._primary_ip_quotas,
            self._load_balancer_quotas,
            self._compute,
            self._prices,
        ):
            if isinstance(peer, IdentityQuotas | ComputeClient | BillingPrices):
                peer.close()
        self.engine.dispose()


def bootstrap(
    database_url: str,
    *,
    pool_size: int = 5,
    hcloud_endpoint: str = "",
    hcloud_token_file: str = "",
    identity_grpc_addr: str = "",
    compute_grpc_addr: str = "",
    billing_grpc_addr: str = "",
    service_key_file: str = "",
    worker_retry: RetryPolicy | None = None,
    engine: Engine | None = None,
) -> Network:
    """``worker_retry``: the worker's retry of upstream calls; ``engine``: one opened already
    (the worker's, checked to be migrated), else one on ``database_url``."""
    return Network(
        engine or make_engine(database_url, pool_size=pool_size),
        quotas=IdentityQuotas(identity_grpc_addr, service_key_file) if identity_grpc_addr else None,
        compute=ComputeClient(compute_grpc_addr, service_key_file) if compute_grpc_addr else None,
        upstream=(
            lambda: HcloudFloatingIps(
                hcloud_endpoint, read_token(hcloud_token_file), retry=worker_retry or RetryPolicy()
            )
        )
        if hcloud_endpoint
        else None,
        prices=BillingPrices(billing_grpc_addr, service_key_file) if billing_grpc_addr else None,
        network_quotas=(
            IdentityQuotas(identity_grpc_addr, service_key_file, NETWORK_RESOURCE_TYPE) if identity_grpc_addr else None
        ),
        firewall_quotas=(
            IdentityQuotas(identity_grpc_addr, service_key_file, FIREWALL_RESOURCE_TYPE) if identity_grpc_addr else None
        ),
        networks_upstream=(
            lambda: HcloudNetworks(hcloud_endpoint, read_token(hcloud_token_file), retry=worker_retry or RetryPolicy())
        )
        if hcloud_endpoint
        else None,
        firewalls_upstream=(
            lambda: HcloudFirewalls(hcloud_endpoint, read_token(hcloud_token_file), retry=worker_retry or RetryPolicy())
        )
        if hcloud_endpoint
        else None,
        primary_ip_quotas=(
            IdentityQuotas(identity_grpc_addr, service_key_file, PRIMARY_IP_RESOURCE_TYPE)
            if identity_grpc_addr
            else None
        ),
        primary_ips_upstream=(
            lambda: HcloudPrimaryIps(
                hcloud_endpoint, read_token(hcloud_token_file), retry=worker_retry or RetryPolicy()
            )
        )
        if hcloud_endpoint
        else None,
        load_balancer_quotas=(
            IdentityQuotas(identity_grpc_addr, service_key_file, LOAD_BALANCER_RESOURCE_TYPE)
            if identity_grpc_addr
            else None
        ),
        load_balancers_upstream=(
            lambda: HcloudLoadBalancers(
                hcloud_endpoint, read_token(hcloud_token_file), retry=worker_retry or RetryPolicy()
            )
        )
        if hcloud_endpoint
        else None,
    )
