"""Resource quotas and their reservations, on the unit of work's session."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from identity_service.adapters.rows import from_db, required_time, to_db
from identity_service.adapters.tables import quota_reservations, resource_quotas
from identity_service.domain.model import Quota, QuotaOwner, Reservation, ReservationStatus


class QuotaRepository:
    def __init__(self, session: Session) -> None:
        self._session = session
        self.seen: list[Quota] = []

    @staticmethod
    def _owned_by(owner: QuotaOwner) -> sa.ColumnElement[bool]:
        if owner.user_id is not None:
            return resource_quotas.c.user_id == owner.user_id
        return resource_quotas.c.organization_id == owner.organization_id

    def create_if_missing(self, owner: QuotaOwner, resource_type: str, quota_limit: int, now: datetime) -> None:
        """INSERT IGNORE: of several callers creating the same quota at once, one row results."""
        self._session.execute(
            resource_quotas.insert()
            .prefix_with("IGNORE")
            .values(
                user_id=owner.user_id,
                organization_id=owner.organization_id,
                resource_type=resource_type,
                quota_limit=quota_limit,
                current_usage=0,
                version=0,
                created_at=to_db(now),
                updated_at=to_db(now),
            )
        )

    def get(self, owner: QuotaOwner, resource_type: str, *, for_update: bool = False) -> Quota | None:
        """The quota row; with ``for_update``, locked until the transaction ends."""
        query = resource_quotas.select().where(self._owned_by(owner), resource_quotas.c.resource_type == resource_type)
        row = self._session.execute(query.with_for_update() if for_update else query).first()
        return None if row is None else self.quota_from_row(row)

    def lock_by_id(self, quota_id: int) -> Quota:
        row = self._session.execute(
            resource_quotas.select().where(resource_quotas.c.id == quota_id).with_for_update()
        ).one()
        return self.quota_from_row(row)

    def save(self, quota: Quota, now: datetime) -> None:
        self.seen.append(quota)
        self._session.execute(
            resource_quotas.update()
            .where(resource_quotas.c.id == quota.id)
            .values(
                current_usage=quota.current_usage,
                quota_limit=quota.quota_limit,
                version=quota.version,
                updated_at=to_db(now),
            )
        )

    def reservation(self, key: str) -> Reservation | None:
        row = self._session.execute(
            quota_reservations.select().where(quota_reservations.c.reservation_key == key)
        ).first()
        return None if row is None else self._reservation(row)

    def add_reservation(self, reservation: Reservation) -> None:
        self._session.execute(
            quota_reservations.insert().values(
                reservation_key=reservation.key,
                quota_id=reservation.quota_id,
                user_id=reservation.owner.user_id,
                organization_id=reservation.owner.organization_id,
                resource_type=reservation.resource_type,
                amount=reservation.amount,
                status=reservation.status.value,
                created_at=to_db(reservation.created_at),
            )
        )

    def mark_released(self, reservation: Reservation) -> None:
        self._session.execute(
            quota_reservations.update()
            .where(quota_reservations.c.reservation_key == reservation.key)
            .values(status=reservation.status.value, released_at=to_db(reservation.released_at))
        )

    @staticmethod
    def quota_from_row(row: Row[Any]) -> Quota:
        return Quota(
            id=int(row.id),
            owner=QuotaOwner(
                user_id=None if row.user_id is None else int(row.user_id),
                organization_id=None if row.organization_id is None else int(row.organization_id),
            ),
            resource_type=row.resource_type,
            quota_limit=int(row.quota_limit),
            current_usage=int(row.current_usage or 0),
            version=int(row.version),
        )

    @staticmethod
    def _reservation(row: Row[Any]) -> Reservation:
        return Reservation(
            key=row.reservation_key,
            quota_id=int(row.quota_id),
            owner=QuotaOwner(
                user_id=None if row.user_id is None else int(row.user_id),
                organization_id=None if row.organization_id is None else int(row.organization_id),
            ),
            resource_type=row.resource_type,
            amount=int(row.amount),
            status=ReservationStatus(row.status),
            created_at=required_time(row.created_at),
            released_at=from_db(row.released_at),
        )
