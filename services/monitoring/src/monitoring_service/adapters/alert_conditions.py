"""The alert processor's view of monitoring's database: the enabled server rules and whose
server is whose (monitored_servers), read in one go and refreshed by the processor."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from monitoring_service.adapters.tables import alert_rules, monitored_servers
from monitoring_service.domain.alert_evaluation import Condition


@dataclass(frozen=True)
class RuleBook:
    """The conditions that apply to each server: its own rules, and its tenant's rules about
    every server (a rule without resource_id)."""

    by_server: dict[int, tuple[Condition, ...]] = field(default_factory=dict)

    def conditions(self, server_id: int) -> tuple[Condition, ...]:
        return self.by_server.get(server_id, ())


def load_rule_book(engine: Engine) -> RuleBook:
    with engine.connect() as conn:
        rules = conn.execute(
            sa.select(alert_rules).where(alert_rules.c.enabled.is_(True), alert_rules.c.resource_type == "server")
        ).all()
        servers = conn.execute(
            sa.select(
                monitored_servers.c.server_id, monitored_servers.c.user_id, monitored_servers.c.organization_id
            ).where(monitored_servers.c.deleted_at.is_(None))
        ).all()
    owner = {row.server_id: (row.user_id, row.organization_id) for row in servers}
    by_server: dict[int, list[Condition]] = defaultdict(list)
    for rule in rules:
        condition = Condition(
            rule_id=rule.id,
            metric=rule.metric,
            operator=rule.operator,
            threshold=rule.threshold,
            duration_minutes=rule.duration_minutes or 5,
            user_id=rule.user_id,
            organization_id=rule.organization_id or 0,
            name=rule.name,
        )
        if rule.resource_id:
            by_server[rule.resource_id].append(condition)
            continue
        for server_id, (user_id, organization_id) in owner.items():
            # As the rules API scopes them: an organization's rule covers its servers, a
            # user's own rule the user's servers outside any organization.
            if rule.organization_id:
                same_tenant = organization_id == rule.organization_id
            else:
                same_tenant = user_id == rule.user_id and organization_id is None
            if same_tenant:
                by_server[server_id].append(condition)
    return RuleBook({server_id: tuple(conditions) for server_id, conditions in by_server.items()})
