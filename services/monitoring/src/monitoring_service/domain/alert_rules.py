"""Alert rules: a metric of a server, volume or load balancer compared with a threshold for a
duration, and where to notify. The rules of every field live here; the rule records its own
events (``alert_rule.created`` / ``updated`` / ``deleted``)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from cpshared.errors import InvalidInput
from monitoring_service.domain.aggregate import Aggregate

RESOURCE_TYPES = ("server", "volume", "load_balancer")
OPERATORS = ("gt", "gte", "lt", "lte", "eq")
METRICS: dict[str, tuple[str, ...]] = {
    # server_metrics' columns (memory and load averages come from an in-guest agent).
    "server": (
        "cpu_usage",
        "cpu_load_1min",
        "cpu_load_5min",
        "cpu_load_15min",
        "memory_usage_percent",
        "disk_read_iops",
        "disk_write_iops",
        "disk_read_mb",
        "disk_write_mb",
        "network_in_mbps",
        "network_out_mbps",
        "network_packets_in",
        "network_packets_out",
    ),
    "volume": ("read_iops", "write_iops", "read_mb", "write_mb", "usage_percent"),
    # Hetzner's load balancer metrics.
    "load_balancer": (
        "open_connections",
        "connections_per_second",
        "requests_per_second",
        "bandwidth_in",
        "bandwidth_out",
    ),
}
MIN_DURATION, MAX_DURATION, DEFAULT_DURATION = 1, 1440, 5
"""A condition held for a minute at least and a day at most."""
MAX_THRESHOLD = Decimal("99999999.99")
"""DECIMAL(10,2)."""
MAX_NAME = 255
MAX_CHANNELS = 10
CHANNEL_TYPES = ("email", "webhook", "in_app")
MAX_TARGET = 2048
EMAIL = re.compile(
    r"^[^@\s]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)


def _bad(field_name: str, message: str) -> InvalidInput:
    return InvalidInput(message, details={"fields": [{"name": field_name, "messages": [message]}]})


@dataclass(frozen=True)
class Channel:
    type: str
    target: str = ""

    @classmethod
    def of(cls, type_: str, target: str, index: int) -> Channel:
        where = f"notification_channels[{index}]"
        if type_ not in CHANNEL_TYPES:
            raise _bad(where, f"{where}.type must be one of {', '.join(CHANNEL_TYPES)}")
        target = target.strip()
        if type_ == "in_app":
            if target:
                raise _bad(where, f"{where}: an in_app channel has no target")
            return cls(type_)
        if not target or len(target) > MAX_TARGET:
            raise _bad(where, f"{where}.target is required and at most {MAX_TARGET} characters")
        if type_ == "email" and (len(target) > 254 or not EMAIL.match(target)):
            raise _bad(where, f"{where}.target must be an email address")
        if type_ == "webhook":
            try:
                url = urlsplit(target)
                host = url.hostname
            except ValueError:
                host, url = None, None
            if url is None or url.scheme not in ("http", "https") or not host or any(c.isspace() for c in target):
                raise _bad(where, f"{where}.target must be an http:// or https:// URL with a host")
        return cls(type_, target)


def channels_of(raw: list[tuple[str, str]]) -> tuple[Channel, ...]:
    if len(raw) > MAX_CHANNELS:
        raise _bad("notification_channels", f"notification_channels may list {MAX_CHANNELS} channels at most")
    channels = tuple(Channel.of(type_, target, n) for n, (type_, target) in enumerate(raw))
    if len(set(channels)) != len(channels):
        raise _bad("notification_channels", "notification_channels lists a channel twice")
    return channels


def checked_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > MAX_NAME:
        raise _bad("name", f"name must be 1 to {MAX_NAME} characters")
    return name


def checked_resource(resource_type: str) -> str:
    if resource_type not in RESOURCE_TYPES:
        raise _bad("resource_type", f"resource_type must be one of {', '.join(RESOURCE_TYPES)}")
    return resource_type


def checked_metric(resource_type: str, metric: str) -> str:
    known = METRICS[resource_type]
    if metric not in known:
        raise _bad("metric", f"a {resource_type} has no metric {metric!r}; one of {', '.join(known)}")
    return metric


def checked_operator(operator: str) -> str:
    if operator not in OPERATORS:
        raise _bad("operator", f"operator must be one of {', '.join(OPERATORS)}")
    return operator


def checked_threshold(raw: str) -> Decimal:
    try:
        value = Decimal(raw.strip())
    except (InvalidOperation, AttributeError):
        raise _bad("threshold", "threshold must be a number") from None
    if not value.is_finite() or abs(value) > MAX_THRESHOLD:
        raise _bad("threshold", f"threshold must be a number between -{MAX_THRESHOLD} and {MAX_THRESHOLD}")
    if value != value.quantize(Decimal("0.01")):
        raise _bad("threshold", "threshold has two decimal places at most")
    return value.quantize(Decimal("0.01"))


def checked_duration(minutes: int) -> int:
    if not MIN_DURATION <= minutes <= MAX_DURATION:
        raise _bad("duration_minutes", f"duration_minutes must be {MIN_DURATION} to {MAX_DURATION} (a day)")
    return minutes


@dataclass
class AlertRule(Aggregate):
    id: int
    user_id: int
    organization_id: int | None
    name: str
    resource_type: str
    resource_id: int | None
    metric: str
    operator: str
    threshold: Decimal
    duration_minutes: int
    enabled: bool
    channels: tuple[Channel, ...]
    created_at: datetime
    updated_at: datetime
    version: int = field(default=1)

    @classmethod
    def new(
        cls,
        *,
        user_id: int,
        organization_id: int | None,
        name: str,
        resource_type: str,
        resource_id: int | None,
        metric: str,
        operator: str,
        threshold: str,
        duration_minutes: int | None,
        enabled: bool | None,
        channels: list[tuple[str, str]],
        now: datetime,
    ) -> AlertRule:
        """A checked rule without its id (the repository gives it; then :meth:`created`)."""
        resource_type = checked_resource(resource_type)
        if resource_id is not None and resource_id <= 0:
            raise _bad("resource_id", "resource_id must be a positive id, or absent for every resource of the type")
        return cls(
            id=0,
            user_id=user_id,
            organization_id=organization_id,
            name=checked_name(name),
            resource_type=resource_type,
            resource_id=resource_id,
            metric=checked_metric(resource_type, metric),
            operator=checked_operator(operator),
            threshold=checked_threshold(threshold),
            duration_minutes=checked_duration(DEFAULT_DURATION if duration_minutes is None else duration_minutes),
            enabled=True if enabled is None else enabled,
            channels=channels_of(channels),
            created_at=now,
            updated_at=now,
        )

    def created(self) -> None:
        self._record("alert_rule.created")

    def change(
        self,
        *,
        name: str | None = None,
        metric: str | None = None,
        operator: str | None = None,
        threshold: str | None = None,
        duration_minutes: int | None = None,
        enabled: bool | None = None,
        channels: list[tuple[str, str]] | None = None,
        now: datetime,
    ) -> None:
        """Change what is given (every value checked before anything changes)."""
        values: dict[str, Any] = {}
        if name is not None:
            values["name"] = checked_name(name)
        if metric is not None:
            values["metric"] = checked_metric(self.resource_type, metric)
        if operator is not None:
            values["operator"] = checked_operator(operator)
        if threshold is not None:
            values["threshold"] = checked_threshold(threshold)
        if duration_minutes is not None:
            values["duration_minutes"] = checked_duration(duration_minutes)
        if enabled is not None:
            values["enabled"] = enabled
        if channels is not None:
            values["channels"] = channels_of(channels)
        for key, value in values.items():
            setattr(self, key, value)
        self.updated_at = now
        self.version += 1
        self._record("alert_rule.updated")

    def deleted(self) -> None:
        self.version += 1
        self._record("alert_rule.deleted")

    def _record(self, event_type: str) -> None:
        self._emit(
            event_type,
            self.id,
            self.version,
            {
                "alert_rule_id": self.id,
                "user_id": self.user_id,
                "organization_id": self.organization_id or 0,
                "name": self.name,
                "resource_type": self.resource_type,
                "resource_id": self.resource_id or 0,
                "metric": self.metric,
                "operator": self.operator,
                "threshold": str(self.threshold),
                "duration_minutes": self.duration_minutes,
                "enabled": self.enabled,
                "channel_types": [c.type for c in self.channels],
            },
        )
