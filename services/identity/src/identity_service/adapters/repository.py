"""Repositories: the identity aggregates in and out of MariaDB, on the unit of work's session.

Times are stored as naive DATETIME(6) in UTC and come back timezone-aware.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from identity_service.adapters.tables import (
    api_keys,
    organizations,
    quota_reservations,
    resource_quotas,
    system_settings,
    users,
)
from identity_service.domain.model import (
    ApiKey,
    Quota,
    QuotaOwner,
    Reservation,
    ReservationStatus,
    Setting,
    SettingType,
    User,
    UserRole,
    UserStatus,
)


def to_db(when: datetime | None) -> datetime | None:
    return None if when is None else when.astimezone(UTC).replace(tzinfo=None)


def from_db(when: datetime | None) -> datetime | None:
    return None if when is None else when.replace(tzinfo=UTC)


def _insert(session: Session, statement: sa.Insert) -> int:
    """Run an INSERT of one row and return its new id."""
    result = session.connection().execute(statement)
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def _aware(when: datetime | None) -> datetime:
    aware = from_db(when)
    if aware is None:
        raise ValueError("a NOT NULL time column was NULL")
    return aware


class UserRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, name: str, email: str, password_hash: str, role: UserRole, status: UserStatus, now: datetime) -> int:
        return _insert(
            self._session,
            users.insert().values(
                name=name,
                email=email,
                password=password_hash,
                role=role.value,
                status=status.value,
                created_at=to_db(now),
                updated_at=to_db(now),
            ),
        )

    def get(self, user_id: int) -> User | None:
        row = self._session.execute(users.select().where(users.c.id == user_id)).first()
        return None if row is None else self._user(row)

    def by_email(self, email: str) -> User | None:
        row = self._session.execute(users.select().where(users.c.email == email)).first()
        return None if row is None else self._user(row)

    def set_password_hash(self, user_id: int, password_hash: str, now: datetime) -> None:
        self._session.execute(
            users.update().where(users.c.id == user_id).values(password=password_hash, updated_at=to_db(now))
        )

    def admin_exists(self) -> bool:
        query = sa.select(users.c.id).where(users.c.role == UserRole.ADMIN.value, users.c.deleted_at.is_(None))
        return self._session.execute(query.limit(1)).first() is not None

    @staticmethod
    def _user(row: Row[Any]) -> User:
        return User(
            id=int(row.id),
            name=row.name,
            email=row.email,
            role=UserRole(row.role),
            status=UserStatus(row.status),
            created_at=_aware(row.created_at),
            password_hash=row.password,
        )


class OrganizationRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def exists(self, organization_id: int) -> bool:
        query = sa.select(organizations.c.id).where(organizations.c.id == organization_id)
        return self._session.execute(query).first() is not None


class ApiKeyRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(
        self,
        *,
        user_id: int,
        organization_id: int | None,
        name: str,
        key_hash: str,
        last_four: str,
        scopes: tuple[str, ...],
        rate_limit: int,
        expires_at: datetime | None,
        now: datetime,
    ) -> ApiKey:
        key_id = _insert(
            self._session,
            api_keys.insert().values(
                user_id=user_id,
                organization_id=organization_id,
                name=name,
                key_hash=key_hash,
                last_four=last_four,
                permissions=list(scopes),
                rate_limit=rate_limit,
                expires_at=to_db(expires_at),
                created_at=to_db(now),
            ),
        )
        return ApiKey(
            id=key_id,
            user_id=user_id,
            organization_id=organization_id,
            name=name,
            last_four=last_four,
            scopes=scopes,
            rate_limit=rate_limit,
            expires_at=expires_at,
            created_at=now,
        )

    def get(self, key_id: int, *, for_update: bool = False) -> ApiKey | None:
        query = api_keys.select().where(api_keys.c.id == key_id)
        row = self._session.execute(query.with_for_update() if for_update else query).first()
        return None if row is None else self._key(row)

    def by_hash(self, key_hash: str) -> ApiKey | None:
        row = self._session.execute(api_keys.select().where(api_keys.c.key_hash == key_hash)).first()
        return None if row is None else self._key(row)

    def of_user(self, user_id: int) -> list[ApiKey]:
        query = api_keys.select().where(api_keys.c.user_id == user_id).order_by(api_keys.c.id.desc())
        return [self._key(row) for row in self._session.execute(query)]

    def revoke(self, key_id: int, now: datetime) -> None:
        self._session.execute(api_keys.update().where(api_keys.c.id == key_id).values(revoked_at=to_db(now)))

    @staticmethod
    def _key(row: Row[Any]) -> ApiKey:
        return ApiKey(
            id=int(row.id),
            user_id=int(row.user_id),
            organization_id=None if row.organization_id is None else int(row.organization_id),
            name=row.name,
            last_four=row.last_four or "",
            scopes=tuple(row.permissions or ()),
            rate_limit=int(row.rate_limit),
            expires_at=from_db(row.expires_at),
            created_at=_aware(row.created_at),
            last_used_at=from_db(row.last_used_at),
            revoked_at=from_db(row.revoked_at),
        )


class SettingRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def get(self, key: str, *, for_update: bool = False) -> Setting | None:
        query = system_settings.select().where(system_settings.c.key == key)
        row = self._session.execute(query.with_for_update() if for_update else query).first()
        if row is None:
            return None
        return Setting(
            key=row.key,
            type=SettingType(row.type),
            value=row.value,
            description=row.description or "",
            version=int(row.version),
            updated_at=from_db(row.updated_at),
        )

    def update(self, setting: Setting) -> None:
        self._session.execute(
            system_settings.update()
            .where(system_settings.c.key == setting.key)
            .values(value=setting.value, version=setting.version, updated_at=to_db(setting.updated_at))
        )


class QuotaRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

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
        return None if row is None else self._quota(row)

    def lock_by_id(self, quota_id: int) -> Quota:
        row = self._session.execute(
            resource_quotas.select().where(resource_quotas.c.id == quota_id).with_for_update()
        ).one()
        return self._quota(row)

    def save_usage(self, quota: Quota, now: datetime) -> None:
        self._session.execute(
            resource_quotas.update()
            .where(resource_quotas.c.id == quota.id)
            .values(current_usage=quota.current_usage, version=quota.version, updated_at=to_db(now))
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
    def _quota(row: Row[Any]) -> Quota:
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
            created_at=_aware(row.created_at),
            released_at=from_db(row.released_at),
        )
