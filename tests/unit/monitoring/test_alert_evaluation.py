"""Alert evaluation per (rule, resource): fires after the rule's whole duration of samples, not
before; resolves when the condition stops holding; a gap breaks the run; old samples change
nothing; the state round-trips through the table's JSON."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from monitoring_service.domain.alert_evaluation import Condition, Transition, WindowState, alert_id, observe

T0 = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)
CPU_HIGH = Condition(rule_id=3, metric="cpu_usage", operator="gt", threshold=Decimal("80"), duration_minutes=5)


def run(
    values: Sequence[tuple[int, str | None]], condition: Condition = CPU_HIGH
) -> tuple[WindowState, list[Transition]]:
    state, transitions = WindowState(), []
    for minute, value in values:
        at = T0 + timedelta(minutes=minute)
        state, transition = observe(state, condition, 41, at, Decimal(value) if value is not None else None)
        if transition:
            transitions.append(transition)
    return state, transitions


def test_fires_on_the_fifth_consecutive_minute_and_not_before() -> None:
    _, four = run([(m, "95") for m in range(4)])
    assert four == []
    state, five = run([(m, "95") for m in range(5)])
    assert [(t.kind, t.at, t.value) for t in five] == [("triggered", T0 + timedelta(minutes=4), Decimal("95"))]
    assert state.firing and five[0].message.startswith("triggered: cpu_usage > 80")


def test_fires_once_and_resolves_on_the_first_minute_below() -> None:
    _, transitions = run([(m, "95") for m in range(8)] + [(8, "40"), (9, "30")])
    assert [(t.kind, t.at.minute) for t in transitions] == [("triggered", 4), ("resolved", 8)]


def test_a_minute_below_or_a_missing_minute_restarts_the_window() -> None:
    _, dipped = run([(0, "95"), (1, "95"), (2, "50"), (3, "95"), (4, "95"), (5, "95"), (6, "95")])
    assert dipped == []
    _, gap = run([(0, "95"), (1, "95"), (2, "95"), (4, "95"), (5, "95"), (6, "95"), (7, "95")])
    assert gap == []
    _, after_gap = run([(0, "95"), (2, "95"), (3, "95"), (4, "95"), (5, "95"), (6, "95")])
    assert [t.at.minute for t in after_gap] == [6]


def test_a_sample_seen_already_or_unmeasured_changes_nothing() -> None:
    state, _ = run([(m, "95") for m in range(4)])
    again, transition = observe(state, CPU_HIGH, 41, T0 + timedelta(minutes=2), Decimal("95"))
    assert (again, transition) == (state, None)
    unmeasured, transition = observe(state, CPU_HIGH, 41, T0 + timedelta(minutes=4), None)
    assert (unmeasured, transition) == (state, None)


@pytest.mark.parametrize(
    ("operator", "value", "holds"),
    [("gt", "80", False), ("gte", "80", True), ("lt", "79.99", True), ("lte", "80.01", False), ("eq", "80.00", True)],
)
def test_operators(operator: str, value: str, holds: bool) -> None:
    condition = Condition(1, "cpu_usage", operator, Decimal("80"), 1)
    _, transitions = run([(0, value)], condition)
    assert bool(transitions) is holds


def test_state_round_trips_through_json() -> None:
    state, _ = run([(m, "95") for m in range(6)])
    assert WindowState.from_dict(state.to_dict()) == state
    assert WindowState.from_dict({}) == WindowState()


def test_the_alert_id_is_a_function_of_rule_resource_and_trigger_time() -> None:
    _, transitions = run([(m, "95") for m in range(6)] + [(6, "10")])
    triggered, resolved = transitions
    assert triggered.alert_id == resolved.alert_id == alert_id(3, 41, T0 + timedelta(minutes=4))
    assert 0 < triggered.alert_id < 2**63
    assert alert_id(3, 41, T0) != alert_id(3, 42, T0) != alert_id(4, 41, T0)
