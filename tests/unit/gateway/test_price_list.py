"""The price list the gateway shows, from billing's plans and included VAT."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from cloudplatform.billing.v1 import billing_service_pb2 as pb
from gateway_service.price_list import TIB, NetGross, PriceList, PriceListCache, decimal_string


def _answer(rate: str = "19") -> pb.ListPricingPlansResponse:
    return pb.ListPricingPlansResponse(
        included_tax_rate=rate,
        pricing_plans=[
            pb.PricingPlan(code="volume", resource_type="volume", price_per_gb="0.044000", currency="EUR", active=True),
            pb.PricingPlan(
                code="floating_ip_ipv4",
                resource_type="floating_ip",
                price_hourly="0.005000",
                price_monthly="3.57",
                currency="EUR",
                active=True,
            ),
            pb.PricingPlan(
                code="lb11", resource_type="load_balancer", price_hourly="0.008600", price_monthly="5.39", active=True
            ),
            pb.PricingPlan(
                code="traffic",
                resource_type="bandwidth",
                included_traffic_tb=20,
                overage_price_per_tb="1.00",
                active=True,
            ),
            pb.PricingPlan(code="lb21", resource_type="load_balancer", price_hourly="1", active=False),
        ],
    )


def test_prices_are_billings_with_the_net_derived_from_its_included_vat() -> None:
    prices = PriceList.of(_answer())
    assert prices.vat_rate == Decimal(19) and prices.currency == "EUR"
    assert prices.volume_per_gb_month == NetGross(net="0.0369747899", gross="0.0440000000")
    assert prices.included_traffic == 20 * TIB == 21990232555520
    assert prices.price_per_tb_traffic == NetGross(net="0.8403361345", gross="1.0000000000")
    assert prices.floating_ip("ipv4") == (
        NetGross(net="0.0042016807", gross="0.0050000000"),
        NetGross(net="3.0000000000", gross="3.5700000000"),
    )
    assert prices.floating_ip("ipv6") is None  # no active plan: not offered
    assert prices.load_balancer("lb11") is not None
    assert prices.load_balancer("lb21") is None  # inactive
    assert prices.load_balancer("volume") is None  # not a load balancer plan


def test_without_plans_nothing_is_invented() -> None:
    prices = PriceList.of(pb.ListPricingPlansResponse(included_tax_rate="0"))
    assert prices.included_traffic == 0
    assert prices.volume_per_gb_month == NetGross(net="0.0000000000", gross="0.0000000000")
    assert decimal_string(Decimal("0E-10")) == "0.0000000000"


def test_the_cache_fetches_once_per_ttl() -> None:
    calls: list[int] = []

    async def fetch() -> pb.ListPricingPlansResponse:
        calls.append(1)
        await asyncio.sleep(0)
        return _answer(rate=str(18 + len(calls)))

    async def scenario() -> tuple[Decimal, Decimal, Decimal]:
        cache = PriceListCache(fetch, ttl=3600)
        first, second = await asyncio.gather(cache.get(), cache.get())
        expired = PriceListCache(fetch, ttl=0)
        await expired.get()
        third = await expired.get()
        return first.vat_rate, second.vat_rate, third.vat_rate

    assert asyncio.run(scenario()) == (Decimal(19), Decimal(19), Decimal(21))
    assert len(calls) == 3
