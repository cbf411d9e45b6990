"""Alert rules on MariaDB (alert_rules), on the unit of work's session."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from monitoring_service.adapters.tables import alert_rules as t
from monitoring_service.domain.alert_rules import AlertRule, Channel
from monitoring_service.service_layer.ports import AlertRuleRepository


def _db(when: datetime) -> datetime:
    return when.astimezone(UTC).replace(tzinfo=None)


def _values(rule: AlertRule) -> dict[str, Any]:
    return {
        "user_id": rule.user_id,
        "organization_id": rule.organization_id,
        "name": rule.name,
        "resource_type": rule.resource_type,
        "resource_id": rule.resource_id,
        "metric": rule.metric,
        "operator": rule.operator,
        "threshold": rule.threshold,
        "duration_minutes": rule.duration_minutes,
        "enabled": rule.enabled,
        "notification_channels": [{"type": c.type, "target": c.target} for c in rule.channels],
        "created_at": _db(rule.created_at),
        "updated_at": _db(rule.updated_at),
        "version": rule.version,
    }


def _rule(row: sa.Row[Any]) -> AlertRule:
    m = row._mapping
    return AlertRule(
        id=int(m["id"]),
        user_id=int(m["user_id"]),
        organization_id=int(m["organization_id"]) if m["organization_id"] is not None else None,
        name=m["name"],
        resource_type=m["resource_type"],
        resource_id=int(m["resource_id"]) if m["resource_id"] is not None else None,
        metric=m["metric"],
        operator=m["operator"],
        threshold=m["threshold"],
        duration_minutes=int(m["duration_minutes"] if m["duration_minutes"] is not None else 5),
        enabled=bool(m["enabled"]) if m["enabled"] is not None else True,
        channels=tuple(Channel(c["type"], c.get("target", "")) for c in (m["notification_channels"] or [])),
        created_at=m["created_at"].replace(tzinfo=UTC),
        updated_at=m["updated_at"].replace(tzinfo=UTC),
        version=int(m["version"]),
    )


class SqlAlertRules(AlertRuleRepository):
    def __init__(self, session: Session) -> None:
        self.session = session
        self.seen: list[AlertRule] = []

    def add(self, rule: AlertRule) -> AlertRule:
        result = self.session.connection().execute(t.insert().values(_values(rule)))
        rule.id = int(result.inserted_primary_key[0])  # type: ignore[index]
        self.seen.append(rule)
        return rule

    def get(self, rule_id: int, *, for_update: bool = False) -> AlertRule | None:
        query = sa.select(t).where(t.c.id == rule_id)
        if for_update:
            query = query.with_for_update()
        row = self.session.execute(query).one_or_none()
        return _rule(row) if row is not None else None

    def of_tenant(self, user_id: int, organization_id: int | None, resource_type: str) -> list[AlertRule]:
        own = sa.and_(t.c.user_id == user_id, t.c.organization_id.is_(None))
        scope = sa.or_(own, t.c.organization_id == organization_id) if organization_id else own
        query = sa.select(t).where(scope).order_by(t.c.id)
        if resource_type:
            query = query.where(t.c.resource_type == resource_type)
        return [_rule(row) for row in self.session.execute(query)]

    def save(self, rule: AlertRule) -> None:
        self.session.execute(t.update().where(t.c.id == rule.id).values(_values(rule)))
        self.seen.append(rule)

    def delete(self, rule: AlertRule) -> None:
        self.session.execute(t.delete().where(t.c.id == rule.id))
        self.seen.append(rule)
