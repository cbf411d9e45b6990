"""Uptime monitors: a host checked from the platform's checker locations every interval (http,
https, tcp or ping), down after a number of failed checks in a row, up again on the first check
that passes. The rules of every field and of the status live here; the monitor records its own
events (``uptime_monitor.created`` / ``updated`` / ``deleted``, ``uptime_monitor.down`` / ``up``)."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cpshared.errors import InvalidInput
from monitoring_service.domain.aggregate import Aggregate
from monitoring_service.domain.alert_rules import Channel, channels_of, checked_name

TYPES = ("http", "https", "tcp", "ping")
DEFAULT_PORTS = {"http": 80, "https": 443}
MIN_INTERVAL, MAX_INTERVAL, DEFAULT_INTERVAL = 30, 86_400, 60
"""Seconds between two checks: half a minute at least, a day at most."""
MIN_TIMEOUT, MAX_TIMEOUT, DEFAULT_TIMEOUT = 1, 60, 30
MAX_TARGET = 253
HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
MAX_ERROR = 500


def _bad(field_name: str, message: str) -> InvalidInput:
    return InvalidInput(message, details={"fields": [{"name": field_name, "messages": [message]}]})


def checked_type(type_: str) -> str:
    if type_ not in TYPES:
        raise _bad("type", f"type must be one of {', '.join(TYPES)}")
    return type_


def checked_target(target: str) -> str:
    """A host name (letters, digits and hyphens in dot-separated labels) or an IP address."""
    target = target.strip().lower()
    message = "target must be a host name or an IP address (no scheme, port or path)"
    if not target or len(target) > MAX_TARGET:
        raise _bad("target", message)
    try:
        return str(ipaddress.ip_address(target))
    except ValueError:
        pass
    labels = target.removesuffix(".").split(".")
    if not all(HOST_LABEL.match(label) for label in labels) or labels[-1].isdigit():
        raise _bad("target", message)
    return target


def checked_port(type_: str, port: int | None) -> int | None:
    if type_ == "ping":
        if port:
            raise _bad("port", "a ping monitor has no port")
        return None
    if port is None or port == 0:
        if type_ == "tcp":
            raise _bad("port", "a tcp monitor needs a port (1 to 65535)")
        return DEFAULT_PORTS[type_]
    if not 1 <= port <= 65_535:
        raise _bad("port", "port must be 1 to 65535")
    return port


def checked_interval(seconds: int) -> int:
    if not MIN_INTERVAL <= seconds <= MAX_INTERVAL:
        raise _bad("interval_seconds", f"interval_seconds must be {MIN_INTERVAL} to {MAX_INTERVAL}")
    return seconds


def checked_timeout(seconds: int, interval: int) -> int:
    if not MIN_TIMEOUT <= seconds <= min(MAX_TIMEOUT, interval):
        raise _bad(
            "timeout_seconds", f"timeout_seconds must be {MIN_TIMEOUT} to {MAX_TIMEOUT} and not above the interval"
        )
    return seconds


def checked_regions(regions: list[str], known: tuple[str, ...]) -> tuple[str, ...]:
    """The checker locations that run the monitor; none given: every configured one."""
    if not regions:
        return known
    unknown = [r for r in regions if r not in known]
    if unknown:
        raise _bad("regions", f"regions: {unknown[0]!r} is not a checker location; one of {', '.join(known)}")
    return tuple(sorted(set(regions), key=regions.index))


@dataclass(frozen=True)
class CheckResult:
    """One check of a monitor from one location."""

    region: str
    checked_at: datetime
    success: bool
    latency_ms: int | None = None
    status_code: int | None = None
    error: str = ""
    certificate_expires_at: datetime | None = None


@dataclass
class UptimeMonitor(Aggregate):
    id: int
    user_id: int
    organization_id: int | None
    name: str
    type: str
    target: str
    port: int | None
    interval_seconds: int
    timeout_seconds: int
    regions: tuple[str, ...]
    enabled: bool
    channels: tuple[Channel, ...]
    created_at: datetime
    updated_at: datetime
    version: int = 1
    status: str = "unknown"
    consecutive_failures: int = 0
    down_since: datetime | None = None
    last_checked_at: datetime | None = None
    next_check_at: datetime | None = None
    certificate_expires_at: datetime | None = field(default=None)

    @classmethod
    def new(
        cls,
        *,
        user_id: int,
        organization_id: int | None,
        name: str,
        type_: str,
        target: str,
        port: int | None,
        interval_seconds: int | None,
        timeout_seconds: int | None,
        regions: list[str],
        known_regions: tuple[str, ...],
        enabled: bool | None,
        channels: list[tuple[str, str]],
        now: datetime,
    ) -> UptimeMonitor:
        """A checked monitor without its id (the repository gives it; then :meth:`created`)."""
        type_ = checked_type(type_)
        interval = checked_interval(DEFAULT_INTERVAL if interval_seconds is None else interval_seconds)
        return cls(
            id=0,
            user_id=user_id,
            organization_id=organization_id,
            name=checked_name(name),
            type=type_,
            target=checked_target(target),
            port=checked_port(type_, port),
            interval_seconds=interval,
            timeout_seconds=checked_timeout(
                min(DEFAULT_TIMEOUT, interval) if timeout_seconds is None else timeout_seconds, interval
            ),
            regions=checked_regions(regions, known_regions),
            enabled=True if enabled is None else enabled,
            channels=channels_of(channels),
            created_at=now,
            updated_at=now,
            next_check_at=now,
        )

    def created(self) -> None:
        self._record("uptime_monitor.created")

    def change(
        self,
        *,
        name: str | None = None,
        target: str | None = None,
        port: int | None = None,
        interval_seconds: int | None = None,
        timeout_seconds: int | None = None,
        regions: list[str] | None = None,
        known_regions: tuple[str, ...] = (),
        enabled: bool | None = None,
        channels: list[tuple[str, str]] | None = None,
        now: datetime,
    ) -> None:
        """Change what is given (every value checked before anything changes)."""
        values: dict[str, Any] = {}
        if name is not None:
            values["name"] = checked_name(name)
        if target is not None:
            values["target"] = checked_target(target)
        if port is not None:
            values["port"] = checked_port(self.type, port)
        interval = checked_interval(interval_seconds) if interval_seconds is not None else self.interval_seconds
        values["interval_seconds"] = interval
        values["timeout_seconds"] = checked_timeout(
            timeout_seconds if timeout_seconds is not None else self.timeout_seconds, interval
        )
        if regions is not None:
            values["regions"] = checked_regions(regions, known_regions)
        if enabled is not None:
            values["enabled"] = enabled
        if channels is not None:
            values["channels"] = channels_of(channels)
        for key, value in values.items():
            setattr(self, key, value)
        if "target" in values or "port" in values or enabled is False:
            # Another host, or paused: what was known of the old one no longer says anything.
            self.status, self.consecutive_failures, self.down_since = "unknown", 0, None
        if enabled:
            self.next_check_at = now
        self.updated_at = now
        self.version += 1
        self._record("uptime_monitor.updated")

    def deleted(self) -> None:
        self.version += 1
        self._record("uptime_monitor.deleted")

    def is_due(self, now: datetime) -> bool:
        return self.enabled and (self.next_check_at is None or self.next_check_at <= now)

    def checked(self, result: CheckResult, failures_to_down: int) -> None:
        """Take one check's result: down on the ``failures_to_down``-th failure in a row, up on
        the first success after (each an event); the next check one interval after this one."""
        self.last_checked_at = result.checked_at
        self.next_check_at = result.checked_at + timedelta(seconds=self.interval_seconds)
        if result.certificate_expires_at is not None:
            self.certificate_expires_at = result.certificate_expires_at
        if result.success:
            failures, since = self.consecutive_failures, self.down_since
            was_down = self.status == "down"
            self.status, self.consecutive_failures, self.down_since = "up", 0, None
            if was_down:
                self.version += 1
                self._status_event("uptime_monitor.up", result, failures, since)
            return
        if self.consecutive_failures == 0:
            self.down_since = result.checked_at
        self.consecutive_failures += 1
        if self.status != "down" and self.consecutive_failures >= failures_to_down:
            self.status = "down"
            self.version += 1
            self._status_event("uptime_monitor.down", result, self.consecutive_failures, self.down_since)

    def _status_event(self, event_type: str, result: CheckResult, failures: int, since: datetime | None) -> None:
        fields = self._owner() | {
            "status": self.status,
            "at": result.checked_at,
            "consecutive_failures": failures,
            "error": "" if result.success else result.error[:MAX_ERROR],
            "region": result.region,
            "latency_ms": result.latency_ms or 0 if result.success else 0,
            "channel_types": [c.type for c in self.channels],
        }
        if since is not None:
            fields["down_since"] = since
        self._emit(event_type, self.id, self.version, fields)

    def _owner(self) -> dict[str, Any]:
        return {
            "uptime_monitor_id": self.id,
            "user_id": self.user_id,
            "organization_id": self.organization_id or 0,
            "name": self.name,
            "type": self.type,
            "target": self.target,
            "port": self.port or 0,
        }

    def _record(self, event_type: str) -> None:
        self._emit(
            event_type,
            self.id,
            self.version,
            self._owner()
            | {
                "interval_seconds": self.interval_seconds,
                "timeout_seconds": self.timeout_seconds,
                "regions": list(self.regions),
                "enabled": self.enabled,
                "channel_types": [c.type for c in self.channels],
            },
        )


def uptime_percent(successes: int, checks: int) -> float | None:
    """The share of checks that passed, in percent to two places; None without checks."""
    if checks <= 0:
        return None
    return round(100.0 * successes / checks, 2)
