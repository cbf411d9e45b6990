"""Billing's pricing plans over gRPC, called as the storage service itself: the ``volume`` and
``snapshot`` plans' prices per GB and month (billing is their one home)."""

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
SNAPSHOT_PLAN = "snapshot"


class BillingPlans(PricePlans):
    def __init__(self, address: str, service_key_file: str) -> None:
        self._channel = ServiceChannel(address, service_key_file, caller=SERVICE_NAME, callee="billing")

    def volume_per_gb_month(self) -> tuple[Decimal, str]:
        return self._per_gb_month(VOLUME_PLAN, "volumes")

    def snapshot_per_gb_month(self) -> tuple[Decimal, str]:
        return self._per_gb_month(SNAPSHOT_PLAN, "snapshots")

    def _per_gb_month(self, code: str, what: str) -> tuple[Decimal, str]:
        try:
            request = bpb.ListPricingPlansRequest(resource_type=code)
            answer = self._channel.call(
                lambda ch, md: bpb_grpc.BillingServiceStub(ch).ListPricingPlans(request, metadata=md)
            )
        except aio.AioRpcError as exc:
            raise Unavailable(f"billing could not list its pricing plans: {exc.code().name} {exc.details()}") from None
        for plan in answer.pricing_plans:
            if plan.code == code and plan.active:
                try:
                    return Decimal(plan.price_per_gb), plan.currency or "EUR"
                except InvalidOperation:
                    break
        raise Unavailable(f"billing has no active {code} plan with a price per GB: {what} cannot be metered")

    def close(self) -> None:
        self._channel.close()
