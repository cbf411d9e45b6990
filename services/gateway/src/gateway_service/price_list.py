"""The platform's prices as the Hetzner-compatible answers show them, from their one home:
billing's pricing plans (``ListPricingPlans``: the active plans and the VAT included in every
gross price). Server types carry their own gross prices in compute's catalog; everything else —
the VAT, traffic included per month and its price beyond, volumes per GB, floating IPs, load
balancers, the backups' share of the server's price — is read here from billing and nowhere else.

The list is cached for :data:`TTL_SECONDS` per gateway process (a changed plan shows within that
time; prices of recorded usage never depend on it: usage snapshots its price when recorded).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Final

from cloudplatform.billing.v1 import billing_service_pb2 as pb
from cpshared.logging import get_logger

log = get_logger(__name__)

TTL_SECONDS: Final = 60.0
RETRY_SECONDS: Final = 5.0
PRICE_PLACES: Final = Decimal("0.0000000001")  # Hetzner shows prices with ten decimal places
TIB: Final = 1024**4
"""Hetzner's "TB" of included traffic, in bytes (its 20 TB are 21990232555520 bytes)."""
TRAFFIC_PLAN: Final = "traffic"
VOLUME_PLAN: Final = "volume"
BACKUP_PLAN: Final = "backup"
SNAPSHOT_PLAN: Final = "snapshot"
FLOATING_IP_PLANS: Final = {"ipv4": "floating_ip_ipv4", "ipv6": "floating_ip_ipv6"}
PRIMARY_IP_PLANS: Final = {"ipv4": "primary_ip_ipv4", "ipv6": "primary_ip_ipv6"}


def decimal_string(value: Decimal, places: Decimal = PRICE_PLACES) -> str:
    """Hetzner's decimal string: fixed point with ``places`` (``"0.0000000000"``, never ``"0E-10"``)."""
    return format(value.quantize(places, rounding=ROUND_HALF_UP), "f")


def _decimal(text: str) -> Decimal:
    return Decimal(text) if text else Decimal(0)


@dataclass(frozen=True)
class NetGross:
    net: str
    gross: str


@dataclass(frozen=True)
class PriceList:
    """Billing's active plans by code, and the VAT (percent) their gross prices include."""

    vat_rate: Decimal
    plans: dict[str, pb.PricingPlan]
    currency: str = "EUR"

    @classmethod
    def of(cls, answer: pb.ListPricingPlansResponse) -> PriceList:
        plans = {p.code: p for p in answer.pricing_plans if p.active}
        currency = next((p.currency for p in plans.values() if p.currency), "EUR")
        return cls(vat_rate=_decimal(answer.included_tax_rate), plans=plans, currency=currency)

    def money(self, gross: Decimal) -> NetGross:
        """A gross price with its net (without the included VAT), as Hetzner's decimal strings."""
        net = gross * 100 / (100 + self.vat_rate)
        return NetGross(net=decimal_string(net), gross=decimal_string(gross))

    def _plan(self, code: str) -> pb.PricingPlan | None:
        return self.plans.get(code)

    @property
    def included_traffic(self) -> int:
        """Traffic included per month, bytes (the ``traffic`` plan's TB; 0 without the plan)."""
        plan = self._plan(TRAFFIC_PLAN)
        return plan.included_traffic_tb * TIB if plan is not None else 0

    @property
    def price_per_tb_traffic(self) -> NetGross:
        plan = self._plan(TRAFFIC_PLAN)
        return self.money(_decimal(plan.overage_price_per_tb) if plan is not None else Decimal(0))

    @property
    def volume_per_gb_month(self) -> NetGross:
        plan = self._plan(VOLUME_PLAN)
        return self.money(_decimal(plan.price_per_gb) if plan is not None else Decimal(0))

    @property
    def snapshot_per_gb_month(self) -> NetGross:
        """Snapshots (Hetzner's ``image`` price): the ``snapshot`` plan's per GB and month (0 without it)."""
        plan = self._plan(SNAPSHOT_PLAN)
        return self.money(_decimal(plan.price_per_gb) if plan is not None else Decimal(0))

    @property
    def backup_percentage(self) -> Decimal:
        """The share (percent) of a server's prices its backups cost: the ``backup`` plan's (0 without it)."""
        plan = self._plan(BACKUP_PLAN)
        return _decimal(plan.percentage) if plan is not None else Decimal(0)

    def floating_ip(self, ip_type: str) -> tuple[NetGross, NetGross] | None:
        """Hourly and monthly price of a floating IP of ``ip_type`` (ipv4/ipv6); None when not offered."""
        plan = self._plan(FLOATING_IP_PLANS.get(ip_type, ""))
        if plan is None:
            return None
        return self.money(_decimal(plan.price_hourly)), self.money(_decimal(plan.price_monthly))

    def primary_ip(self, ip_type: str) -> tuple[NetGross, NetGross] | None:
        """Hourly and monthly price of a primary IP of ``ip_type`` (ipv4/ipv6); None when not offered."""
        plan = self._plan(PRIMARY_IP_PLANS.get(ip_type, ""))
        if plan is None:
            return None
        return self.money(_decimal(plan.price_hourly)), self.money(_decimal(plan.price_monthly))

    def load_balancer(self, code: str) -> tuple[NetGross, NetGross] | None:
        """Hourly and monthly price of the load balancer type ``code`` (lb11 …); None without a plan."""
        plan = self._plan(code)
        if plan is None or plan.resource_type != "load_balancer":
            return None
        return self.money(_decimal(plan.price_hourly)), self.money(_decimal(plan.price_monthly))


class PriceListCache:
    """One gateway process's copy of the price list, fetched again after :data:`TTL_SECONDS`;
    concurrent requests after expiry wait for one fetch. While billing does not answer, the
    last list it gave is served (asked again after :data:`RETRY_SECONDS`); before billing ever
    answered, the fetch's error is the caller's (``503``: the prices are not known)."""

    def __init__(
        self,
        fetch: Callable[[], Awaitable[pb.ListPricingPlansResponse]],
        ttl: float = TTL_SECONDS,
        retry: float = RETRY_SECONDS,
    ) -> None:
        self._fetch = fetch
        self._ttl = ttl
        self._retry = retry
        self._value: PriceList | None = None
        self._fresh_until = 0.0
        self._lock = asyncio.Lock()

    async def get(self) -> PriceList:
        if self._value is not None and time.monotonic() < self._fresh_until:
            return self._value
        async with self._lock:
            if self._value is not None and time.monotonic() < self._fresh_until:
                return self._value
            try:
                self._value = PriceList.of(await self._fetch())
                self._fresh_until = time.monotonic() + self._ttl
            except Exception:
                if self._value is None:
                    raise
                log.warning("price_list_stale", retry_seconds=self._retry, exc_info=True)
                self._fresh_until = time.monotonic() + self._retry
            return self._value
