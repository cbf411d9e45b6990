"""``/v1/alert_rules``: the tenant's alert rules, kept by the monitoring service (not a Hetzner
family: the platform's own, in Hetzner's conventions of errors, pagination and sorting).

- ``GET /v1/alert_rules``: the caller's rules (with a key bound to an organization, that
  organization's too), filtered by ``resource_type``, sorted by ``id``, ``name`` or ``created``,
  paged with ``meta.pagination`` and a ``Link`` header.
- ``POST /v1/alert_rules`` (``name``; ``resource_type`` server, volume or load_balancer;
  ``resource_id``, absent for every resource of the type; ``metric`` of that type; ``operator``
  gt, gte, lt, lte or eq; ``threshold``, two decimal places at most; ``duration_minutes`` 1 to
  1440, 5 by default; ``enabled``, true by default; ``notification_channels``: at most 10 of
  ``{"type": "email", "target": address}``, ``{"type": "webhook", "target": http(s) URL}``,
  ``{"type": "in_app"}``). Bad input is ``400 invalid_input`` naming the field, nothing made.
- ``GET``/``PUT`` (the fields to change; ``resource_type`` and ``resource_id`` stay)/``DELETE
  /v1/alert_rules/{id}``: one rule the caller reaches; another tenant's is ``404 not_found``.

Scopes ``alert_rules:read`` and ``alert_rules:write``. Evaluating the rules is a later piece.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from cloudplatform.monitoring.v1 import alert_rule_service_pb2 as pb
from gateway_service.api.common import MAX_ID, BodyId, Meta, Text, one_page, sort_items, tenant
from gateway_service.auth.gate import Authenticated
from gateway_service.auth.policy import Access, Family
from gateway_service.auth.scoped import scope
from gateway_service.clients.backends import backends
from hetzner_conventions.pagination import parse_page_request
from hetzner_conventions.sorting import parse_sort

router = APIRouter(prefix="/v1/alert_rules", tags=["alert_rules"])

SORTABLE = ("id", "name", "created")
AlertRuleId = Annotated[int, Path(ge=1, le=MAX_ID, description="ID of the alert rule.")]
ResourceType = Literal["server", "volume", "load_balancer"]
INT32 = 2**31 - 1


class ChannelIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: str = Field(max_length=20, description="email, webhook or in_app.")
    target: str = Field(default="", max_length=2048, description="The address (email) or http(s) URL (webhook).")


class ChannelOut(BaseModel):
    type: str
    target: str | None


class AlertRuleOut(BaseModel):
    id: int
    name: str
    resource_type: str
    resource_id: int | None
    metric: str
    operator: str
    threshold: float
    duration_minutes: int
    enabled: bool
    notification_channels: list[ChannelOut]
    created: datetime
    updated: datetime


class AlertRuleAnswer(BaseModel):
    alert_rule: AlertRuleOut


class AlertRulesAnswer(BaseModel):
    alert_rules: list[AlertRuleOut]
    meta: Meta


class NewAlertRule(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: Text = Field(min_length=1, max_length=255)
    resource_type: ResourceType
    resource_id: BodyId | None = Field(default=None, description="Absent: every resource of the type.")
    metric: str = Field(min_length=1, max_length=50)
    operator: str = Field(min_length=1, max_length=10, description="gt, gte, lt, lte or eq.")
    threshold: Decimal = Field(allow_inf_nan=False, description="Two decimal places at most.")
    duration_minutes: int = Field(default=5, ge=-INT32, le=INT32, description="1 to 1440.")
    enabled: bool = True
    notification_channels: list[ChannelIn] = Field(default_factory=list, max_length=100)


class AlertRuleChange(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: Text | None = Field(default=None, min_length=1, max_length=255)
    metric: str | None = Field(default=None, min_length=1, max_length=50)
    operator: str | None = Field(default=None, min_length=1, max_length=10)
    threshold: Decimal | None = Field(default=None, allow_inf_nan=False)
    duration_minutes: int | None = Field(default=None, ge=-INT32, le=INT32)
    enabled: bool | None = None
    notification_channels: list[ChannelIn] | None = Field(default=None, max_length=100)


def _channels(channels: list[ChannelIn]) -> list[pb.NotificationChannel]:
    return [pb.NotificationChannel(type=c.type, target=c.target) for c in channels]


def _threshold(value: Decimal) -> str:
    return format(value, "f")


def _time(stamp: Any) -> datetime:
    return stamp.ToDatetime(UTC)  # type: ignore[no-any-return]


def alert_rule_out(rule: pb.AlertRule) -> AlertRuleOut:
    return AlertRuleOut(
        id=rule.id,
        name=rule.name,
        resource_type=rule.resource_type,
        resource_id=rule.resource_id or None,
        metric=rule.metric,
        operator=rule.operator,
        threshold=float(Decimal(rule.threshold)),
        duration_minutes=rule.duration_minutes,
        enabled=rule.enabled,
        notification_channels=[ChannelOut(type=c.type, target=c.target or None) for c in rule.channels],
        created=_time(rule.created_at),
        updated=_time(rule.updated_at),
    )


def _sort_value(rule: pb.AlertRule, field: str) -> Any:
    if field == "created":
        return (rule.created_at.seconds, rule.created_at.nanos, rule.id)
    return getattr(rule, field)


@router.get("")
@scope(Family.ALERT_RULES, Access.READ)
async def list_alert_rules(
    request: Request,
    response: Response,
    principal: Authenticated,
    resource_type: Annotated[ResourceType | None, Query(description="Only rules of this resource type.")] = None,
    sort: Annotated[list[str] | None, Query(description="id, name or created, optionally :asc or :desc.")] = None,
    page: str | None = None,
    per_page: str | None = None,
) -> AlertRulesAnswer:
    """The caller's alert rules, one page of them."""
    page_request = parse_page_request(page, per_page)
    sort_keys = parse_sort(sort or [], SORTABLE)
    rules = await backends(request).alert_rules.list(*tenant(principal), resource_type or "")
    shown, meta = one_page(request, response, sort_items(rules, sort_keys, _sort_value), page_request)
    return AlertRulesAnswer(alert_rules=[alert_rule_out(rule) for rule in shown], meta=meta)


@router.post("", status_code=201)
@scope(Family.ALERT_RULES, Access.WRITE)
async def create_alert_rule(request: Request, principal: Authenticated, body: NewAlertRule) -> AlertRuleAnswer:
    """A new alert rule in the caller's tenant."""
    user_id, organization_id = tenant(principal)
    rule = await backends(request).alert_rules.create(
        pb.CreateAlertRuleRequest(
            user_id=user_id,
            organization_id=organization_id,
            name=body.name,
            resource_type=body.resource_type,
            resource_id=body.resource_id or 0,
            metric=body.metric,
            operator=body.operator,
            threshold=_threshold(body.threshold),
            duration_minutes=body.duration_minutes,
            enabled=body.enabled,
            channels=_channels(body.notification_channels),
        )
    )
    return AlertRuleAnswer(alert_rule=alert_rule_out(rule))


@router.get("/{id}")
@scope(Family.ALERT_RULES, Access.READ)
async def get_alert_rule(request: Request, principal: Authenticated, id: AlertRuleId) -> AlertRuleAnswer:
    """One alert rule the caller reaches."""
    rule = await backends(request).alert_rules.get(id, tenant(principal)[1])
    return AlertRuleAnswer(alert_rule=alert_rule_out(rule))


@router.put("/{id}")
@scope(Family.ALERT_RULES, Access.WRITE)
async def update_alert_rule(
    request: Request, principal: Authenticated, id: AlertRuleId, body: AlertRuleChange
) -> AlertRuleAnswer:
    """Change the fields the body gives (``notification_channels`` replaces every channel)."""
    change = pb.UpdateAlertRuleRequest(alert_rule_id=id, organization_id=tenant(principal)[1])
    if body.name is not None:
        change.name = body.name
    if body.metric is not None:
        change.metric = body.metric
    if body.operator is not None:
        change.operator = body.operator
    if body.threshold is not None:
        change.threshold = _threshold(body.threshold)
    if body.duration_minutes is not None:
        change.duration_minutes = body.duration_minutes
    if body.enabled is not None:
        change.enabled = body.enabled
    if body.notification_channels is not None:
        change.channels.CopyFrom(pb.ChannelList(channels=_channels(body.notification_channels)))
    rule = await backends(request).alert_rules.update(change)
    return AlertRuleAnswer(alert_rule=alert_rule_out(rule))


@router.delete("/{id}", status_code=204)
@scope(Family.ALERT_RULES, Access.WRITE)
async def delete_alert_rule(request: Request, principal: Authenticated, id: AlertRuleId) -> Response:
    """Delete an alert rule."""
    await backends(request).alert_rules.delete(id, tenant(principal)[1])
    return Response(status_code=204)
