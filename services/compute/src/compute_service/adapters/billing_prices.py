"""Billing's ``backup`` pricing plan over gRPC: the share of a server's prices its backups cost.

Billing's pricing plans are the one home of every price the platform sets beside the server
types' own (``ListPricingPlans``); compute asks for the backup plan when a customer enables
backups, as its own service principal, and keeps the answer for :data:`TTL_SECONDS`.
"""

from __future__ import annotations

import threading
import time
from decimal import Decimal, InvalidOperation
from typing import Final

from grpc import aio

from cloudplatform.billing.v1 import billing_service_pb2 as bpb
from cloudplatform.billing.v1 import billing_service_pb2_grpc as bpb_grpc
from compute_service import SERVICE_NAME
from compute_service.service_layer.ports import BackupPricing
from cpshared.errors import PreconditionFailed, Unavailable
from cpshared.grpc.blocking import BlockingChannel

BACKUP_PLAN: Final = "backup"
TTL_SECONDS: Final = 60.0
CALL_TIMEOUT: Final = 5.0


class BillingBackupPricing(BackupPricing):
    def __init__(self, address: str, service_key_file: str, *, ttl: float = TTL_SECONDS) -> None:
        if not address:
            raise Unavailable("compute cannot reach billing: set CP_BILLING_GRPC_ADDR")
        self._client = BlockingChannel(
            address, caller=SERVICE_NAME, service_key_file=service_key_file, timeout=CALL_TIMEOUT
        )
        self._stub = bpb_grpc.BillingServiceStub(self._client.channel)
        self._ttl = ttl
        self._lock = threading.Lock()
        self._percent: Decimal | None = None
        self._fresh_until = 0.0

    def backup_percent(self) -> Decimal:
        with self._lock:
            if self._percent is None or time.monotonic() >= self._fresh_until:
                self._percent = self._fetch()
                self._fresh_until = time.monotonic() + self._ttl
            return self._percent

    def _fetch(self) -> Decimal:
        request = bpb.ListPricingPlansRequest(resource_type=BACKUP_PLAN)
        try:
            answer = self._client.call(lambda: self._stub.ListPricingPlans(request))
        except aio.AioRpcError as exc:
            raise Unavailable(f"billing did not say what backups cost: {exc.code().name} {exc.details()}") from None
        plan = next((p for p in answer.pricing_plans if p.code == BACKUP_PLAN and p.active and p.percentage), None)
        if plan is None:
            raise PreconditionFailed("backups are not offered: billing has no active backup plan with a percentage")
        try:
            return Decimal(plan.percentage)
        except InvalidOperation:  # pragma: no cover - billing checks its plans' figures
            raise Unavailable(f"billing's backup plan states {plan.percentage!r}, not a percentage") from None

    def close(self) -> None:
        self._client.close()
