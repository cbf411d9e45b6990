"""Reading and writing the inbox (``notifications``) inside one session."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.mysql import insert as mysql_insert
from sqlalchemy.orm import Session

from cpshared.timestamps import as_utc
from support_service.adapters import tables as t
from support_service.domain.notifications import USER, Notification


def _notification(row: sa.Row[Any]) -> Notification:
    return Notification(
        id=row.id,
        type=row.type,
        notifiable_type=row.notifiable_type,
        notifiable_id=row.notifiable_id,
        data=json.loads(row.data),
        read_at=as_utc(row.read_at) if row.read_at else None,
        created_at=as_utc(row.created_at) if row.created_at else None,
    )


class NotificationRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, notification: Notification, now: datetime) -> None:
        """Once: a notification whose id exists is not written again."""
        write = (
            mysql_insert(t.notifications)
            .values(
                id=notification.id,
                type=notification.type,
                notifiable_type=notification.notifiable_type,
                notifiable_id=notification.notifiable_id,
                data=notification.data_text(),
                created_at=now,
                updated_at=now,
            )
            .prefix_with("IGNORE")
        )
        self.session.execute(write)
        notification.created_at = now

    def _mine(self, user_id: int) -> sa.ColumnElement[bool]:
        c = t.notifications.c
        return sa.and_(c.notifiable_type == USER, c.notifiable_id == user_id)

    def search(
        self, user_id: int, *, unread_only: bool, offset: int, limit: int
    ) -> tuple[list[Notification], int, int]:
        c = t.notifications.c
        where = self._mine(user_id)
        unread = self.session.execute(
            sa.select(sa.func.count()).select_from(t.notifications).where(where, c.read_at.is_(None))
        ).scalar_one()
        if unread_only:
            where = sa.and_(where, c.read_at.is_(None))
        total = self.session.execute(sa.select(sa.func.count()).select_from(t.notifications).where(where)).scalar_one()
        rows = self.session.execute(
            sa.select(t.notifications).where(where).order_by(c.created_at.desc(), c.id).offset(offset).limit(limit)
        )
        return [_notification(row) for row in rows], int(total), int(unread)

    def get(self, user_id: int, notification_id: str) -> Notification | None:
        row = self.session.execute(
            sa.select(t.notifications).where(self._mine(user_id), t.notifications.c.id == notification_id)
        ).first()
        return _notification(row) if row else None

    def mark_read(self, user_id: int, notification_id: str | None, now: datetime) -> int:
        """Mark one (or, with None, every) unread notification of the user read; how many."""
        c = t.notifications.c
        where = sa.and_(self._mine(user_id), c.read_at.is_(None))
        if notification_id is not None:
            where = sa.and_(where, c.id == notification_id)
        result = self.session.execute(sa.update(t.notifications).where(where).values(read_at=now, updated_at=now))
        return int(result.rowcount)  # type: ignore[attr-defined]
