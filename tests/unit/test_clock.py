from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cpshared.clock import ManualClock, SystemClock, get_clock, set_clock, utcnow


def test_system_clock_is_timezone_aware_utc() -> None:
    assert SystemClock().now().tzinfo is UTC


def test_installed_manual_clock_drives_every_now_in_the_process() -> None:
    clock = ManualClock(datetime(2026, 3, 31, 23, 59, tzinfo=UTC))
    previous = set_clock(clock)
    try:
        assert utcnow() == datetime(2026, 3, 31, 23, 59, tzinfo=UTC)
        clock.advance(timedelta(minutes=2))
        assert utcnow().month == 4
        assert get_clock() is clock
    finally:
        set_clock(previous)


def test_manual_clock_refuses_naive_times() -> None:
    with pytest.raises(ValueError):
        ManualClock(datetime(2026, 1, 1))
    with pytest.raises(ValueError):
        ManualClock().set(datetime(2026, 1, 1))
