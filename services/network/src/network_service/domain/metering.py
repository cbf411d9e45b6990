"""Which hours of a floating IP's life are billable (Hetzner's rule, hour arithmetic in
:mod:`cpshared.metering`): every started UTC clock hour from its creation to its deletion, once
upstream made it (``ready``); one whose creation failed is never billed. An hour is priced by
billing's plan of its type (``floating_ip_ipv4`` / ``floating_ip_ipv6``): hourly, capped at the
plan's monthly price per calendar month by billing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Final

from cpshared.metering import hours_due

PLANS: Final = {"ipv4": "floating_ip_ipv4", "ipv6": "floating_ip_ipv6"}
"""Billing's pricing plan of each floating IP type (its code)."""


@dataclass(frozen=True)
class Price:
    code: str
    price_hourly: Decimal
    price_monthly: Decimal
    currency: str


@dataclass(frozen=True)
class MeteredFloatingIp:
    id: int
    user_id: int
    organization_id: int | None
    name: str
    type: str
    home_location: str
    created_at: datetime
    deleted_at: datetime | None
    metered_until: datetime | None

    def hours_due(self, now: datetime, limit: int) -> list[datetime]:
        return hours_due(self.created_at, self.deleted_at, self.metered_until, now, limit)


PRIMARY_IP_PLANS: Final = {"ipv4": "primary_ip_ipv4", "ipv6": "primary_ip_ipv6"}
"""Billing's pricing plan of each primary IP type (its code); Hetzner bills primary IPv6 nothing,
so billing has no active plan for it and its hours are not recorded."""


@dataclass(frozen=True)
class MeteredPrimaryIp:
    id: int
    user_id: int
    organization_id: int | None
    name: str
    type: str
    location: str
    created_at: datetime
    deleted_at: datetime | None
    metered_until: datetime | None

    def hours_due(self, now: datetime, limit: int) -> list[datetime]:
        return hours_due(self.created_at, self.deleted_at, self.metered_until, now, limit)


@dataclass(frozen=True)
class MeteredLoadBalancer:
    """A load balancer's billable hours: every started UTC clock hour from its creation to its
    deletion once upstream made it, priced by billing's plan of its type (lb11, lb21, lb31)."""

    id: int
    user_id: int
    organization_id: int | None
    name: str
    type: str
    location: str
    created_at: datetime
    deleted_at: datetime | None
    metered_until: datetime | None

    def hours_due(self, now: datetime, limit: int) -> list[datetime]:
        return hours_due(self.created_at, self.deleted_at, self.metered_until, now, limit)
