"""The network unit of work as the service layer sees it: one transaction, its repositories
(the ports in :mod:`network_service.service_layer.ports`) and the outbox. The MariaDB one is
:class:`network_service.adapters.unit_of_work.SqlAlchemyNetworkUnitOfWork`, wired by the
bootstrap.

The outbox gets what the aggregates recorded themselves (the events of the floating IPs its
repository wrote, collected by :meth:`NetworkUnitOfWork.collect_events` when it commits) and
what a use case records with :meth:`record`; events with deterministic ids (metering's hours)
are written at once with :meth:`record_once`, each only once."""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Self

from cpshared.aggregate import pending_events
from cpshared.events.envelope import PendingEvent
from network_service import SERVICE_NAME
from network_service.service_layer import ports


class NetworkUnitOfWork(abc.ABC):
    """``with uow: ...; uow.commit()``; leaving without commit rolls back."""

    floating_ips: ports.FloatingIpRepository
    actions: ports.ActionRepository
    metering: ports.MeteringRepository
    networks: ports.NetworkRepository
    firewalls: ports.FirewallRepository
    primary_ips: ports.PrimaryIpRepository
    primary_ip_metering: ports.PrimaryIpMeteringRepository
    load_balancers: ports.LoadBalancerRepository
    certificates: ports.CertificateRepository

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
        for aggregate in [
            *self.floating_ips.seen,
            *self.networks.seen,
            *self.firewalls.seen,
            *self.primary_ips.seen,
            *self.load_balancers.seen,
            *self.certificates.seen,
        ]:
            for event in pending_events(aggregate, SERVICE_NAME):
                self.record(event)


UnitOfWorkFactory = Callable[[], NetworkUnitOfWork]
