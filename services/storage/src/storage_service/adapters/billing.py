"""Billing's pricing plans over gRPC, called as the storage service itself: the ``volume`` plan's
price per GB and month (billing is its one home)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from grpc import aio

from cloudplatform.billing.v1 import billing_service_pb2 as bpb
from cloudplatform.billing.v1 import billing_service_pb2_grpc as bpb_grpc
from cpshared.errors import Unavailable
from cpshared.grpc.service_client import ServiceChannel
from storage_service import SERVICE_NAME
from storage_service.service_layer.ports import PricePlans

VOLUME_PLAN = "volume"


class BillingPlans(PricePlans):
    def __init__(self, address: str, service_key_file: str) -> None:
        self._channel = ServiceChannel(address, service_key_file, caller=SERVICE_NAME, callee="billing")

    def volume_per_gb_month(self) -> tuple[Decimal, str]:
        try:
            request = bpb.ListPricingPlansRequest(resource_type=VOLUME_PLAN)
            answer = self._channel.call(
                lambda ch, md: bpb_grpc.BillingServiceStub(ch).ListPricingPlans(request, metadata=md)
            )
        except aio.AioRpcError as exc:
            raise Unavailable(f"billing could not list its pricing plans: {exc.code().name} {exc.details()}") from None
        for plan in answer.pricing_plans:
            if plan.code == VOLUME_PLAN and plan.active:
                try:
                    return Decimal(plan.price_per_gb), plan.currency or "EUR"
                except InvalidOperation:
                    break
        raise Unavailable("billing has no active volume plan with a price per GB: volumes cannot be metered")

    def close(self) -> None:
        self._channel.close()
