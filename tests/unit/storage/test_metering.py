"""Volume hours: every started hour of a volume's life, priced by the size in effect at its end,
from billing's price per GB and month (the cap), hourly at a 730-hour month."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from storage_service.domain.metering import MeteredVolume, SizePeriod, product, size_at, volume_prices

T0 = datetime(2026, 3, 1, 10, 20, tzinfo=UTC)


def _volume(deleted_at: datetime | None = None, metered_until: datetime | None = None) -> MeteredVolume:
    return MeteredVolume(7, 1, None, "data", "fsn1", 10, T0, deleted_at, metered_until)


def test_every_started_hour_of_its_life_is_due_once() -> None:
    live = _volume()
    assert live.hours_due(T0 + timedelta(minutes=30), 10) == []  # its first hour has not ended
    hours = live.hours_due(datetime(2026, 3, 1, 13, 5, tzinfo=UTC), 10)
    assert hours == [datetime(2026, 3, 1, h, tzinfo=UTC) for h in (10, 11, 12)]
    deleted = _volume(
        deleted_at=datetime(2026, 3, 1, 12, 1, tzinfo=UTC), metered_until=datetime(2026, 3, 1, 11, tzinfo=UTC)
    )
    assert deleted.hours_due(datetime(2026, 3, 2, tzinfo=UTC), 10) == [
        datetime(2026, 3, 1, 11, tzinfo=UTC),
        datetime(2026, 3, 1, 12, tzinfo=UTC),
    ]


def test_an_hour_is_priced_by_the_size_at_its_end() -> None:
    periods = [SizePeriod(10, T0), SizePeriod(20, datetime(2026, 3, 1, 11, 30, tzinfo=UTC))]
    assert size_at(periods, datetime(2026, 3, 1, 11, tzinfo=UTC), 99) == 10
    assert size_at(periods, datetime(2026, 3, 1, 12, tzinfo=UTC), 99) == 20
    assert size_at([], datetime(2026, 3, 1, 12, tzinfo=UTC), 99) == 99


def test_prices_are_size_times_the_plan_capped_monthly() -> None:
    hourly, monthly = volume_prices(10, Decimal("0.044"))
    assert monthly == Decimal("0.440000") and hourly == Decimal("0.000603")
    # A 31-day month of hours is over the cap (billing charges the cap), a 28-day one under it.
    assert hourly * 744 > monthly > hourly * 672
    assert volume_prices(10240, Decimal("0.044"))[1] == Decimal("450.560000")
    assert product(20) == "20 GB"
