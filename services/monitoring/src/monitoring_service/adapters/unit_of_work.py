"""The monitoring unit of work on MariaDB: one SQLAlchemy session, the repositories on it, and
the outbox written by the shared unit of work's commit."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Self

from cpshared.db import SqlAlchemyUnitOfWork
from cpshared.events.envelope import PendingEvent
from cpshared.events.outbox import write_events_once
from monitoring_service.adapters.alert_repository import SqlAlerts
from monitoring_service.adapters.alert_rule_repository import SqlAlertRules
from monitoring_service.adapters.metrics_store import SqlMetricsStore
from monitoring_service.adapters.repository import SqlMonitoredServers
from monitoring_service.adapters.traffic_repository import SqlTraffic
from monitoring_service.adapters.uptime_repository import SqlUptimeMonitors
from monitoring_service.service_layer.unit_of_work import MonitoringUnitOfWork


class SqlAlchemyMonitoringUnitOfWork(SqlAlchemyUnitOfWork, MonitoringUnitOfWork):
    def __enter__(self) -> Self:
        super().__enter__()
        self.servers = SqlMonitoredServers(self.session)
        self.metrics = SqlMetricsStore(self.session)
        self.alert_rules = SqlAlertRules(self.session)
        self.alerts = SqlAlerts(self.session)
        self.traffic = SqlTraffic(self.session)
        self.uptime_monitors = SqlUptimeMonitors(self.session)
        return self

    def commit(self) -> None:
        self.collect_events()
        super().commit()

    def record_once(self, events: Sequence[PendingEvent]) -> list[PendingEvent]:
        return write_events_once(self.session.connection(), events)
