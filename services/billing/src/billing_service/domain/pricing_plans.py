"""A pricing plan: what a product costs (admins write, everyone reads). Usage already recorded
keeps the price it was recorded with (usage records snapshot it); a plan change prices what
comes after. Each change is recorded as ``pricing_plan.created``/``.updated``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from billing_service.domain.events import Aggregate
from billing_service.domain.pricing import NO_TRAFFIC_PLAN, TrafficTerms
from cloudplatform.billing.v1 import events_pb2 as billing_events
from cpshared.errors import InvalidInput
from cpshared.events import catalog
from cpshared.events.registry import EventSpec

RESOURCE_TYPES = ("server", "volume", "floating_ip", "load_balancer", "backup", "bandwidth", "snapshot", "primary_ip")
# Column precision (integer digits, decimals) of each price.
PRECISION = {
    "price_hourly": (4, 6),
    "price_monthly": (8, 2),
    "price_per_gb": (4, 6),
    "overage_price_per_tb": (8, 2),
    "percentage": (3, 2),
}
HUNDRED = Decimal(100)
TRAFFIC_PLAN = "traffic"
"""The plan of outgoing traffic (resource type ``bandwidth``): TB included per server and month
and the price per TB beyond."""


@dataclass(frozen=True)
class PlanFields:
    """A plan as a caller sends it (prices as decimal strings, "" for none)."""

    name: str
    code: str
    resource_type: str
    price_hourly: str
    price_monthly: str
    price_per_gb: str
    included_traffic_tb: int
    overage_price_per_tb: str
    currency: str
    active: bool
    percentage: str = ""


@dataclass(frozen=True)
class PlanTerms:
    """A plan's checked terms."""

    name: str
    resource_type: str
    price_hourly: Decimal | None
    price_monthly: Decimal | None
    price_per_gb: Decimal | None
    included_traffic_tb: int
    overage_price_per_tb: Decimal | None
    currency: str
    active: bool
    percentage: Decimal | None = None
    """A percentage of another product's price: the ``backup`` plan's of the server's (compute
    meters a server's backups at this share of its type's prices)."""


def _price(name: str, text: str) -> Decimal | None:
    if not text:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise InvalidInput(f"{name} {text!r} is not a decimal amount") from None
    digits, places = PRECISION[name]
    if (
        not value.is_finite()
        or value < 0
        or value >= Decimal(10) ** digits
        or value != value.quantize(Decimal(1).scaleb(-places))
    ):
        raise InvalidInput(
            f"{name} {text!r} is a non-negative amount below {10**digits} with at most {places} decimals"
        )
    return value.quantize(Decimal(1).scaleb(-places))  # as stored and shown: "0.100000"


def check_resource_type(resource_type: str) -> None:
    if resource_type not in RESOURCE_TYPES:
        raise InvalidInput(f"resource_type {resource_type!r} is not one of {', '.join(RESOURCE_TYPES)}")


def check_terms(fields: PlanFields) -> PlanTerms:
    if not 1 <= len(fields.name) <= 100:
        raise InvalidInput("name is 1 to 100 characters")
    check_resource_type(fields.resource_type)
    currency = (fields.currency or "EUR").upper()
    if len(currency) != 3 or not currency.isalpha():
        raise InvalidInput(f"currency {currency!r} is not an ISO 4217 code")
    if not 0 <= fields.included_traffic_tb <= 100_000:
        raise InvalidInput("included_traffic_tb is 0 to 100000")
    prices = {name: _price(name, getattr(fields, name)) for name in PRECISION}
    if all(v is None for v in prices.values()):
        raise InvalidInput(
            "a plan needs a price: price_hourly, price_monthly, price_per_gb, overage_price_per_tb or percentage"
        )
    percentage = prices["percentage"]
    if percentage is not None and percentage > HUNDRED:
        raise InvalidInput(f"percentage {fields.percentage!r} is at most 100")
    return PlanTerms(
        name=fields.name,
        resource_type=fields.resource_type,
        included_traffic_tb=fields.included_traffic_tb,
        currency=currency,
        active=fields.active,
        **prices,
    )


def check_code(code: str) -> str:
    if not (1 <= len(code) <= 50 and code.replace("-", "").replace("_", "").isalnum()):
        raise InvalidInput("code is 1 to 50 of letters, digits, - and _")
    return code


@dataclass(eq=False)
class PricingPlan(Aggregate):
    id: int
    code: str
    terms: PlanTerms
    version: int = 1
    updated_at: datetime | None = None
    changed: bool = False
    """Changed since it was loaded, not yet stored."""

    @classmethod
    def create(cls, code: str, terms: PlanTerms, now: datetime) -> PricingPlan:
        plan = cls(id=0, code=check_code(code), terms=terms, updated_at=now)
        plan._record(catalog.PRICING_PLAN_CREATED)
        return plan

    def revise(self, code: str, terms: PlanTerms, now: datetime) -> None:
        """New terms; a plan's code never changes (a new product is a new plan)."""
        if code and code != self.code:
            raise InvalidInput("a plan's code does not change; create a new plan instead")
        self.terms, self.version, self.updated_at, self.changed = terms, self.version + 1, now, True
        self._record(catalog.PRICING_PLAN_UPDATED)

    def fields(self) -> dict[str, Any]:
        """The plan as its messages carry it (prices as decimal strings, "" for none)."""
        terms = self.terms

        def text(value: Decimal | None) -> str:
            return "" if value is None else str(value)

        return {
            "code": self.code,
            "name": terms.name,
            "resource_type": terms.resource_type,
            "price_hourly": text(terms.price_hourly),
            "price_monthly": text(terms.price_monthly),
            "price_per_gb": text(terms.price_per_gb),
            "included_traffic_tb": terms.included_traffic_tb,
            "overage_price_per_tb": text(terms.overage_price_per_tb),
            "currency": terms.currency,
            "active": terms.active,
            "percentage": text(terms.percentage),
        }

    def _record(self, spec: EventSpec) -> None:
        fields = self.fields()
        self.record(spec, self.version, lambda: billing_events.PricingPlanChanged(pricing_plan_id=self.id, **fields))


def traffic_terms(plans: list[PricingPlan]) -> TrafficTerms:
    """The active ``traffic`` plan among ``plans`` as the invoice run applies it (none: traffic is free)."""
    for plan in plans:
        if plan.code == TRAFFIC_PLAN and plan.terms.active:
            return TrafficTerms(plan.terms.included_traffic_tb, plan.terms.overage_price_per_tb or Decimal(0))
    return NO_TRAFFIC_PLAN
