"""Reading and upserting the catalog's load balancer types inside one unit of work's session."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from compute_service.adapters import tables as t
from compute_service.domain.load_balancer_types import LoadBalancerType, UpstreamLoadBalancerType, initial_prices


def _load_balancer_type(row: sa.Row[Any]) -> LoadBalancerType:
    return LoadBalancerType(
        id=row.id,
        code=row.code,
        description=row.description,
        max_connections=row.max_connections,
        max_services=row.max_services,
        max_targets=row.max_targets,
        max_assigned_certificates=row.max_assigned_certificates,
        price_hourly=row.price_hourly,
        price_monthly=row.price_monthly,
        available=bool(row.available),
        deprecated_at=row.deprecated_at,
        upstream_datacenters=list(row.upstream_datacenters or []),
        hetzner_id=row.hetzner_id,
    )


class LoadBalancerTypeRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def all(self) -> list[LoadBalancerType]:
        rows = self.session.execute(sa.select(t.load_balancer_types).order_by(t.load_balancer_types.c.id))
        return [_load_balancer_type(row) for row in rows]

    def upsert(self, upstream: UpstreamLoadBalancerType, datacenter_codes: list[str], now: datetime) -> bool:
        """Insert a new type at upstream's price, or refresh upstream's figures of a known one
        (its prices stay the platform's); True when something changed."""
        c = t.load_balancer_types.c
        row = self.session.execute(
            sa.select(t.load_balancer_types).where(c.code == upstream.code).with_for_update()
        ).first()
        deprecated = upstream.deprecated_at.replace(tzinfo=None) if upstream.deprecated_at else None
        figures: dict[str, Any] = {
            "description": upstream.description[:255],
            "max_connections": upstream.max_connections,
            "max_services": upstream.max_services,
            "max_targets": upstream.max_targets,
            "max_assigned_certificates": upstream.max_assigned_certificates,
            "deprecated_at": deprecated,
            "upstream_datacenters": [code for code in datacenter_codes if code in upstream.locations],
            "hetzner_id": upstream.hetzner_id,
        }
        if row is None:
            price_hourly, price_monthly = initial_prices(upstream, datacenter_codes)
            self.session.execute(
                sa.insert(t.load_balancer_types).values(
                    code=upstream.code,
                    price_hourly=price_hourly,
                    price_monthly=price_monthly,
                    available=True,
                    created_at=now,
                    updated_at=now,
                    synced_at=now,
                    **figures,
                )
            )
            return True
        current = {name: getattr(row, name) for name in figures}
        current["upstream_datacenters"] = list(current["upstream_datacenters"] or [])
        if current == figures:
            return False
        self.session.execute(
            sa.update(t.load_balancer_types).where(c.id == row.id).values(**figures, updated_at=now, synced_at=now)
        )
        return True
