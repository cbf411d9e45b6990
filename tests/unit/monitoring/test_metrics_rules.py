"""Monitoring's domain rules: a metrics query's checks, the stored units of upstream's series,
and which day partitions a retention run drops and makes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from cpshared.errors import InvalidInput
from monitoring_service.domain.metrics import BY_SERIES, MetricsQuery, Sample, format_value
from monitoring_service.domain.retention import DayPartition, RetentionPlan

START = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def test_a_query_without_step_gets_about_a_hundred_values_of_at_least_a_minute() -> None:
    assert MetricsQuery.of(1, ["cpu"], START, START + timedelta(hours=1), 0).step == 60
    assert MetricsQuery.of(1, ["cpu"], START, START + timedelta(days=1), 0).step == 864
    query = MetricsQuery.of(1, ["disk", "cpu", "disk"], START, START, 60)
    assert query.types == ("disk", "cpu") and next(c.series for c in query.columns) == "cpu"


@pytest.mark.parametrize(
    ("types", "start", "end", "step", "field"),
    [
        (["memory"], START, START + timedelta(hours=1), 60, "type"),
        ([], START, START + timedelta(hours=1), 60, "type"),
        (["cpu"], START, START - timedelta(seconds=1), 60, "end"),
        (["cpu"], START - timedelta(days=3650), START, 86400, "start"),
        (["cpu"], START - timedelta(days=31, seconds=1), START, 86400, "start"),
        (["cpu"], START - timedelta(days=1), START, 8, "step"),
        (["cpu"], START, START + timedelta(hours=1), -5, "step"),
    ],
)
def test_bad_queries_name_the_field_to_change(
    types: list[str], start: datetime, end: datetime, step: int, field: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        MetricsQuery.of(1, types, start, end, step)
    fields = refused.value.details["fields"]
    assert isinstance(fields, list) and field in [f["name"] for f in fields]


def test_the_longest_period_is_31_days() -> None:
    assert MetricsQuery.of(1, ["cpu"], START - timedelta(days=31), START, 3600).step == 3600


def test_upstream_values_are_stored_in_the_seeds_units_and_served_in_upstreams() -> None:
    sample = Sample(
        7,
        START,
        {
            "cpu": "37.5151",
            "disk.0.iops.read": "83.5",
            "disk.0.bandwidth.read": "1108000.0000",
            "network.0.bandwidth.out": "221600.0000",
            "network.0.pps.in": "abc",
        },
    )
    row = sample.row()
    assert row["cpu_usage"] == Decimal("37.52") and row["disk_read_iops"] == 84
    assert row["disk_read_mb"] == Decimal("1.11") and row["network_out_mbps"] == Decimal("1.77")
    assert row["network_packets_in"] is None and row["disk_write_iops"] is None
    assert format_value(BY_SERIES["disk.0.bandwidth.read"].served(Decimal("1.11"))) == "1110000.0000"
    assert format_value(BY_SERIES["network.0.bandwidth.out"].served(Decimal("1.77"))) == "221250.0000"


def test_retention_drops_the_days_that_ended_before_the_cutoff_and_makes_the_days_ahead() -> None:
    plan = RetentionPlan(datetime(2026, 4, 2, 10, 0, tzinfo=UTC), keep_days=30, ahead_days=2)
    existing = [DayPartition(date(2026, 3, 1) + timedelta(days=n)) for n in range(33)]  # through 2 April
    assert [p.name for p in plan.to_drop(existing)] == ["p20260301", "p20260302"]
    assert [p.name for p in plan.to_create(existing)] == ["p20260403", "p20260404"]
    assert [p.name for p in plan.to_create([])] == ["p20260402", "p20260403", "p20260404"]
    # After a pause longer than the retention, the first new partition is the cutoff's day.
    assert plan.to_create([DayPartition(date(2026, 1, 1))])[0].name == "p20260303"


def test_only_day_partitions_are_recognised() -> None:
    assert DayPartition.named("p20260229") is None and DayPartition.named("pmax") is None
    assert DayPartition.named("p20240229") == DayPartition(date(2024, 2, 29))
    assert DayPartition(date(2026, 12, 31)).bound == datetime(2027, 1, 1)
