"""Python datetimes as protobuf Timestamps (a naive datetime is taken as UTC, as stored), and
the naive UTC times DATETIME columns hand back as aware ones."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import overload

from google.protobuf.timestamp_pb2 import Timestamp


@overload
def to_timestamp(when: datetime) -> Timestamp: ...


@overload
def to_timestamp(when: None) -> None: ...


def to_timestamp(when: datetime | None) -> Timestamp | None:
    """``when`` as a Timestamp; None stays None (an unset message field)."""
    if when is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(when)
    return stamp


def as_utc(value: datetime) -> datetime:
    """``value`` as an aware UTC time: DATETIME columns come back naive, and the platform stores UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
