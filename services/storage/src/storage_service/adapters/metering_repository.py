"""The metering cursor and size history of volumes, inside one unit of work's session."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cpshared.metering import hour_floor
from storage_service.adapters import tables as t
from storage_service.domain.metering import MeteredVolume, SizePeriod
from storage_service.domain.snapshots import AVAILABLE, MeteredSnapshot


class MeteringRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def claim_due(self, now: datetime, limit: int) -> list[MeteredVolume]:
        """Up to ``limit`` volumes with an hour to record by ``now``, locked for this transaction
        (SKIP LOCKED: another worker, or an action finishing, takes the others). Only a volume
        made upstream is billed: one being created waits, one whose creation failed never is."""
        c = t.volumes.c
        current_hour = hour_floor(now)
        live_due = sa.and_(
            c.deleted_at.is_(None),
            sa.or_(sa.and_(c.metered_until.is_(None), c.created_at < current_hour), c.metered_until < current_hour),
        )
        deleted_due = sa.and_(
            c.deleted_at.is_not(None), sa.or_(c.metered_until.is_(None), c.metered_until < c.deleted_at)
        )
        rows = self.session.execute(
            sa.select(
                c.id,
                c.user_id,
                c.organization_id,
                c.name,
                c.location,
                c.size_gb,
                c.created_at,
                c.deleted_at,
                c.metered_until,
            )
            .where(c.hetzner_id != 0, sa.or_(live_due, deleted_due))
            .order_by(c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [
            MeteredVolume(
                id=row.id,
                user_id=row.user_id,
                organization_id=row.organization_id,
                name=row.name,
                location=row.location,
                size_gb=row.size_gb,
                created_at=row.created_at,
                deleted_at=row.deleted_at,
                metered_until=row.metered_until,
            )
            for row in rows
        ]

    def size_periods(self, volume_ids: Iterable[int]) -> dict[int, list[SizePeriod]]:
        wanted = sorted(set(volume_ids))
        found: dict[int, list[SizePeriod]] = {volume_id: [] for volume_id in wanted}
        if wanted:
            c = t.volume_size_periods.c
            query = sa.select(c.volume_id, c.size_gb, c.started_at).where(c.volume_id.in_(wanted)).order_by(c.id)
            for row in self.session.execute(query):
                found[row.volume_id].append(SizePeriod(row.size_gb, row.started_at))
        return found

    def advance(self, volume_id: int, metered_until: datetime) -> None:
        self.session.execute(
            sa.update(t.volumes).where(t.volumes.c.id == volume_id).values(metered_until=metered_until)
        )

    def claim_due_snapshots(self, now: datetime, limit: int) -> list[MeteredSnapshot]:
        """Up to ``limit`` available snapshots with an hour to record by ``now``, locked (SKIP LOCKED)."""
        c = t.snapshots.c
        current_hour = hour_floor(now)
        live_due = sa.and_(
            c.deleted_at.is_(None),
            sa.or_(sa.and_(c.metered_until.is_(None), c.created_at < current_hour), c.metered_until < current_hour),
        )
        deleted_due = sa.and_(
            c.deleted_at.is_not(None), sa.or_(c.metered_until.is_(None), c.metered_until < c.deleted_at)
        )
        rows = self.session.execute(
            sa.select(
                c.id,
                c.user_id,
                c.organization_id,
                c.resource_id,
                c.size_gb,
                c.created_at,
                c.deleted_at,
                c.metered_until,
            )
            .where(c.status == AVAILABLE, c.size_gb.is_not(None), sa.or_(live_due, deleted_due))
            .order_by(c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [
            MeteredSnapshot(
                id=row.id,
                user_id=row.user_id,
                organization_id=row.organization_id,
                resource_id=row.resource_id,
                size_gb=row.size_gb,
                created_at=row.created_at,
                deleted_at=row.deleted_at,
                metered_until=row.metered_until,
            )
            for row in rows
        ]

    def advance_snapshot(self, snapshot_id: int, metered_until: datetime) -> None:
        self.session.execute(
            sa.update(t.snapshots).where(t.snapshots.c.id == snapshot_id).values(metered_until=metered_until)
        )
