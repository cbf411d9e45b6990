"""Which hours of a server's life are billable, and by which type (domain/metering.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from compute_service.domain.metering import MeteredServer, TypePeriod, hour_index, type_at

T0 = datetime(2026, 3, 2, tzinfo=UTC)


def at(hour: int, minute: int = 0) -> datetime:
    return T0 + timedelta(hours=hour, minutes=minute)


def server(created: datetime, deleted: datetime | None = None, metered_until: datetime | None = None) -> MeteredServer:
    return MeteredServer(
        id=1,
        user_id=2,
        organization_id=None,
        name="web",
        datacenter="fsn1",
        server_type_id=7,
        created_at=created.replace(tzinfo=None),  # as the database hands it back
        deleted_at=deleted.replace(tzinfo=None) if deleted else None,
        metered_until=metered_until.replace(tzinfo=None) if metered_until else None,
    )


def test_a_live_server_is_due_the_hours_that_have_ended() -> None:
    assert server(at(10, 20)).hours_due(at(12, 59), 100) == [at(10), at(11)]
    assert server(at(10, 20)).hours_due(at(10, 59), 100) == []


def test_a_deleted_server_is_due_its_last_partial_hour_at_once() -> None:
    assert server(at(10, 20), at(13, 5)).hours_due(at(13, 6), 100) == [at(10), at(11), at(12), at(13)]


def test_a_deletion_on_the_hour_does_not_start_another_hour() -> None:
    assert server(at(10, 20), at(12)).hours_due(at(15), 100) == [at(10), at(11)]


def test_a_server_created_and_deleted_in_the_same_instant_pays_one_started_hour() -> None:
    assert server(at(10), at(10)).hours_due(at(11), 100) == [at(10)]


def test_the_cursor_and_the_limit_bound_what_is_due() -> None:
    assert server(at(10, 20), metered_until=at(12)).hours_due(at(16, 1), 2) == [at(12), at(13)]


def test_the_type_in_effect_just_before_the_instant_prices_the_hour() -> None:
    periods = [TypePeriod(1, at(10, 20), at(11, 30)), TypePeriod(2, at(11, 30), at(12)), TypePeriod(3, at(12), None)]
    assert type_at(periods, at(11), fallback=9) == 1
    assert type_at(periods, at(12), fallback=9) == 2  # the change at 12:00 prices hour 12, not 11
    assert type_at(periods, at(13), fallback=9) == 3
    assert type_at([], at(13), fallback=9) == 9


def test_the_hour_index_counts_hours_since_the_epoch() -> None:
    assert hour_index(datetime(1970, 1, 1, 5, tzinfo=UTC)) == 5
