"""Server metrics: what a sample holds, how upstream's series names map to the stored columns
and back, and the rules of a query (types, period, step). Plain Python."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from cpshared.errors import InvalidInput

METRIC_TYPES = ("cpu", "disk", "network")
"""The metric types of Hetzner's ``GET /v1/servers/{id}/metrics``."""

MAX_WINDOW = timedelta(days=31)
"""The longest period a query may ask for: samples are kept 30 days (a longer period asks for
what no longer exists)."""
MAX_POINTS = 10_000
"""The most values one series may have (period / step)."""
MIN_STEP = 1
DEFAULT_POINTS = 100
"""Without a step, the period is divided into about this many values (at least a minute each)."""
DEFAULT_MIN_STEP = 60

MB = Decimal(1_000_000)
BITS = Decimal(8)


@dataclass(frozen=True)
class Column:
    """One stored column of server_metrics and the upstream series it holds.

    ``scale``: stored value = upstream value / scale (bytes per second stored as MB/s or
    megabits/s); ``whole``: stored as an integer."""

    name: str
    series: str
    kind: str
    scale: Decimal = Decimal(1)
    whole: bool = False
    places: int = 2

    def stored(self, upstream: str) -> Decimal | int | None:
        """Upstream's decimal string as the column stores it; None for an empty or unreadable one."""
        if not upstream:
            return None
        try:
            value = Decimal(upstream) / self.scale
        except InvalidOperation:
            return None
        if not value.is_finite():
            return None
        if self.whole:
            return int(value.to_integral_value(rounding=ROUND_HALF_UP))
        return value.quantize(Decimal(1).scaleb(-self.places), rounding=ROUND_HALF_UP)

    def served(self, stored: Decimal) -> Decimal:
        """A stored (aggregated) value in upstream's unit again."""
        return Decimal(stored) * self.scale


COLUMNS: tuple[Column, ...] = (
    Column("cpu_usage", "cpu", "cpu"),
    Column("disk_read_iops", "disk.0.iops.read", "disk", whole=True),
    Column("disk_write_iops", "disk.0.iops.write", "disk", whole=True),
    Column("disk_read_mb", "disk.0.bandwidth.read", "disk", scale=MB),
    Column("disk_write_mb", "disk.0.bandwidth.write", "disk", scale=MB),
    Column("network_packets_in", "network.0.pps.in", "network", whole=True),
    Column("network_packets_out", "network.0.pps.out", "network", whole=True),
    Column("network_in_mbps", "network.0.bandwidth.in", "network", scale=MB / BITS),
    Column("network_out_mbps", "network.0.bandwidth.out", "network", scale=MB / BITS),
)
"""Every upstream-measured column (memory and load averages come from an in-guest agent, later)."""

BY_SERIES = {column.series: column for column in COLUMNS}


@dataclass(frozen=True)
class Sample:
    """What upstream measured of one server at one instant: upstream's series name → its
    decimal string (absent: not measured)."""

    server_id: int
    recorded_at: datetime
    values: dict[str, str]

    def row(self) -> dict[str, object]:
        """The server_metrics row of this sample."""
        row: dict[str, object] = {"server_id": self.server_id, "recorded_at": self.recorded_at}
        for column in COLUMNS:
            row[column.name] = column.stored(self.values.get(column.series, ""))
        return row


@dataclass(frozen=True)
class MetricsQuery:
    """A checked query: the series of ``types`` over [start, end] in steps of ``step`` seconds."""

    server_id: int
    types: tuple[str, ...]
    start: datetime
    end: datetime
    step: int

    @property
    def columns(self) -> tuple[Column, ...]:
        return tuple(column for column in COLUMNS if column.kind in self.types)

    @classmethod
    def of(cls, server_id: int, types: list[str], start: datetime, end: datetime, step: int) -> MetricsQuery:
        kinds = tuple(dict.fromkeys(types))
        if not kinds or any(kind not in METRIC_TYPES for kind in kinds):
            raise InvalidInput(
                f"type must be one or more of {', '.join(METRIC_TYPES)}", details={"fields": [{"name": "type"}]}
            )
        if start.tzinfo is None or end.tzinfo is None:
            raise InvalidInput("start and end must name their time zone", details={"fields": [{"name": "start"}]})
        if end < start:
            raise InvalidInput("end must not be before start", details={"fields": [{"name": "end"}]})
        if end - start > MAX_WINDOW:
            raise InvalidInput(
                f"the period from start to end may be at most {MAX_WINDOW.days} days (metrics are kept 30 days)",
                details={"fields": [{"name": "start"}, {"name": "end"}]},
            )
        seconds = (end - start).total_seconds()
        if step < 0:
            raise InvalidInput("step must be a positive number of seconds", details={"fields": [{"name": "step"}]})
        if step == 0:
            step = max(DEFAULT_MIN_STEP, math.ceil(seconds / DEFAULT_POINTS))
        if seconds / step > MAX_POINTS:
            raise InvalidInput(
                f"step {step} makes more than {MAX_POINTS} values for the period; choose a larger step",
                details={"fields": [{"name": "step"}]},
            )
        return cls(server_id, kinds, start, end, step)


def format_value(value: Decimal) -> str:
    """A served value as Hetzner writes it: a decimal string without exponent."""
    text = format(value.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP), "f")
    return text
