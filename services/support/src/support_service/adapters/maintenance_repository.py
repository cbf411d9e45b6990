"""Reading and writing maintenance windows inside one unit of work's session."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cpshared.timestamps import as_utc
from support_service.adapters import tables as t
from support_service.domain.maintenance import IN_PROGRESS, SCHEDULED, MaintenanceWindow


def _window(row: sa.Row[Any]) -> MaintenanceWindow:
    return MaintenanceWindow(
        id=row.id,
        title=row.title,
        description=row.description or "",
        type=row.type,
        affected_services=list(row.affected_services or []),
        affected_datacenters=list(row.affected_datacenters or []),
        start_time=as_utc(row.start_time),
        end_time=as_utc(row.end_time),
        status=row.status,
        created_by=row.created_by,
        created_at=as_utc(row.created_at) if row.created_at else None,
        updated_at=as_utc(row.updated_at) if row.updated_at else None,
        version=row.version,
    )


class MaintenanceRepository:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.seen: list[MaintenanceWindow] = []
        """The windows written in this unit of work: it collects their recorded events on commit."""

    def _saw(self, window: MaintenanceWindow) -> None:
        if not any(seen is window for seen in self.seen):
            self.seen.append(window)

    def _values(self, window: MaintenanceWindow) -> dict[str, Any]:
        return {
            "title": window.title,
            "description": window.description,
            "type": window.type,
            "affected_services": window.affected_services,
            "affected_datacenters": window.affected_datacenters,
            "status": window.status,
            "start_time": window.start_time,
            "end_time": window.end_time,
            "version": window.version,
        }

    def add(self, window: MaintenanceWindow, now: datetime) -> MaintenanceWindow:
        result = cast(
            sa.CursorResult[Any],
            self.session.execute(
                sa.insert(t.maintenance_windows).values(
                    created_by=window.created_by, created_at=now, updated_at=now, **self._values(window)
                )
            ),
        )
        window.id = int(result.lastrowid)
        window.created_at = window.updated_at = now
        self._saw(window)
        return window

    def get(self, window_id: int, *, for_update: bool = False) -> MaintenanceWindow | None:
        query = sa.select(t.maintenance_windows).where(t.maintenance_windows.c.id == window_id)
        row = self.session.execute(query.with_for_update() if for_update else query).first()
        return _window(row) if row else None

    def save(self, window: MaintenanceWindow, now: datetime) -> None:
        self.session.execute(
            sa.update(t.maintenance_windows)
            .where(t.maintenance_windows.c.id == window.id)
            .values(updated_at=now, **self._values(window))
        )
        window.updated_at = now
        self._saw(window)

    def search(
        self, statuses: Sequence[str], *, upcoming_first: bool, offset: int, limit: int
    ) -> tuple[list[MaintenanceWindow], int]:
        c = t.maintenance_windows.c
        where = c.status.in_(list(statuses)) if statuses else sa.true()
        total = self.session.execute(
            sa.select(sa.func.count()).select_from(t.maintenance_windows).where(where)
        ).scalar_one()
        order = [c.start_time.asc(), c.id.asc()] if upcoming_first else [c.start_time.desc(), c.id.desc()]
        rows = self.session.execute(
            sa.select(t.maintenance_windows).where(where).order_by(*order).offset(offset).limit(limit)
        )
        return [_window(row) for row in rows], int(total)

    def due(self, now: datetime, limit: int) -> list[int]:
        c = t.maintenance_windows.c
        query = (
            sa.select(c.id)
            .where(
                sa.or_(
                    sa.and_(c.status == SCHEDULED, c.start_time <= now),
                    sa.and_(c.status == IN_PROGRESS, c.end_time <= now),
                )
            )
            .order_by(c.start_time)
            .limit(limit)
        )
        return [int(i) for i in self.session.execute(query).scalars()]
