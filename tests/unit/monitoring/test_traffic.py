"""The traffic meter's rules: a sample's minute in bytes, GB of 2^30 bytes, when an hour is
closed, and what an hour owes billing the first time and after a late sample."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from monitoring_service.domain.traffic import HourTraffic, MeteredHour, MeterWindow, due, gigabytes, minute_bytes

HOUR = datetime(2026, 10, 5, 1, 0, tzinfo=UTC)


def test_a_sample_stands_for_a_minute_of_traffic() -> None:
    assert minute_bytes(Decimal("8.00")) == 60_000_000  # 8 Mbit/s = 1 MB/s, for 60 s
    assert minute_bytes(Decimal("0.01")) == 75_000
    assert gigabytes(2**30) == Decimal("1.000000") and gigabytes(1) == Decimal("0.000000")


def test_an_hour_is_closed_once_its_end_and_the_delay_have_passed() -> None:
    window = MeterWindow(datetime(2026, 10, 5, 2, 9, tzinfo=UTC), timedelta(minutes=10), 24)
    assert window.closed_before == HOUR  # 01:00 ends at 02:00, closed at 02:10
    window = MeterWindow(datetime(2026, 10, 5, 2, 10, tzinfo=UTC), timedelta(minutes=10), 24)
    assert window.closed_before == HOUR + timedelta(hours=1)
    assert window.first == HOUR + timedelta(hours=1) - timedelta(hours=24)
    assert window.month_start() == datetime(2026, 10, 1, tzinfo=UTC)


def test_an_hour_owes_its_total_once_and_a_late_sample_only_the_difference() -> None:
    assert due(HourTraffic(7, HOUR, 0), None) is None  # no traffic: nothing recorded
    first = due(HourTraffic(7, HOUR, 3 * 2**30), None)
    assert first is not None and (first.revision, first.quantity_gb) == (0, Decimal("3.000000"))
    recorded = MeteredHour(7, HOUR, 3 * 2**30, first.total_gb, first.revision)
    assert due(HourTraffic(7, HOUR, 3 * 2**30), recorded) is None  # summed again: nothing more
    late = due(HourTraffic(7, HOUR, 4 * 2**30 + 2**29), recorded)
    assert late is not None and (late.revision, late.quantity_gb, late.total_gb) == (
        1,
        Decimal("1.500000"),
        Decimal("4.500000"),
    )
