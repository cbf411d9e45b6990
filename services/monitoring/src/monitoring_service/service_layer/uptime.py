"""Uptime monitors' use cases: a tenant's monitors (create, list, get, change, delete), their
results and uptime percentages, and the checker's pass (run the due checks of its location,
keep each result, let the monitor decide down and up). The monitor checks its own fields and
status (domain/uptime_monitors.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from cpshared.clock import utcnow
from cpshared.errors import InvalidInput, NotFound
from monitoring_service.domain.uptime_monitors import CheckResult, UptimeMonitor, uptime_percent
from monitoring_service.service_layer.metrics import Reach
from monitoring_service.service_layer.ports import UptimeChecker
from monitoring_service.service_layer.unit_of_work import MonitoringUnitOfWork

UPTIME_WINDOWS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
MAX_RESULTS = 500


@dataclass(frozen=True)
class NewUptimeMonitor:
    user_id: int
    organization_id: int | None
    name: str
    type: str
    target: str
    port: int | None
    interval_seconds: int | None
    timeout_seconds: int | None
    regions: list[str]
    enabled: bool | None
    channels: list[tuple[str, str]]


@dataclass(frozen=True)
class UptimeMonitorChange:
    name: str | None = None
    target: str | None = None
    port: int | None = None
    interval_seconds: int | None = None
    timeout_seconds: int | None = None
    regions: list[str] | None = None
    enabled: bool | None = None
    channels: list[tuple[str, str]] | None = None


def create(new: NewUptimeMonitor, regions: tuple[str, ...], uow: MonitoringUnitOfWork) -> UptimeMonitor:
    monitor = UptimeMonitor.new(
        user_id=new.user_id,
        organization_id=new.organization_id,
        name=new.name,
        type_=new.type,
        target=new.target,
        port=new.port,
        interval_seconds=new.interval_seconds,
        timeout_seconds=new.timeout_seconds,
        regions=new.regions,
        known_regions=regions,
        enabled=new.enabled,
        channels=new.channels,
        now=utcnow(),
    )
    with uow:
        uow.uptime_monitors.add(monitor)
        monitor.created()
        uow.commit()
    return monitor


def list_monitors(user_id: int, organization_id: int | None, uow: MonitoringUnitOfWork) -> list[UptimeMonitor]:
    with uow:
        return uow.uptime_monitors.of_tenant(user_id, organization_id)


def _reached(monitor_id: int, reach: Reach, uow: MonitoringUnitOfWork, *, for_update: bool = False) -> UptimeMonitor:
    monitor = uow.uptime_monitors.get(monitor_id, for_update=for_update)
    if monitor is None:
        raise NotFound(f"uptime monitor {monitor_id} does not exist")
    reach(monitor.user_id, monitor.organization_id)
    return monitor


def get(monitor_id: int, reach: Reach, uow: MonitoringUnitOfWork) -> UptimeMonitor:
    with uow:
        return _reached(monitor_id, reach, uow)


def change(
    monitor_id: int, what: UptimeMonitorChange, regions: tuple[str, ...], reach: Reach, uow: MonitoringUnitOfWork
) -> UptimeMonitor:
    with uow:
        monitor = _reached(monitor_id, reach, uow, for_update=True)
        monitor.change(
            name=what.name,
            target=what.target,
            port=what.port,
            interval_seconds=what.interval_seconds,
            timeout_seconds=what.timeout_seconds,
            regions=what.regions,
            known_regions=regions,
            enabled=what.enabled,
            channels=what.channels,
            now=utcnow(),
        )
        uow.uptime_monitors.save(monitor)
        uow.commit()
    return monitor


def delete(monitor_id: int, reach: Reach, uow: MonitoringUnitOfWork) -> None:
    with uow:
        monitor = _reached(monitor_id, reach, uow, for_update=True)
        monitor.deleted()
        uow.uptime_monitors.delete(monitor)
        uow.commit()


@dataclass(frozen=True)
class Uptime:
    """A monitor's share of passed checks over each window (None: no check in it)."""

    percent: dict[str, float | None]
    checks: dict[str, int]


def uptime(monitor_id: int, reach: Reach, uow: MonitoringUnitOfWork) -> Uptime:
    now = utcnow()
    with uow:
        _reached(monitor_id, reach, uow)
        counts = {name: uow.uptime_monitors.counts(monitor_id, now - span) for name, span in UPTIME_WINDOWS.items()}
    return Uptime(
        {name: uptime_percent(passed, checks) for name, (passed, checks) in counts.items()},
        {name: checks for name, (_, checks) in counts.items()},
    )


def results(
    monitor_id: int, since: datetime | None, limit: int, reach: Reach, uow: MonitoringUnitOfWork
) -> list[CheckResult]:
    if not 1 <= limit <= MAX_RESULTS:
        message = f"limit must be 1 to {MAX_RESULTS}"
        raise InvalidInput(message, details={"fields": [{"name": "limit", "messages": [message]}]})
    now = utcnow()
    since = since or now - UPTIME_WINDOWS["24h"]
    if since < now - UPTIME_WINDOWS["30d"] - timedelta(days=1):
        message = "since must be within the last 30 days (results are kept for 30)"
        raise InvalidInput(message, details={"fields": [{"name": "since", "messages": [message]}]})
    with uow:
        _reached(monitor_id, reach, uow)
        return uow.uptime_monitors.results(monitor_id, since, limit)


@dataclass(frozen=True)
class CheckPass:
    checked: int
    down: int
    up: int


def check_due(
    checker: UptimeChecker, failures_to_down: int, uow: MonitoringUnitOfWork, *, limit: int = 50
) -> CheckPass:
    """Run the checks of the monitors due now at the checker's location, outside any
    transaction; then each result, the monitor's new state and its events are written in one
    transaction, with the monitor locked and still due (a second checker that got there first
    moved its next check on, and this result is dropped)."""
    checked = down = up = 0
    with uow:
        due = uow.uptime_monitors.due(utcnow(), checker.region, limit)
    for candidate in due:
        result = checker.check(candidate)
        with uow:
            monitor = uow.uptime_monitors.get(candidate.id, for_update=True)
            if monitor is None or not monitor.is_due(result.checked_at) or monitor.version != candidate.version:
                continue
            before = monitor.status
            uow.uptime_monitors.add_result(monitor.id, result)
            monitor.checked(result, failures_to_down)
            uow.uptime_monitors.save(monitor)
            uow.commit()
        checked += 1
        down += before != "down" and monitor.status == "down"
        up += before == "down" and monitor.status == "up"
    return CheckPass(checked, down, up)
