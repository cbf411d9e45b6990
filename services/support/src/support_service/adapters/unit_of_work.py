"""The support unit of work on MariaDB: one SQLAlchemy session, the repositories on it, and the
outbox written by the shared unit of work's commit."""

from __future__ import annotations

from typing import Self

from cpshared.db import SqlAlchemyUnitOfWork
from cpshared.events.envelope import PendingEvent
from cpshared.events.outbox import write_events_once
from support_service.adapters.audience_repository import AudienceRepository
from support_service.adapters.delivery_repository import (
    DeliveryRepository,
    PreferenceRepository,
    WebhookSecretRepository,
)
from support_service.adapters.maintenance_repository import MaintenanceRepository
from support_service.adapters.notification_repository import NotificationRepository
from support_service.adapters.ticket_repository import TicketRepository
from support_service.service_layer.unit_of_work import SupportUnitOfWork


class SqlAlchemySupportUnitOfWork(SqlAlchemyUnitOfWork, SupportUnitOfWork):
    def __enter__(self) -> Self:
        super().__enter__()
        self.tickets = TicketRepository(self.session)
        self.maintenance = MaintenanceRepository(self.session)
        self.notifications = NotificationRepository(self.session)
        self.deliveries = DeliveryRepository(self.session)
        self.preferences = PreferenceRepository(self.session)
        self.webhook_secrets = WebhookSecretRepository(self.session)
        self.audience = AudienceRepository(self.session)
        return self

    def record_once(self, events: list[PendingEvent]) -> None:
        write_events_once(self.session.connection(), events)

    def commit(self) -> None:
        self.collect_events()
        super().commit()
