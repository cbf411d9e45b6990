"""The storage unit of work as the service layer sees it: one transaction, its repositories
and the outbox. The MariaDB one is
:class:`storage_service.adapters.unit_of_work.SqlAlchemyStorageUnitOfWork`; unit tests use an
in-memory fake. On commit the outbox gets what the volumes its repository wrote recorded."""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Self

from cpshared.events.catalog import REGISTRY
from cpshared.events.envelope import PendingEvent, new_event
from cpshared.timestamps import to_timestamp
from storage_service import SERVICE_NAME
from storage_service.domain.aggregate import Aggregate
from storage_service.service_layer import ports


def _field(value: Any) -> Any:
    """A recorded field as its protobuf field takes it (an instant is a Timestamp)."""
    return to_timestamp(value) if isinstance(value, datetime) else value


def aggregate_events(aggregate: Aggregate) -> list[PendingEvent]:
    """The events ``aggregate`` recorded (and forgets now), as the contract's outbox events."""
    pending = []
    for recorded in aggregate.pop_events():
        spec = REGISTRY.spec(recorded.event_type)
        pending.append(
            new_event(
                spec,
                producer=SERVICE_NAME,
                aggregate_id=recorded.aggregate_id,
                aggregate_version=recorded.version,
                payload=spec.message(**{k: _field(v) for k, v in recorded.fields.items()}),
            )
        )
    return pending


class StorageUnitOfWork(abc.ABC):
    """``with uow: ...; uow.commit()``; leaving without commit rolls back."""

    volumes: ports.VolumeRepository
    actions: ports.ActionRepository
    metering: ports.MeteringRepository
    backups: ports.BackupRepository
    snapshots: ports.SnapshotRepository

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
        """Write those of ``events`` (deterministic ids) the outbox does not hold yet; the ones written."""

    @abc.abstractmethod
    def commit(self) -> None:
        """Collect the aggregates' events, then write state and outbox in one transaction."""

    @abc.abstractmethod
    def rollback(self) -> None: ...

    def collect_events(self) -> None:
        for aggregate in [*self.volumes.seen, *self.backups.seen, *self.snapshots.seen]:
            for event in aggregate_events(aggregate):
                self.record(event)


UnitOfWorkFactory = Callable[[], StorageUnitOfWork]
