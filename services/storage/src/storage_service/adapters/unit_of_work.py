"""The storage unit of work on MariaDB: one SQLAlchemy session, the repositories on it, and the
outbox written by the shared unit of work's commit."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Self

from cpshared.db import SqlAlchemyUnitOfWork
from cpshared.events.envelope import PendingEvent
from cpshared.events.outbox import write_events_once
from storage_service.adapters.backup_repository import BackupRepository
from storage_service.adapters.metering_repository import MeteringRepository
from storage_service.adapters.repository import ActionRepository, VolumeRepository
from storage_service.adapters.snapshot_repository import SnapshotRepository
from storage_service.service_layer.unit_of_work import StorageUnitOfWork


class SqlAlchemyStorageUnitOfWork(SqlAlchemyUnitOfWork, StorageUnitOfWork):
    def __enter__(self) -> Self:
        super().__enter__()
        self.volumes = VolumeRepository(self.session)
        self.actions = ActionRepository(self.session)
        self.metering = MeteringRepository(self.session)
        self.backups = BackupRepository(self.session)
        self.snapshots = SnapshotRepository(self.session)
        return self

    def record_once(self, events: Sequence[PendingEvent]) -> list[PendingEvent]:
        return write_events_once(self.session.connection(), events)

    def commit(self) -> None:
        self.collect_events()
        super().commit()
