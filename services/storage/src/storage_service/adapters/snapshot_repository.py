"""Reading and writing the snapshots storage records of compute's snapshot images, inside one
unit of work's session (their metering cursor: adapters/metering_repository.py)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.mysql import insert as mysql_insert
from sqlalchemy.orm import Session

from cpshared.timestamps import as_utc
from storage_service.adapters import tables as t
from storage_service.domain.snapshots import CREATING, SERVER, Snapshot


def _snapshot(row: sa.Row[Any]) -> Snapshot:
    return Snapshot(
        id=row.id,
        user_id=row.user_id,
        organization_id=row.organization_id,
        resource_type=row.resource_type,
        resource_id=row.resource_id,
        status=row.status or CREATING,
        size_gb=Decimal(row.size_gb) if row.size_gb is not None else None,
        created_at=as_utc(row.created_at),
        deleted_at=as_utc(row.deleted_at) if row.deleted_at is not None else None,
    )


class SnapshotRepository:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.seen: list[Snapshot] = []

    def record_made(self, snapshot_id: int, user_id: int, organization_id: int | None, server_id: int) -> None:
        """The row of a snapshot being made (again: nothing changes)."""
        self.session.execute(
            mysql_insert(t.snapshots)
            .values(
                id=snapshot_id,
                user_id=user_id,
                organization_id=organization_id,
                hetzner_id=0,
                resource_type=SERVER,
                resource_id=server_id,
                status=CREATING,
            )
            .prefix_with("IGNORE")
        )

    def get(self, snapshot_id: int, *, for_update: bool = False) -> Snapshot | None:
        query = sa.select(t.snapshots).where(t.snapshots.c.id == snapshot_id)
        row = self.session.execute(query.with_for_update() if for_update else query).first()
        return _snapshot(row) if row is not None else None

    def save(self, snapshot: Snapshot) -> None:
        self.session.execute(
            sa.update(t.snapshots)
            .where(t.snapshots.c.id == snapshot.id)
            .values(
                status=snapshot.status,
                size_gb=snapshot.size_gb,
                created_at=snapshot.created_at,
                deleted_at=snapshot.deleted_at,
            )
        )
        if not any(seen is snapshot for seen in self.seen):
            self.seen.append(snapshot)
