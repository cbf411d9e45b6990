"""The compute unit of work on MariaDB: one SQLAlchemy session, the repositories on it, and the
outbox written by the shared unit of work's commit."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Self

from compute_service.adapters.backup_repository import ServerBackupRepository
from compute_service.adapters.image_repository import ImageRepository
from compute_service.adapters.load_balancer_type_repository import LoadBalancerTypeRepository
from compute_service.adapters.metering_repository import MeteringRepository
from compute_service.adapters.placement_group_repository import PlacementGroupRepository
from compute_service.adapters.repository import CatalogRepository, SshKeyRepository
from compute_service.adapters.server_repository import ActionRepository, ServerRepository
from compute_service.service_layer.unit_of_work import ComputeUnitOfWork
from cpshared.db import SqlAlchemyUnitOfWork
from cpshared.events.envelope import PendingEvent
from cpshared.events.outbox import write_events_once


class SqlAlchemyComputeUnitOfWork(SqlAlchemyUnitOfWork, ComputeUnitOfWork):
    def __enter__(self) -> Self:
        super().__enter__()
        self.catalog = CatalogRepository(self.session)
        self.ssh_keys = SshKeyRepository(self.session)
        self.servers = ServerRepository(self.session)
        self.actions = ActionRepository(self.session)
        self.images = ImageRepository(self.session)
        self.placement_groups = PlacementGroupRepository(self.session)
        self.load_balancer_types = LoadBalancerTypeRepository(self.session)
        self.metering = MeteringRepository(self.session)
        self.server_backups = ServerBackupRepository(self.session)
        return self

    def record_once(self, events: Sequence[PendingEvent]) -> list[PendingEvent]:
        return write_events_once(self.session.connection(), events)

    def commit(self) -> None:
        self.collect_events()
        super().commit()
