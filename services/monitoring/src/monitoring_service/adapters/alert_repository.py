"""Alerts on MariaDB: alert_history joined with its rule (the tenant, the condition)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from monitoring_service.adapters.tables import alert_history as h
from monitoring_service.adapters.tables import alert_rules as r
from monitoring_service.domain.alerts import Alert
from monitoring_service.service_layer.ports import AlertRepository

MAX_LISTED = 1000
"""The newest alerts a list answers at most."""


def _utc(when: datetime | None) -> datetime | None:
    return when.replace(tzinfo=UTC) if when is not None else None


def _alert(row: sa.Row[Any]) -> Alert:
    m = row._mapping
    return Alert(
        id=int(m["id"]),
        alert_rule_id=int(m["alert_rule_id"]),
        user_id=int(m["user_id"]),
        organization_id=int(m["organization_id"]) if m["organization_id"] is not None else None,
        rule_name=m["name"],
        resource_type=m["resource_type"],
        resource_id=int(m["resource_id"]) if m["resource_id"] is not None else None,
        metric=m["metric"],
        operator=m["operator"],
        threshold=m["threshold"],
        duration_minutes=int(m["duration_minutes"] or 0),
        status=m["status"],
        value=m["value"],
        message=m["message"] or "",
        triggered_at=m["triggered_at"].replace(tzinfo=UTC),
        resolved_at=_utc(m["resolved_at"]),
        acknowledged_at=_utc(m["acknowledged_at"]),
        acknowledged_by=int(m["acknowledged_by"]) if m["acknowledged_by"] is not None else None,
    )


_SELECT = sa.select(
    h,
    r.c.user_id,
    r.c.organization_id,
    r.c.name,
    r.c.metric,
    r.c.operator,
    r.c.threshold,
    r.c.duration_minutes,
).join(r, r.c.id == h.c.alert_rule_id)


class SqlAlerts(AlertRepository):
    def __init__(self, session: Session) -> None:
        self._session = session

    def get(self, alert_id: int, *, for_update: bool = False) -> Alert | None:
        statement = _SELECT.where(h.c.id == alert_id)
        if for_update:
            statement = statement.with_for_update(of=h)
        row = self._session.execute(statement).first()
        return _alert(row) if row is not None else None

    def of_tenant(
        self, user_id: int, organization_id: int | None, *, status: str = "", alert_rule_id: int = 0
    ) -> list[Alert]:
        own = sa.and_(r.c.user_id == user_id, r.c.organization_id.is_(None))
        scope = sa.or_(own, r.c.organization_id == organization_id) if organization_id else own
        statement = _SELECT.where(scope)
        if status:
            statement = statement.where(h.c.status == status)
        if alert_rule_id:
            statement = statement.where(h.c.alert_rule_id == alert_rule_id)
        statement = statement.order_by(h.c.triggered_at.desc(), h.c.id.desc()).limit(MAX_LISTED)
        return [_alert(row) for row in self._session.execute(statement)]

    def save_acknowledgement(self, alert: Alert) -> None:
        assert alert.acknowledged_at is not None
        self._session.execute(
            sa.update(h)
            .where(h.c.id == alert.id)
            .values(
                status=alert.status,
                acknowledged_at=alert.acknowledged_at.astimezone(UTC).replace(tzinfo=None),
                acknowledged_by=alert.acknowledged_by,
            )
        )

    def delete_resolved_before(self, cutoff: datetime, limit: int) -> int:
        ids = (
            self._session.execute(
                sa.select(h.c.id)
                .where(h.c.status == "resolved", h.c.resolved_at < cutoff.astimezone(UTC).replace(tzinfo=None))
                .order_by(h.c.resolved_at)
                .limit(limit)
            )
            .scalars()
            .all()
        )
        if not ids:
            return 0
        result = self._session.execute(sa.delete(h).where(h.c.id.in_(list(ids))))
        return int(getattr(result, "rowcount", 0))
