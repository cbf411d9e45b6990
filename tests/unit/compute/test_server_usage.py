"""A monitoring summary as compute's servers keep it: percents and GB to the cent, a value the
columns cannot hold capped, an empty or unreadable one left out (the column keeps its value)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from compute_service.domain.server_usage import ServerUsage

AT = datetime(2026, 10, 5, 7, 0, tzinfo=UTC)


def test_a_summary_as_the_columns_hold_it() -> None:
    usage = ServerUsage.of(7, AT, "25145.709516", "40.004", "", "nan")
    assert usage.bandwidth_used_gb == Decimal("25145.71") and usage.cpu_usage == Decimal("40.00")
    assert usage.memory_usage is None and usage.disk_usage is None
    assert ServerUsage.of(7, AT, "-1", "1600", "x", "12.5").cpu_usage == Decimal("999.99")
    assert ServerUsage.of(7, AT, "-1", "1600", "x", "12.5").bandwidth_used_gb is None
