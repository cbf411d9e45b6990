"""``/v1/alerts``: the tenant's alerts — each firing of one of its alert rules about one resource,
from monitoring's alert processor — kept by the monitoring service (the platform's own family,
in Hetzner's conventions of errors, pagination and sorting).

- ``GET /v1/alerts``: the caller's alerts (with a key bound to an organization, that
  organization's too), newest first, filtered by ``status`` (triggered, resolved, acknowledged)
  and ``alert_rule_id``, sorted by ``id`` or ``triggered``, paged with ``meta.pagination``.
- ``GET /v1/alerts/{id}``: one alert the caller reaches; another tenant's is ``404 not_found``.
- ``POST /v1/alerts/{id}/actions/acknowledge``: the caller acknowledges it (who and when; the
  first acknowledgement stands, again answers the alert as it is).

Scopes ``alerts:read`` and ``alerts:write``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel

from cloudplatform.monitoring.v1 import alert_service_pb2 as pb
from gateway_service.api.common import MAX_ID, Meta, one_page, sort_items, tenant
from gateway_service.auth.gate import Authenticated
from gateway_service.auth.policy import Access, Family
from gateway_service.auth.scoped import scope
from gateway_service.clients.backends import backends
from hetzner_conventions.pagination import parse_page_request
from hetzner_conventions.sorting import parse_sort

router = APIRouter(prefix="/v1/alerts", tags=["alerts"])

SORTABLE = ("id", "triggered")
AlertId = Annotated[int, Path(ge=1, le=MAX_ID, description="ID of the alert.")]
Status = Literal["triggered", "resolved", "acknowledged"]


class AlertOut(BaseModel):
    id: int
    alert_rule_id: int
    rule_name: str
    resource_type: str
    resource_id: int | None
    metric: str
    operator: str
    threshold: float
    duration_minutes: int
    status: str
    value: float | None
    message: str
    triggered: datetime
    resolved: datetime | None
    acknowledged: datetime | None
    acknowledged_by: int | None


class AlertAnswer(BaseModel):
    alert: AlertOut


class AlertsAnswer(BaseModel):
    alerts: list[AlertOut]
    meta: Meta


def _time(message: Any, field: str) -> datetime | None:
    return getattr(message, field).ToDatetime(UTC) if message.HasField(field) else None


def alert_out(alert: pb.Alert) -> AlertOut:
    return AlertOut(
        id=alert.id,
        alert_rule_id=alert.alert_rule_id,
        rule_name=alert.rule_name,
        resource_type=alert.resource_type,
        resource_id=alert.resource_id or None,
        metric=alert.metric,
        operator=alert.operator,
        threshold=float(Decimal(alert.threshold or "0")),
        duration_minutes=alert.duration_minutes,
        status=alert.status,
        value=float(Decimal(alert.value)) if alert.value else None,
        message=alert.message,
        triggered=alert.triggered_at.ToDatetime(UTC),
        resolved=_time(alert, "resolved_at"),
        acknowledged=_time(alert, "acknowledged_at"),
        acknowledged_by=alert.acknowledged_by or None,
    )


def _sort_value(alert: pb.Alert, field: str) -> Any:
    if field == "triggered":
        return (alert.triggered_at.seconds, alert.triggered_at.nanos, alert.id)
    return alert.id


@router.get("")
@scope(Family.ALERTS, Access.READ)
async def list_alerts(
    request: Request,
    response: Response,
    principal: Authenticated,
    status: Annotated[Status | None, Query(description="Only alerts of this status.")] = None,
    alert_rule_id: Annotated[int | None, Query(ge=1, le=MAX_ID, description="Only alerts of this rule.")] = None,
    sort: Annotated[list[str] | None, Query(description="id or triggered, optionally :asc or :desc.")] = None,
    page: str | None = None,
    per_page: str | None = None,
) -> AlertsAnswer:
    """The caller's alerts, newest first unless sorted, one page of them."""
    page_request = parse_page_request(page, per_page)
    sort_keys = parse_sort(sort or [], SORTABLE)
    found = await backends(request).alerts.list(*tenant(principal), status or "", alert_rule_id or 0)
    ordered = sort_items(found, sort_keys, _sort_value) if sort_keys else found
    shown, meta = one_page(request, response, ordered, page_request)
    return AlertsAnswer(alerts=[alert_out(alert) for alert in shown], meta=meta)


@router.get("/{id}")
@scope(Family.ALERTS, Access.READ)
async def get_alert(request: Request, principal: Authenticated, id: AlertId) -> AlertAnswer:
    """One alert the caller reaches."""
    alert = await backends(request).alerts.get(id, tenant(principal)[1])
    return AlertAnswer(alert=alert_out(alert))


@router.post("/{id}/actions/acknowledge")
@scope(Family.ALERTS, Access.WRITE)
async def acknowledge_alert(request: Request, principal: Authenticated, id: AlertId) -> AlertAnswer:
    """Acknowledge an alert as the caller (the first acknowledgement stands)."""
    user_id, organization_id = tenant(principal)
    alert = await backends(request).alerts.acknowledge(id, user_id, organization_id)
    return AlertAnswer(alert=alert_out(alert))
