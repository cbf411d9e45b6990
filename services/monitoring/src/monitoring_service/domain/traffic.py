"""Outgoing traffic for billing, from the stored samples. Plain Python.

A sample says the server's outgoing bandwidth at one instant, stored in megabits per second
(``network_out_mbps``, two decimals); the collector samples once a minute, so a sample stands for
a minute of traffic: ``mbps x 1,000,000 / 8 x 60`` bytes (an exact number of bytes). A minute
without a sample counts nothing. An hour's traffic is the sum of its samples; a GB is 2^30 bytes
(so billing's TB of the ``traffic`` plan, 1024 GB, is Hetzner's 2^40 bytes).

**When an hour is closed.** Hour ``h`` (UTC) is closed once ``h + 1 h + close_after`` has
passed (``close_after``: the samples' delivery delay the meter waits for, the collector's look
back and the consumer's lag); the meter then records its GB as ``usage.recorded`` (revision 0).
**A late sample** (stored after its hour was recorded) raises the hour's total: every pass
re-sums the closed hours of the last ``late_hours`` and records the difference between the new
total and what was recorded as the hour's next revision. Totals are rounded to the micro-GB
once per hour, so the revisions of an hour add up to its rounded total. Each revision's event
id is a function of (server, hour, revision) and the recorded total is stored in the same
transaction as the events, so a pass repeated (a crash, a second meter) records nothing twice,
and a sample stored twice is one row (server_metrics' unique key). A sample later than
``late_hours`` after its hour is not billed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Final

HOUR: Final = timedelta(hours=1)
BYTES_PER_MEGABIT_MINUTE: Final = Decimal(1_000_000) / 8 * 60
"""Bytes a one-minute sample of 1 megabit per second stands for."""
BYTES_PER_GB: Final = Decimal(2**30)
GB_PLACES: Final = Decimal("0.000001")
METRIC: Final = "bandwidth_gb"
PRODUCT: Final = "traffic"
RESOURCE: Final = "server"


def hour_floor(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def minute_bytes(megabits_per_second_sum: Decimal) -> int:
    """Bytes sent by the minutes whose samples' ``network_out_mbps`` add up to the argument."""
    return int((Decimal(megabits_per_second_sum) * BYTES_PER_MEGABIT_MINUTE).to_integral_value(ROUND_HALF_UP))


def gigabytes(byte_count: int) -> Decimal:
    return (Decimal(byte_count) / BYTES_PER_GB).quantize(GB_PLACES, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class MeterWindow:
    """What a pass at ``now`` looks at: the closed hours from ``first`` (inclusive) to ``closed_before``."""

    now: datetime
    close_after: timedelta
    late_hours: int

    @property
    def closed_before(self) -> datetime:
        """Hours starting before this one are closed (their end + close_after has passed)."""
        return hour_floor(self.now - self.close_after)

    @property
    def first(self) -> datetime:
        """The oldest hour a pass still re-sums (later samples of older hours are not billed)."""
        return self.closed_before - self.late_hours * HOUR

    def month_start(self) -> datetime:
        return self.now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class HourTraffic:
    """The outgoing bytes of one server's hour, as its stored samples add up now."""

    server_id: int
    hour: datetime
    bytes_out: int


@dataclass(frozen=True)
class MeteredHour:
    """What the meter has recorded of a server's hour: the GB billed so far and the last revision."""

    server_id: int
    hour: datetime
    bytes_out: int
    recorded_gb: Decimal
    revision: int


@dataclass(frozen=True)
class TrafficDue:
    """One ``usage.recorded`` to write: ``quantity_gb`` more of the hour, as ``revision``."""

    server_id: int
    hour: datetime
    revision: int
    quantity_gb: Decimal
    total_gb: Decimal
    bytes_out: int


def due(traffic: HourTraffic, metered: MeteredHour | None) -> TrafficDue | None:
    """What the hour adds to billing now: its whole total the first time it has traffic, the
    difference once a late sample raised it; None when nothing is owed."""
    total = gigabytes(traffic.bytes_out)
    if metered is None:
        if total <= 0:
            return None
        return TrafficDue(traffic.server_id, traffic.hour, 0, total, total, traffic.bytes_out)
    extra = total - metered.recorded_gb
    if extra <= 0:
        return None
    return TrafficDue(traffic.server_id, traffic.hour, metered.revision + 1, extra, total, traffic.bytes_out)


def as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
