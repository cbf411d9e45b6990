"""Billing's pricing plans over gRPC, as network's service principal: the floating IP, load balancer
and primary IP plans metering prices hours with (cached a minute; the last list is kept while billing
does not answer)."""

from __future__ import annotations

import threading
import time
from decimal import Decimal
from functools import partial
from typing import Any

from grpc import aio

from cloudplatform.billing.v1 import billing_service_pb2 as bpb
from cloudplatform.billing.v1 import billing_service_pb2_grpc as bpb_grpc
from cpshared.errors import Unavailable
from cpshared.grpc.service_client import ServiceChannel
from network_service import SERVICE_NAME
from network_service.domain.metering import PLANS, PRIMARY_IP_PLANS, Price
from network_service.service_layer.ports import LoadBalancerPrices, Prices

CACHE_SECONDS = 60.0


def _list_plans(request: bpb.ListPricingPlansRequest, channel: Any, metadata: Any) -> Any:
    return bpb_grpc.BillingServiceStub(channel).ListPricingPlans(request, metadata=metadata)


class BillingPrices(Prices, LoadBalancerPrices):
    def __init__(self, address: str, service_key_file: str) -> None:
        self._billing = ServiceChannel(address, service_key_file, caller=SERVICE_NAME, callee="billing")
        self._plans: dict[str, Price] | None = None
        self._read_at = 0.0
        self._lock = threading.Lock()

    def _load(self) -> dict[str, Price]:
        with self._lock:
            if self._plans is None or time.monotonic() - self._read_at > CACHE_SECONDS:
                plans: dict[str, Price] = {}
                for resource_type in ("floating_ip", "load_balancer", "primary_ip"):
                    request = bpb.ListPricingPlansRequest(resource_type=resource_type)
                    try:
                        answer = self._billing.call(partial(_list_plans, request))
                    except aio.AioRpcError as exc:
                        if resource_type == "primary_ip":
                            continue  # a billing without primary IP plans: they are not billed
                        if self._plans is None:
                            raise Unavailable(f"billing could not list its pricing plans: {exc.code().name}") from None
                        return self._plans
                    plans.update(
                        {
                            plan.code: Price(
                                plan.code,
                                Decimal(plan.price_hourly),
                                Decimal(plan.price_monthly),
                                plan.currency or "EUR",
                            )
                            for plan in answer.pricing_plans
                            if plan.active
                            and plan.price_hourly
                            and plan.price_monthly
                            # a free IP plan (primary IPv6) records no hours
                            and (resource_type == "load_balancer" or Decimal(plan.price_hourly))
                        }
                    )
                self._plans = plans
                self._read_at = time.monotonic()
            return self._plans

    def floating_ip(self, kind: str) -> Price | None:
        code = PLANS.get(kind)
        return self._load().get(code) if code else None

    def load_balancer(self, code: str) -> Price | None:
        return self._load().get(code)

    def primary_ip(self, kind: str) -> Price | None:
        code = PRIMARY_IP_PLANS.get(kind)
        return self._load().get(code) if code else None

    def close(self) -> None:
        self._billing.close()
