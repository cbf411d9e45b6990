"""Billing's retention of billed usage, run by the shared keeper (``cpshared.retention``) in a
thread of the billing gRPC server at start and every CP_RETENTION_INTERVAL_SECONDS, and by
``python -m billing_service.entrypoints.cli retention`` (``cloudctl retention run``): usage
records billed on invoices of periods that ended more than CP_USAGE_RETENTION_DAYS (90) ago are
deleted (``service_layer/retention.py``), counted in ``retention_rows_removed_total{service="billing",
table="usage_records"}``."""

from __future__ import annotations

from billing_service import SERVICE_NAME
from billing_service.bootstrap import Billing
from billing_service.config import RetentionSettings
from billing_service.service_layer.retention import prune_billed_usage
from cpshared.clock import utcnow
from cpshared.retention import Retention

TABLE = "usage_records"


def usage_retention(billing: Billing, settings: RetentionSettings) -> Retention:
    return Retention(
        SERVICE_NAME, TABLE, lambda: prune_billed_usage(utcnow(), settings.usage_retention_days, billing.uow)
    )
