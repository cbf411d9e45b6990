"""Load balancer types of the catalog: what upstream lists of one, and what the platform keeps
of it (its own gross EUR prices, one per type as for server types; where upstream offers it).

Synced like server types rather than read through like ISOs: a type carries a price, and
prices are the platform's to decide (a new type starts at upstream's gross price, later syncs
keep the platform's), so they must live in the platform's own database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from compute_service.domain.catalog import hourly, monthly


@dataclass(frozen=True)
class UpstreamLoadBalancerType:
    hetzner_id: int
    code: str
    description: str
    max_connections: int
    max_services: int
    max_targets: int
    max_assigned_certificates: int
    deprecated_at: datetime | None
    gross_hourly: dict[str, Decimal] = field(hash=False)
    gross_monthly: dict[str, Decimal] = field(hash=False)

    @property
    def locations(self) -> tuple[str, ...]:
        return tuple(self.gross_hourly)


@dataclass
class LoadBalancerType:
    id: int
    code: str
    description: str
    max_connections: int
    max_services: int
    max_targets: int
    max_assigned_certificates: int
    price_hourly: Decimal
    price_monthly: Decimal
    available: bool
    deprecated_at: datetime | None
    upstream_datacenters: list[str]
    hetzner_id: int | None = None


def initial_prices(upstream: UpstreamLoadBalancerType, datacenter_codes: list[str]) -> tuple[Decimal, Decimal]:
    """Upstream's gross price at the first of the platform's datacenters that offers the type
    (as for server types: the seed's order, Falkenstein first); at upstream's first otherwise."""
    offered = [code for code in datacenter_codes if code in upstream.gross_hourly]
    location = offered[0] if offered else next(iter(upstream.gross_hourly), None)
    if location is None:
        raise ValueError(f"upstream lists no price for load balancer type {upstream.code}")
    return hourly(upstream.gross_hourly[location]), monthly(upstream.gross_monthly[location])
