"""Hetzner's hourly billing: every started UTC clock hour of a resource's life is billed in full
(the first and the last partial one included), up to the product's monthly cap. A resource lives
from its creation to its deletion; the hour is priced by what was in effect at its end (for the
last hour of a deleted resource: at the deletion). Plain Python, for every service that meters
(compute's servers and backups, storage's volumes)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final

from cpshared.timestamps import as_utc

HOUR: Final = timedelta(hours=1)
EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def hour_floor(value: datetime) -> datetime:
    return as_utc(value).replace(minute=0, second=0, microsecond=0)


def hour_index(hour_start: datetime) -> int:
    """Hours since the Unix epoch: a usage event's aggregate version."""
    return int((as_utc(hour_start) - EPOCH) // HOUR)


def epoch_seconds(hour_start: datetime) -> int:
    return int((as_utc(hour_start) - EPOCH).total_seconds())


def life_end(created_at: datetime, deleted_at: datetime | None, now: datetime) -> datetime:
    """End (exclusive) of the last hour that is billable by ``now``: for a live resource the
    hours that have ended; for a deleted one every hour it touched, its last partial one too."""
    if deleted_at is None:
        return hour_floor(now)
    created, deleted = as_utc(created_at), as_utc(deleted_at)
    if deleted <= created:  # created and deleted within the same instant: still one started hour
        return hour_floor(created) + HOUR
    return hour_floor(deleted - timedelta(microseconds=1)) + HOUR


def hours_due(
    created_at: datetime, deleted_at: datetime | None, metered_until: datetime | None, now: datetime, limit: int
) -> list[datetime]:
    """Starts of the next (at most ``limit``) hours to record after ``metered_until`` (None:
    from the creation's hour), oldest first."""
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
