"""The monitoring unit of work as the service layer sees it: one transaction, its repositories
(the ports in :mod:`monitoring_service.service_layer.ports`) and the outbox. The MariaDB one is
:class:`monitoring_service.adapters.unit_of_work.SqlAlchemyMonitoringUnitOfWork`, wired by the
bootstrap. Samples carry deterministic ids and are written with :meth:`record_once`."""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from datetime import datetime
from types import TracebackType
from typing import Self

from cpshared.events.catalog import REGISTRY
from cpshared.events.envelope import PendingEvent, new_event
from cpshared.timestamps import to_timestamp
from monitoring_service import SERVICE_NAME
from monitoring_service.domain.aggregate import Aggregate
from monitoring_service.service_layer import ports


class MonitoringUnitOfWork(abc.ABC):
    """``with uow: ...; uow.commit()``; leaving without commit rolls back."""

    servers: ports.MonitoredServerRepository
    metrics: ports.MetricsStore
    alert_rules: ports.AlertRuleRepository
    alerts: ports.AlertRepository
    traffic: ports.TrafficRepository
    uptime_monitors: ports.UptimeMonitorRepository

    @abc.abstractmethod
    def __enter__(self) -> Self: ...

    @abc.abstractmethod
    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    @abc.abstractmethod
    def record(self, event: PendingEvent) -> None: ...

    @abc.abstractmethod
    def record_once(self, events: Sequence[PendingEvent]) -> list[PendingEvent]:
        """Write those of ``events`` (deterministic ids) the outbox does not hold yet, now, in
        this transaction; the ones written."""

    @abc.abstractmethod
    def commit(self) -> None:
        """Collect the aggregates' events, then write state and outbox in one transaction."""

    @abc.abstractmethod
    def rollback(self) -> None: ...

    def collect_events(self) -> None:
        """The events the alert rules and uptime monitors written in this unit of work recorded,
        into the outbox, in order."""
        aggregates: list[Aggregate] = [*self.alert_rules.seen, *self.uptime_monitors.seen]
        for aggregate in aggregates:
            for recorded in aggregate.pop_events():
                spec = REGISTRY.spec(recorded.event_type)
                fields = {k: to_timestamp(v) if isinstance(v, datetime) else v for k, v in recorded.fields.items()}
                self.record(
                    new_event(
                        spec,
                        producer=SERVICE_NAME,
                        aggregate_id=recorded.aggregate_id,
                        aggregate_version=recorded.version,
                        payload=spec.message(**fields),
                    )
                )


UnitOfWorkFactory = Callable[[], MonitoringUnitOfWork]
