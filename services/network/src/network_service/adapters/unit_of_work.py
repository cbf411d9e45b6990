"""The network unit of work on MariaDB: one SQLAlchemy session, the repositories on it, and the
outbox written by the shared unit of work's commit."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Self

from cpshared.db import SqlAlchemyUnitOfWork
from cpshared.events.envelope import PendingEvent
from cpshared.events.outbox import write_events_once
from network_service.adapters.firewall_repository import FirewallRepository
from network_service.adapters.load_balancer_repository import CertificateRepository, LoadBalancerRepository
from network_service.adapters.network_repository import NetworkRepository
from network_service.adapters.primary_ip_repository import PrimaryIpMeteringRepository, PrimaryIpRepository
from network_service.adapters.repository import ActionRepository, FloatingIpRepository, MeteringRepository
from network_service.service_layer.unit_of_work import NetworkUnitOfWork


class SqlAlchemyNetworkUnitOfWork(SqlAlchemyUnitOfWork, NetworkUnitOfWork):
    def __enter__(self) -> Self:
        super().__enter__()
        self.floating_ips = FloatingIpRepository(self.session)
        self.actions = ActionRepository(self.session)
        self.metering = MeteringRepository(self.session)
        self.networks = NetworkRepository(self.session)
        self.firewalls = FirewallRepository(self.session)
        self.primary_ips = PrimaryIpRepository(self.session)
        self.primary_ip_metering = PrimaryIpMeteringRepository(self.session)
        self.load_balancers = LoadBalancerRepository(self.session)
        self.certificates = CertificateRepository(self.session)
        return self

    def record_once(self, events: Sequence[PendingEvent]) -> list[PendingEvent]:
        return write_events_once(self.session.connection(), events)

    def commit(self) -> None:
        self.collect_events()
        super().commit()
