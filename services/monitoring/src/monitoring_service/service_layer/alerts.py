"""Alerts' use cases: list, get and acknowledge a tenant's alerts. alert_history is kept from the
alert events by monitoring's consumer; an acknowledgement is written here too (read your own
write) with its ``alert.acknowledged`` in the same transaction, under a deterministic id (one
acknowledgement per alert: the first stands, a second changes nothing and records nothing),
and the consumer applying that event later finds the row as it is."""

from __future__ import annotations

from cloudplatform.monitoring.v1 import events_pb2 as pb
from cpshared.clock import utcnow
from cpshared.errors import InvalidInput, NotFound
from cpshared.events import catalog
from cpshared.events.envelope import PendingEvent, deterministic_event_id, new_event
from cpshared.timestamps import to_timestamp
from monitoring_service import SERVICE_NAME
from monitoring_service.domain.alerts import STATUSES, Alert
from monitoring_service.service_layer.metrics import Reach
from monitoring_service.service_layer.unit_of_work import MonitoringUnitOfWork

ACKNOWLEDGED_VERSION = 3
"""An alert's aggregate version names its step: triggered 1, resolved 2, acknowledged 3."""


def list_alerts(
    user_id: int, organization_id: int | None, status: str, alert_rule_id: int, uow: MonitoringUnitOfWork
) -> list[Alert]:
    if status and status not in STATUSES:
        message = f"status must be one of {', '.join(STATUSES)}"
        raise InvalidInput(message, details={"fields": [{"name": "status", "messages": [message]}]})
    with uow:
        return uow.alerts.of_tenant(user_id, organization_id, status=status, alert_rule_id=alert_rule_id)


def _reached(alert_id: int, reach: Reach, uow: MonitoringUnitOfWork, *, for_update: bool = False) -> Alert:
    alert = uow.alerts.get(alert_id, for_update=for_update) if alert_id > 0 else None
    if alert is None:
        raise NotFound(f"alert {alert_id} does not exist")
    reach(alert.user_id, alert.organization_id)
    return alert


def get(alert_id: int, reach: Reach, uow: MonitoringUnitOfWork) -> Alert:
    with uow:
        return _reached(alert_id, reach, uow)


def acknowledged_event(alert: Alert) -> PendingEvent:
    assert alert.acknowledged_at is not None
    payload = pb.AlertChanged(
        alert_id=alert.id,
        alert_rule_id=alert.alert_rule_id,
        user_id=alert.user_id,
        organization_id=alert.organization_id or 0,
        rule_name=alert.rule_name,
        resource_type=alert.resource_type,
        resource_id=alert.resource_id or 0,
        metric=alert.metric,
        operator=alert.operator,
        threshold=str(alert.threshold),
        duration_minutes=alert.duration_minutes,
        status=alert.status,
        value=str(alert.value) if alert.value is not None else "",
        message=alert.message,
        triggered_at=to_timestamp(alert.triggered_at),
        resolved_at=to_timestamp(alert.resolved_at),
        acknowledged_at=to_timestamp(alert.acknowledged_at),
        acknowledged_by=alert.acknowledged_by or 0,
    )
    return new_event(
        catalog.ALERT_ACKNOWLEDGED,
        producer=SERVICE_NAME,
        aggregate_id=alert.id,
        aggregate_version=ACKNOWLEDGED_VERSION,
        payload=payload,
        event_id=deterministic_event_id("alert", alert.id, "acknowledged"),
    )


def acknowledge(alert_id: int, user_id: int, reach: Reach, uow: MonitoringUnitOfWork) -> Alert:
    """Acknowledge an alert the caller reaches, as ``user_id``."""
    if user_id <= 0:
        raise InvalidInput("an alert is acknowledged by a user")
    with uow:
        alert = _reached(alert_id, reach, uow, for_update=True)
        if alert.acknowledged:
            return alert
        alert = alert.acknowledge(user_id, utcnow())
        uow.alerts.save_acknowledgement(alert)
        uow.record_once([acknowledged_event(alert)])
        uow.commit()
    return alert
