"""Billing's projection: usage and accounts, built from the streams only.

Run by the generic consumer (``python -m cpshared.events.consumer_main
billing_service.entrypoints.projection:BillingProjection``, consumer group ``billing``) and by replays.
Effectively once like every projection (cpshared.events.projection): a batch's rows and its
inbox rows commit together, so a redelivered ``usage.recorded`` counts once (its id is also a
unique key of ``usage_records``).

* ``usage.recorded`` -> one ``usage_records`` row with the event's prices snapshotted
  (``unit_price`` = hourly price, ``price_monthly`` = its cap, ``total_cost`` = quantity x
  hourly price): a later price change never rewrites what was used before it. An event whose
  record the retention removed (``usage_records_removed``) is skipped.
* identity's user and organization events -> ``billing_accounts``: who is billed, the owner
  of an organization, status, and country and VAT id (from ``user.profile_updated`` and
  ``organization.updated``; an organization's name as the company name on its invoices).
* identity's ``setting.changed`` of the settings billing follows (``FOLLOWED_SETTINGS``:
  ``billing_cycle_day``) -> ``billing_settings``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

import sqlalchemy as sa
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy.dialects import mysql

from billing_service.adapters.tables import (
    METRIC_TYPES,
    billing_accounts,
    billing_settings,
    usage_records,
    usage_records_removed,
)
from cloudplatform.identity.v1 import events_pb2 as identity_events
from cloudplatform.usage.v1 import events_pb2 as usage_events
from cpshared.events.envelope import ReceivedEvent
from cpshared.events.projection import ApplyContext, Projection, handles
from cpshared.topics import IDENTITY_EVENTS, USAGE_EVENTS, Topic

MICRO = Decimal("0.000001")
FOLLOWED_SETTINGS = frozenset({"billing_cycle_day"})


def decimal_field(text: str, what: str, *, optional: bool = False) -> Decimal | None:
    if not text and optional:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{what} {text!r} is not a decimal number") from None
    if not value.is_finite() or value < 0:
        raise ValueError(f"{what} {text!r} is not a non-negative amount")
    return value


def naive_utc(stamp: Timestamp) -> datetime:
    return stamp.ToDatetime()


def occurred(event: ReceivedEvent) -> datetime:
    return naive_utc(event.envelope.occurred_at)


def usage_row(event: ReceivedEvent) -> dict[str, Any]:
    usage = event.payload
    assert isinstance(usage, usage_events.UsageRecorded)
    if usage.metric_type not in METRIC_TYPES:
        raise ValueError(f"unknown metric type {usage.metric_type!r}")
    if usage.user_id <= 0:
        raise ValueError("usage without an owning user")
    quantity = decimal_field(usage.quantity, "quantity")
    hourly = decimal_field(usage.price_hourly, "price_hourly")
    monthly = decimal_field(usage.price_monthly, "price_monthly", optional=True)
    assert quantity is not None and hourly is not None
    start, end = naive_utc(usage.period_start), naive_utc(usage.period_end)
    if end <= start:
        raise ValueError(f"usage period {start} .. {end} is empty")
    return {
        "user_id": usage.user_id,
        "organization_id": usage.organization_id or None,
        "resource_type": usage.resource_type,
        "resource_id": usage.resource_id,
        "metric_type": usage.metric_type,
        "quantity": quantity,
        "unit_price": hourly,
        "total_cost": (quantity * hourly).quantize(MICRO),
        "recorded_at": start,
        "billed": False,
        "invoice_id": None,
        "metadata": {
            "event_id": event.event_id,
            "product": usage.product,
            "location": usage.location,
            "resource_name": usage.resource_name,
            "period_start": start.isoformat() + "Z",
            "period_end": end.isoformat() + "Z",
            "price_hourly": usage.price_hourly,
            "price_monthly": usage.price_monthly,
            "currency": usage.currency,
        },
        "created_at": occurred(event),
        "event_id": uuid.UUID(event.event_id).bytes,
        "period_end": end,
        "product": usage.product,
        "price_monthly": monthly,
        "currency": usage.currency or "EUR",
    }


class BillingProjection(Projection):
    name = "billing"
    topics: ClassVar[tuple[Topic, ...]] = (USAGE_EVENTS, IDENTITY_EVENTS)
    tables = (usage_records, billing_accounts, billing_settings)
    # Numbered by the database; billed and invoice_id are the invoice run's, not the streams'.
    volatile_columns: ClassVar[dict[str, tuple[str, ...]]] = {
        "usage_records": ("id", "billed", "invoice_id"),
        "billing_accounts": ("updated_at",),
    }

    @handles("usage.recorded")
    def usage_recorded(self, ctx: ApplyContext, event: ReceivedEvent) -> None:
        row = usage_row(event)
        # A record the retention removed (billed long ago) is not ingested again (a replay, reconciliation).
        removed = ctx.execute(
            sa.select(usage_records_removed.c.event_id).where(usage_records_removed.c.event_id == row["event_id"])
        ).first()
        if removed is None:
            ctx.insert("usage_records", row)

    def _account(self, ctx: ApplyContext, event: ReceivedEvent, kind: str, account_id: int, **values: Any) -> None:
        table = ctx.table("billing_accounts")
        when = occurred(event)
        row = {"account_type": kind, "account_id": account_id, "status": "active", "currency": "EUR"}
        row |= {"created_at": when, "updated_at": when} | values
        upsert = mysql.insert(table).values(row)
        ctx.execute(upsert.on_duplicate_key_update(updated_at=upsert.inserted.updated_at, **values))

    @handles("user.created")
    def user_created(self, ctx: ApplyContext, event: ReceivedEvent) -> None:
        p = event.payload
        assert isinstance(p, identity_events.UserCreated)
        self._account(ctx, event, "user", p.user_id, owner_user_id=p.user_id, status=p.status or "active")

    @handles("user.profile_updated")
    def user_profile_updated(self, ctx: ApplyContext, event: ReceivedEvent) -> None:
        p = event.payload
        assert isinstance(p, identity_events.UserProfileUpdated)
        values: dict[str, Any] = {}
        if p.HasField("country"):
            values["country"] = p.country.upper() or None
        if p.HasField("tax_id"):
            values["tax_id"] = p.tax_id or None
        if values:
            self._account(ctx, event, "user", p.user_id, owner_user_id=p.user_id, **values)

    @handles("user.activated", "user.suspended", "user.banned")
    def user_status_changed(self, ctx: ApplyContext, event: ReceivedEvent) -> None:
        p = event.payload
        assert isinstance(p, identity_events.UserStatusChanged)
        self._account(ctx, event, "user", p.user_id, owner_user_id=p.user_id, status=p.new_status)

    @handles("user.erased")
    def user_erased(self, ctx: ApplyContext, event: ReceivedEvent) -> None:
        p = event.payload
        assert isinstance(p, identity_events.UserErased)
        self._account(ctx, event, "user", p.user_id, owner_user_id=p.user_id, status="erased")

    @handles("organization.created")
    def organization_created(self, ctx: ApplyContext, event: ReceivedEvent) -> None:
        p = event.payload
        assert isinstance(p, identity_events.OrganizationCreated)
        self._account(
            ctx, event, "organization", p.organization_id, owner_user_id=p.owner_user_id, status=p.status or "active"
        )

    @handles("organization.suspended", "organization.activated")
    def organization_status_changed(self, ctx: ApplyContext, event: ReceivedEvent) -> None:
        p = event.payload
        assert isinstance(p, identity_events.OrganizationStatusChanged)
        self._account(ctx, event, "organization", p.organization_id, status=p.new_status)

    @handles("organization.updated")
    def organization_updated(self, ctx: ApplyContext, event: ReceivedEvent) -> None:
        p = event.payload
        assert isinstance(p, identity_events.OrganizationUpdated)
        values: dict[str, Any] = {}
        if p.HasField("country"):
            values["country"] = p.country.upper() or None
        if p.HasField("tax_id"):
            values["tax_id"] = p.tax_id or None
        if p.HasField("name"):
            values["company_name"] = p.name or None
        if values:
            self._account(ctx, event, "organization", p.organization_id, **values)

    @handles("organization.ownership_transferred")
    def ownership_transferred(self, ctx: ApplyContext, event: ReceivedEvent) -> None:
        p = event.payload
        assert isinstance(p, identity_events.OrganizationOwnershipTransferred)
        self._account(ctx, event, "organization", p.organization_id, owner_user_id=p.new_owner_user_id)

    @handles("setting.changed")
    def setting_changed(self, ctx: ApplyContext, event: ReceivedEvent) -> None:
        p = event.payload
        assert isinstance(p, identity_events.SettingChanged)
        if p.key not in FOLLOWED_SETTINGS:
            return
        upsert = mysql.insert(ctx.table("billing_settings")).values(
            setting_key=p.key, value=p.new_value, updated_at=occurred(event)
        )
        ctx.execute(upsert.on_duplicate_key_update(value=upsert.inserted.value, updated_at=upsert.inserted.updated_at))
