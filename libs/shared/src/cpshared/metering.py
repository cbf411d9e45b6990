"""Metering's shared arithmetic: which UTC clock hours of a resource's life are billable, and the
``usage.recorded`` event of one of them. Every service that meters its resources by the hour
(compute's servers and backups, network's floating IPs, storage's volumes) uses these; what is billable and at
which price is each service's own rule.

Hetzner bills every started hour in full: a resource lives from its creation to its deletion and
each UTC clock hour it touches is one billable hour, its first and last partial ones included.
A live resource's hours are recorded once they have ended; a deleted one's all at once. The
event id is a function of (resource type, resource, metric, hour) (:func:`usage_event_id`), so
an hour recorded twice is one event.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Final

from google.protobuf.timestamp_pb2 import Timestamp

from cloudplatform.usage.v1 import events_pb2 as usage_pb
from cpshared.events import catalog as events
from cpshared.events.envelope import PendingEvent, deterministic_event_id, new_event, usage_event_id
from cpshared.timestamps import as_utc

HOUR: Final = timedelta(hours=1)
EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def hour_floor(value: datetime) -> datetime:
    return as_utc(value).replace(minute=0, second=0, microsecond=0)


def hour_index(hour_start: datetime) -> int:
    """Hours since the Unix epoch: the usage event's aggregate version."""
    return int((as_utc(hour_start) - EPOCH) // HOUR)


def epoch_seconds(hour_start: datetime) -> int:
    return int((as_utc(hour_start) - EPOCH).total_seconds())


def life_end(created_at: datetime, deleted_at: datetime | None, now: datetime) -> datetime:
    """End (exclusive) of the last hour that is billable by ``now``: for a live resource the hours
    that have ended; for a deleted one every hour it touched, its last partial one too."""
    if deleted_at is None:
        return hour_floor(now)
    created, deleted = as_utc(created_at), as_utc(deleted_at)
    if deleted <= created:  # created and deleted within the same instant: still one started hour
        return hour_floor(created) + HOUR
    return hour_floor(deleted - timedelta(microseconds=1)) + HOUR


def hours_due(
    created_at: datetime, deleted_at: datetime | None, metered_until: datetime | None, now: datetime, limit: int
) -> list[datetime]:
    """Starts of the next (at most ``limit``) hours to record, oldest first, after the cursor
    ``metered_until`` (None: from the creation's hour)."""
    hour = as_utc(metered_until) if metered_until is not None else hour_floor(created_at)
    end = life_end(created_at, deleted_at, now)
    hours: list[datetime] = []
    while hour < end and len(hours) < limit:
        hours.append(hour)
        hour += HOUR
    return hours


def billed_instant(hour_start: datetime, deleted_at: datetime | None) -> datetime:
    """The instant whose state prices the hour: its end, or the deletion if earlier."""
    end = as_utc(hour_start) + HOUR
    if deleted_at is not None and as_utc(deleted_at) < end:
        return as_utc(deleted_at)
    return end


def _timestamp(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def usage_recorded(
    *,
    producer: str,
    resource_type: str,
    resource_id: int,
    resource_name: str,
    user_id: int,
    organization_id: int | None,
    metric: str,
    hour: datetime,
    product: str,
    location: str,
    price_hourly: Decimal,
    price_monthly: Decimal | None,
    currency: str,
    quantity: Decimal = Decimal(1),
    revision: int = 0,
) -> PendingEvent:
    """The ``usage.recorded`` of one billable hour (quantity 1 unless said), its id deterministic.

    ``revision``: a further record of the same hour (monitoring's traffic raised by a late
    sample, ``quantity`` the difference); its id is a function of the revision too."""
    event_id = usage_event_id(resource_type, resource_id, metric, epoch_seconds(hour))
    if revision:
        event_id = deterministic_event_id(event_id, revision)
    return new_event(
        events.USAGE_RECORDED,
        producer=producer,
        aggregate_id=f"{resource_type}:{resource_id}",
        aggregate_version=hour_index(hour),
        event_id=event_id,
        payload=usage_pb.UsageRecorded(
            resource_type=resource_type,
            resource_id=resource_id,
            resource_name=resource_name,
            user_id=user_id,
            organization_id=organization_id or 0,
            metric_type=metric,
            quantity=str(quantity),
            period_start=_timestamp(hour),
            period_end=_timestamp(hour + HOUR),
            product=product,
            location=location,
            price_hourly=str(price_hourly),
            price_monthly="" if price_monthly is None else str(price_monthly),
            currency=currency,
        ),
    )
