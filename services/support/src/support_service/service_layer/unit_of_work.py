"""The support unit of work as the service layer sees it: one transaction, its repositories (the
ports in :mod:`support_service.service_layer.ports`) and the outbox. The MariaDB one is
:class:`support_service.adapters.unit_of_work.SqlAlchemySupportUnitOfWork`, wired by the
bootstrap.

The outbox gets what the aggregates recorded themselves (the ``events`` of the tickets and
maintenance windows its repositories wrote, collected by :meth:`SupportUnitOfWork.collect_events` when it commits)."""

from __future__ import annotations

import abc
from collections.abc import Callable
from datetime import datetime
from types import TracebackType
from typing import Self

from google.protobuf.timestamp_pb2 import Timestamp

from cpshared.events.catalog import REGISTRY
from cpshared.events.envelope import PendingEvent, new_event
from support_service import SERVICE_NAME
from support_service.domain.aggregate import Aggregate
from support_service.service_layer import ports


def _field(value: object) -> object:
    if isinstance(value, datetime):
        stamp = Timestamp()
        stamp.FromDatetime(value)
        return stamp
    return value


def aggregate_events(aggregate: Aggregate) -> list[PendingEvent]:
    """The events ``aggregate`` recorded (and forgets now), as the contract's outbox events."""
    pending = []
    for recorded in aggregate.pop_events():
        spec = REGISTRY.spec(recorded.event_type)
        fields = {name: _field(value) for name, value in recorded.fields.items()}
        pending.append(
            new_event(
                spec,
                producer=SERVICE_NAME,
                aggregate_id=recorded.aggregate_id,
                aggregate_version=recorded.version,
                payload=spec.message(**fields),
            )
        )
    return pending


class SupportUnitOfWork(abc.ABC):
    """``with uow: ...; uow.commit()``; leaving without commit rolls back."""

    tickets: ports.TicketRepository
    maintenance: ports.MaintenanceRepository
    notifications: ports.NotificationRepository
    deliveries: ports.DeliveryRepository
    preferences: ports.PreferenceRepository
    webhook_secrets: ports.WebhookSecretRepository
    audience: ports.AudienceRepository

    @abc.abstractmethod
    def __enter__(self) -> Self: ...

    @abc.abstractmethod
    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    @abc.abstractmethod
    def record(self, event: PendingEvent) -> None: ...

    @abc.abstractmethod
    def record_once(self, events: list[PendingEvent]) -> None:
        """Write events with deterministic ids into the outbox unless it holds them already."""

    @abc.abstractmethod
    def commit(self) -> None:
        """Collect the aggregates' events, then write state and outbox in one transaction."""

    @abc.abstractmethod
    def rollback(self) -> None: ...

    def collect_events(self) -> None:
        seen: list[Aggregate] = [*self.tickets.seen, *self.maintenance.seen]
        for aggregate in seen:
            for event in aggregate_events(aggregate):
                self.record(event)


UnitOfWorkFactory = Callable[[], SupportUnitOfWork]
