"""The compute unit of work as the service layer sees it: one transaction, its repositories
(the ports in :mod:`compute_service.service_layer.ports`) and the outbox. The MariaDB one is
:class:`compute_service.adapters.unit_of_work.SqlAlchemyComputeUnitOfWork`, wired by the
bootstrap; unit tests use an in-memory fake.

The outbox gets what the aggregates recorded themselves (the ``events`` of servers, SSH keys and
placement groups, collected by :meth:`ComputeUnitOfWork.collect_events` from those their
repositories wrote, in that order, when the unit of work commits) and what a use case records
with :meth:`record` (images, the catalog). Events with deterministic ids (metering's hours) are
written at once with :meth:`record_once`, in the same transaction, each only once."""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Self

from compute_service import SERVICE_NAME
from compute_service.domain.aggregate import Aggregate
from compute_service.service_layer import ports
from cpshared.aggregate import pending_events
from cpshared.events.envelope import PendingEvent


def aggregate_events(aggregate: Aggregate) -> list[PendingEvent]:
    """The events ``aggregate`` recorded (and forgets now), as the contract's outbox events."""
    return pending_events(aggregate, SERVICE_NAME)


class ComputeUnitOfWork(abc.ABC):
    """``with uow: ...; uow.commit()``; leaving without commit rolls back."""

    catalog: ports.CatalogRepository
    ssh_keys: ports.SshKeyRepository
    servers: ports.ServerRepository
    actions: ports.ActionRepository
    images: ports.ImageRepository
    placement_groups: ports.PlacementGroupRepository
    load_balancer_types: ports.LoadBalancerTypeRepository
    metering: ports.MeteringRepository
    server_backups: ports.ServerBackupRepository

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
        """The events the aggregates written in this unit of work recorded, into the outbox, in order."""
        seen: list[Aggregate] = [*self.servers.seen, *self.ssh_keys.seen, *self.placement_groups.seen]
        for aggregate in seen:
            for event in aggregate_events(aggregate):
                self.record(event)


UnitOfWorkFactory = Callable[[], ComputeUnitOfWork]
