"""Alert rules' use cases: create, list, get, change and delete a tenant's rules. The rule checks
its own fields (domain/alert_rules.py); a rule about one server names a server of the same tenant
that monitoring knows (its projection of compute's servers)."""

from __future__ import annotations

from dataclasses import dataclass

from cpshared.clock import utcnow
from cpshared.errors import InvalidInput, NotFound
from monitoring_service.domain.alert_rules import AlertRule
from monitoring_service.service_layer.metrics import Reach
from monitoring_service.service_layer.unit_of_work import MonitoringUnitOfWork


@dataclass(frozen=True)
class NewAlertRule:
    user_id: int
    organization_id: int | None
    name: str
    resource_type: str
    resource_id: int | None
    metric: str
    operator: str
    threshold: str
    duration_minutes: int | None
    enabled: bool | None
    channels: list[tuple[str, str]]


@dataclass(frozen=True)
class AlertRuleChange:
    name: str | None = None
    metric: str | None = None
    operator: str | None = None
    threshold: str | None = None
    duration_minutes: int | None = None
    enabled: bool | None = None
    channels: list[tuple[str, str]] | None = None


def _check_server(rule: AlertRule, uow: MonitoringUnitOfWork) -> None:
    if rule.resource_type != "server" or rule.resource_id is None:
        return
    server = uow.servers.get(rule.resource_id)
    same_tenant = server is not None and (
        server.organization_id == rule.organization_id
        if rule.organization_id is not None
        else server.organization_id is None and server.user_id == rule.user_id
    )
    if server is None or server.deleted or not same_tenant:
        message = f"resource_id: server {rule.resource_id} does not exist"
        raise InvalidInput(message, details={"fields": [{"name": "resource_id", "messages": [message]}]})


def create(new: NewAlertRule, uow: MonitoringUnitOfWork) -> AlertRule:
    rule = AlertRule.new(
        user_id=new.user_id,
        organization_id=new.organization_id,
        name=new.name,
        resource_type=new.resource_type,
        resource_id=new.resource_id,
        metric=new.metric,
        operator=new.operator,
        threshold=new.threshold,
        duration_minutes=new.duration_minutes,
        enabled=new.enabled,
        channels=new.channels,
        now=utcnow(),
    )
    with uow:
        _check_server(rule, uow)
        uow.alert_rules.add(rule)
        rule.created()
        uow.commit()
    return rule


def list_rules(
    user_id: int, organization_id: int | None, resource_type: str, uow: MonitoringUnitOfWork
) -> list[AlertRule]:
    with uow:
        return uow.alert_rules.of_tenant(user_id, organization_id, resource_type)


def _reached(rule_id: int, reach: Reach, uow: MonitoringUnitOfWork, *, for_update: bool = False) -> AlertRule:
    rule = uow.alert_rules.get(rule_id, for_update=for_update)
    if rule is None:
        raise NotFound(f"alert rule {rule_id} does not exist")
    reach(rule.user_id, rule.organization_id)
    return rule


def get(rule_id: int, reach: Reach, uow: MonitoringUnitOfWork) -> AlertRule:
    with uow:
        return _reached(rule_id, reach, uow)


def change(rule_id: int, what: AlertRuleChange, reach: Reach, uow: MonitoringUnitOfWork) -> AlertRule:
    with uow:
        rule = _reached(rule_id, reach, uow, for_update=True)
        rule.change(
            name=what.name,
            metric=what.metric,
            operator=what.operator,
            threshold=what.threshold,
            duration_minutes=what.duration_minutes,
            enabled=what.enabled,
            channels=what.channels,
            now=utcnow(),
        )
        uow.alert_rules.save(rule)
        uow.commit()
    return rule


def delete(rule_id: int, reach: Reach, uow: MonitoringUnitOfWork) -> None:
    with uow:
        rule = _reached(rule_id, reach, uow, for_update=True)
        rule.deleted()
        uow.alert_rules.delete(rule)
        uow.commit()
