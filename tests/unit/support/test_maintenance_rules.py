"""The maintenance window aggregate: what a window may be, and how the clock moves it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cpshared.errors import InvalidInput, PreconditionFailed
from support_service.domain.maintenance import (
    CANCELLED,
    COMPLETED,
    IN_PROGRESS,
    MaintenanceWindow,
    new_window,
)
from support_service.domain.notifications import affects

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def _window(start: timedelta = HOUR, end: timedelta = 3 * HOUR, **overrides: object) -> MaintenanceWindow:
    fields: dict[str, object] = {
        "title": "Core switch",
        "description": "",
        "kind": "planned",
        "services": ["servers", "servers", "networks"],
        "datacenters": ["fsn1-dc14", "nbg1"],
        "start": NOW + start,
        "end": NOW + end,
        "created_by": 5,
        "now": NOW,
        **overrides,
    }
    window = new_window(**fields)  # type: ignore[arg-type]
    window.id = 3
    return window


def test_a_window_is_checked() -> None:
    assert _window().affected_services == ["servers", "networks"]
    for bad in (
        {"end": timedelta(0)},
        {"start": -3 * HOUR, "end": -HOUR},
        {"kind": "surprise"},
        {"services": ["toasters"]},
        {"datacenters": ["fsn1; DROP TABLE"]},
        {"title": "two\nlines"},
    ):
        with pytest.raises(InvalidInput):
            _window(**bad)


def test_the_clock_moves_a_window_and_a_missed_one_goes_through_both() -> None:
    window = _window()
    assert window.advance(NOW) == []
    assert window.advance(NOW + HOUR) == [IN_PROGRESS]
    assert window.advance(NOW + 3 * HOUR) == [COMPLETED]
    missed = _window()
    assert missed.advance(NOW + 5 * HOUR) == [IN_PROGRESS, COMPLETED]
    assert [e.event_type for e in missed.pop_events()] == ["maintenance.started", "maintenance.completed"]


def test_changes_and_cancelling() -> None:
    window = _window()
    assert window.update(5, now=NOW, end=NOW + 4 * HOUR) == ["end_time"]
    window.advance(NOW + HOUR)
    with pytest.raises(PreconditionFailed):
        window.update(5, now=NOW + HOUR, start=NOW + 2 * HOUR)
    with pytest.raises(PreconditionFailed):
        window.cancel(5)
    scheduled = _window()
    scheduled.cancel(5)
    assert scheduled.status == CANCELLED
    with pytest.raises(PreconditionFailed):
        scheduled.update(5, now=NOW, title="Again")


def test_which_resources_a_window_affects() -> None:
    assert affects("fsn1-dc14", "fsn1-dc14")
    assert not affects("fsn1-dc14", "fsn1-dc8")
    assert affects("fsn1", "fsn1-dc8") and affects("fsn1-dc14", "fsn1")
    assert not affects("fsn1", "nbg1-dc3") and not affects("fsn1", "fsn10")
