"""Python datetimes as protobuf Timestamps (a naive datetime is taken as UTC, as stored)."""

from __future__ import annotations

from datetime import datetime
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
