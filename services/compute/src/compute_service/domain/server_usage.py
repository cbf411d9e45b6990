"""A server's use as monitoring summarizes it (``metric.summarized``), as compute's servers keep
it: the outgoing traffic of the calendar month in GB and the latest average cpu, memory and disk
use in percent. Plain Python."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")
PERCENT_MAX = Decimal("999.99")
"""The columns are DECIMAL(5,2); cpu counts 100 % per core, so a large server could exceed it."""
GB_MAX = Decimal("9999999999999.99")


def _decimal(text: str, ceiling: Decimal) -> Decimal | None:
    if not text:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    if not value.is_finite() or value < 0:
        return None
    return min(value, ceiling).quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class ServerUsage:
    server_id: int
    at: datetime
    bandwidth_used_gb: Decimal | None
    cpu_usage: Decimal | None
    memory_usage: Decimal | None
    disk_usage: Decimal | None

    @classmethod
    def of(cls, server_id: int, at: datetime, traffic_gb: str, cpu: str, memory: str, disk: str) -> ServerUsage:
        """From the summary's decimal strings ("" or unreadable: not said, the column keeps its value)."""
        return cls(
            server_id,
            at,
            _decimal(traffic_gb, GB_MAX),
            _decimal(cpu, PERCENT_MAX),
            _decimal(memory, PERCENT_MAX),
            _decimal(disk, PERCENT_MAX),
        )
