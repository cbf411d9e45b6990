"""The alert rule aggregate: every field's rule, and the events it records itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from cpshared.errors import InvalidInput
from monitoring_service.domain.alert_rules import AlertRule, Channel

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def _rule(**overrides: Any) -> AlertRule:
    fields: dict[str, Any] = {
        "user_id": 42,
        "organization_id": None,
        "name": "cpu high",
        "resource_type": "server",
        "resource_id": 7,
        "metric": "cpu_usage",
        "operator": "gte",
        "threshold": "80.5",
        "duration_minutes": None,
        "enabled": None,
        "channels": [("email", "ops@example.com"), ("webhook", "http://10.0.0.1:8080/hook"), ("in_app", "")],
        "now": NOW,
    }
    return AlertRule.new(**(fields | overrides))


def test_a_new_rule_has_the_seeds_defaults_and_records_its_creation_once_it_has_an_id() -> None:
    rule = _rule()
    assert (rule.duration_minutes, rule.enabled, rule.threshold) == (5, True, Decimal("80.50"))
    assert rule.channels[2] == Channel("in_app")
    assert rule.pop_events() == []
    rule.id = 31
    rule.created()
    [event] = rule.pop_events()
    assert (event.event_type, event.aggregate_id, event.version) == ("alert_rule.created", 31, 1)
    assert event.fields["channel_types"] == ["email", "webhook", "in_app"]
    assert "ops@example.com" not in str(event.fields)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"resource_type": "floating_ip"}, "resource_type"),
        ({"resource_id": 0}, "resource_id"),
        ({"metric": "read_iops"}, "metric"),
        ({"operator": "neq"}, "operator"),
        ({"threshold": "1.005"}, "threshold"),
        ({"threshold": "100000000"}, "threshold"),
        ({"threshold": "NaN"}, "threshold"),
        ({"duration_minutes": 0}, "duration_minutes"),
        ({"duration_minutes": 1441}, "duration_minutes"),
        ({"name": "  "}, "name"),
        ({"channels": [("webhook", "file:///etc/passwd")]}, "notification_channels[0]"),
        ({"channels": [("webhook", "https://")]}, "notification_channels[0]"),
        ({"channels": [("email", "a@b")]}, "notification_channels[0]"),
        ({"channels": [("in_app", "x")]}, "notification_channels[0]"),
        ({"channels": [("in_app", "")] * 11}, "notification_channels"),
    ],
)
def test_every_bad_field_is_refused_naming_it(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        _rule(**overrides)
    fields = refused.value.details["fields"]
    assert isinstance(fields, list) and fields[0]["name"] == field


def test_a_change_checks_everything_before_it_changes_anything() -> None:
    rule = _rule()
    rule.id = 31
    with pytest.raises(InvalidInput):
        rule.change(name="renamed", duration_minutes=0, now=NOW)
    assert (rule.name, rule.version, rule.events) == ("cpu high", 1, [])
    rule.change(threshold="-3", enabled=False, channels=[], now=NOW + timedelta(minutes=1))
    assert (rule.threshold, rule.enabled, rule.channels, rule.version) == (Decimal("-3.00"), False, (), 2)
    assert rule.updated_at == NOW + timedelta(minutes=1)
    rule.deleted()
    assert [(e.event_type, e.version) for e in rule.pop_events()] == [
        ("alert_rule.updated", 2),
        ("alert_rule.deleted", 3),
    ]
