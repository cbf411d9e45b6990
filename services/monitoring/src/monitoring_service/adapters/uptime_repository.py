"""Uptime monitors and their check results on MariaDB (uptime_monitors, uptime_check_results)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from monitoring_service.adapters.tables import uptime_check_results as r
from monitoring_service.adapters.tables import uptime_monitors as t
from monitoring_service.domain.alert_rules import Channel
from monitoring_service.domain.uptime_monitors import CheckResult, UptimeMonitor
from monitoring_service.service_layer.ports import UptimeMonitorRepository


def _db(when: datetime | None) -> datetime | None:
    return when.astimezone(UTC).replace(tzinfo=None) if when is not None else None


def _utc(when: datetime | None) -> datetime | None:
    return when.replace(tzinfo=UTC) if when is not None else None


def _values(m: UptimeMonitor) -> dict[str, Any]:
    return {
        "user_id": m.user_id,
        "organization_id": m.organization_id,
        "name": m.name,
        "type": m.type,
        "target": m.target,
        "port": m.port,
        "interval_seconds": m.interval_seconds,
        "timeout_seconds": m.timeout_seconds,
        "regions": list(m.regions),
        "enabled": m.enabled,
        "notification_channels": [{"type": c.type, "target": c.target} for c in m.channels],
        "created_at": _db(m.created_at),
        "updated_at": _db(m.updated_at),
        "version": m.version,
        "status": m.status,
        "consecutive_failures": m.consecutive_failures,
        "down_since": _db(m.down_since),
        "last_checked_at": _db(m.last_checked_at),
        "next_check_at": _db(m.next_check_at),
        "certificate_expires_at": _db(m.certificate_expires_at),
    }


def _monitor(row: sa.Row[Any]) -> UptimeMonitor:
    m = row._mapping
    created = _utc(m["created_at"])
    updated = _utc(m["updated_at"])
    assert created is not None and updated is not None
    return UptimeMonitor(
        id=int(m["id"]),
        user_id=int(m["user_id"]),
        organization_id=int(m["organization_id"]) if m["organization_id"] is not None else None,
        name=m["name"],
        type=m["type"],
        target=m["target"],
        port=int(m["port"]) if m["port"] is not None else None,
        interval_seconds=int(m["interval_seconds"] if m["interval_seconds"] is not None else 60),
        timeout_seconds=int(m["timeout_seconds"] if m["timeout_seconds"] is not None else 30),
        regions=tuple(m["regions"] or ()),
        enabled=bool(m["enabled"]) if m["enabled"] is not None else True,
        channels=tuple(Channel(c["type"], c.get("target", "")) for c in (m["notification_channels"] or [])),
        created_at=created,
        updated_at=updated,
        version=int(m["version"]),
        status=m["status"],
        consecutive_failures=int(m["consecutive_failures"]),
        down_since=_utc(m["down_since"]),
        last_checked_at=_utc(m["last_checked_at"]),
        next_check_at=_utc(m["next_check_at"]),
        certificate_expires_at=_utc(m["certificate_expires_at"]),
    )


def _result(row: sa.Row[Any]) -> CheckResult:
    m = row._mapping
    checked = _utc(m["checked_at"])
    assert checked is not None
    return CheckResult(
        region=m["region"],
        checked_at=checked,
        success=bool(m["success"]),
        latency_ms=m["latency_ms"],
        status_code=m["status_code"],
        error=m["error"] or "",
        certificate_expires_at=_utc(m["certificate_expires_at"]),
    )


class SqlUptimeMonitors(UptimeMonitorRepository):
    def __init__(self, session: Session) -> None:
        self.session = session
        self.seen: list[UptimeMonitor] = []

    def add(self, monitor: UptimeMonitor) -> UptimeMonitor:
        result = self.session.connection().execute(t.insert().values(_values(monitor)))
        monitor.id = int(result.inserted_primary_key[0])  # type: ignore[index]
        self.seen.append(monitor)
        return monitor

    def get(self, monitor_id: int, *, for_update: bool = False) -> UptimeMonitor | None:
        query = sa.select(t).where(t.c.id == monitor_id)
        if for_update:
            query = query.with_for_update()
        row = self.session.execute(query).one_or_none()
        return _monitor(row) if row is not None else None

    def of_tenant(self, user_id: int, organization_id: int | None) -> list[UptimeMonitor]:
        own = sa.and_(t.c.user_id == user_id, t.c.organization_id.is_(None))
        scope = sa.or_(own, t.c.organization_id == organization_id) if organization_id else own
        return [_monitor(row) for row in self.session.execute(sa.select(t).where(scope).order_by(t.c.id))]

    def due(self, now: datetime, region: str, limit: int) -> list[UptimeMonitor]:
        query = (
            sa.select(t)
            .where(t.c.enabled.is_(True), sa.or_(t.c.next_check_at.is_(None), t.c.next_check_at <= _db(now)))
            .where(sa.func.json_contains(t.c.regions, sa.func.json_quote(region)))
            .order_by(t.c.next_check_at, t.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [_monitor(row) for row in self.session.execute(query)]

    def save(self, monitor: UptimeMonitor) -> None:
        self.session.execute(t.update().where(t.c.id == monitor.id).values(_values(monitor)))
        self.seen.append(monitor)

    def delete(self, monitor: UptimeMonitor) -> None:
        self.session.execute(r.delete().where(r.c.uptime_monitor_id == monitor.id))
        self.session.execute(t.delete().where(t.c.id == monitor.id))
        self.seen.append(monitor)

    def add_result(self, monitor_id: int, result: CheckResult) -> None:
        self.session.execute(
            r.insert().values(
                uptime_monitor_id=monitor_id,
                region=result.region,
                checked_at=_db(result.checked_at),
                success=result.success,
                latency_ms=result.latency_ms,
                status_code=result.status_code,
                error=result.error[:500] or None,
                certificate_expires_at=_db(result.certificate_expires_at),
            )
        )

    def results(self, monitor_id: int, since: datetime, limit: int) -> list[CheckResult]:
        query = (
            sa.select(r)
            .where(r.c.uptime_monitor_id == monitor_id, r.c.checked_at >= _db(since))
            .order_by(r.c.checked_at.desc(), r.c.id.desc())
            .limit(limit)
        )
        return [_result(row) for row in self.session.execute(query)]

    def counts(self, monitor_id: int, since: datetime) -> tuple[int, int]:
        query = sa.select(
            sa.func.coalesce(sa.func.sum(sa.case((r.c.success.is_(True), 1), else_=0)), 0), sa.func.count()
        ).where(r.c.uptime_monitor_id == monitor_id, r.c.checked_at >= _db(since))
        passed, checks = self.session.execute(query).one()
        return int(passed), int(checks)
