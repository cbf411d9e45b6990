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
    login_activity,
    organization_users,
    organizations,
    quota_reservations,
    resource_quotas,
    system_settings,
    users,
)
from identity_service.domain.model import (
    ApiKey,
    LoginAttempt,
    LoginFailure,
    LoginState,
    Membership,
    Organization,
    OrganizationRole,
    OrganizationStatus,
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

    def by_email(self, email: str, *, for_update: bool = False) -> User | None:
        query = users.select().where(users.c.email == email)
        row = self._session.execute(query.with_for_update() if for_update else query).first()
        return None if row is None else self._user(row)

    def save_login(
        self, user: User, state: LoginState, now: datetime, *, succeeded_from: str | None, password_hash: str | None
    ) -> None:
        """The lockout state and version after an attempt; on success also when and from where."""
        values: dict[str, Any] = {
            "failed_logins": state.failed_logins,
            "locked_until": to_db(state.locked_until),
            "version": user.version,
            "updated_at": to_db(now),
        }
        if succeeded_from is not None:
            values |= {"last_login_at": to_db(now), "last_login_ip": succeeded_from}
        if password_hash is not None:
            values["password"] = password_hash
        self._session.execute(users.update().where(users.c.id == user.id).values(**values))

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
            version=int(row.version),
            failed_logins=int(row.failed_logins),
            locked_until=from_db(row.locked_until),
            last_login_at=from_db(row.last_login_at),
        )


class OrganizationRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def exists(self, organization_id: int) -> bool:
        query = sa.select(organizations.c.id).where(organizations.c.id == organization_id)
        return self._session.execute(query).first() is not None

    def add(self, name: str, slug: str, owner_id: int, now: datetime) -> Organization:
        organization_id = _insert(
            self._session,
            organizations.insert().values(
                name=name,
                slug=slug,
                owner_id=owner_id,
                status=OrganizationStatus.ACTIVE.value,
                version=1,
                created_at=to_db(now),
                updated_at=to_db(now),
            ),
        )
        return Organization(
            id=organization_id,
            name=name,
            slug=slug,
            owner_id=owner_id,
            status=OrganizationStatus.ACTIVE,
            created_at=now,
        )

    def slug_taken(self, slug: str) -> bool:
        query = sa.select(organizations.c.id).where(organizations.c.slug == slug)
        return self._session.execute(query).first() is not None

    def get(self, organization_id: int, *, for_update: bool = False) -> Organization | None:
        """With ``for_update`` the row is locked until the transaction ends: every change of
        an organization's members takes this lock first, so the one-owner rule is checked
        against members that no concurrent change is rewriting."""
        query = organizations.select().where(organizations.c.id == organization_id)
        row = self._session.execute(query.with_for_update() if for_update else query).first()
        return None if row is None else self._organization(row)

    def save(self, organization: Organization, now: datetime) -> None:
        self._session.execute(
            organizations.update()
            .where(organizations.c.id == organization.id)
            .values(owner_id=organization.owner_id, version=organization.version, updated_at=to_db(now))
        )

    def of_user(self, user_id: int) -> list[tuple[Organization, Membership]]:
        query = (
            sa.select(
                organizations,
                organization_users.c.organization_id,
                organization_users.c.user_id,
                organization_users.c.role,
                organization_users.c.permissions,
                organization_users.c.invited_by,
                organization_users.c.joined_at,
            )
            .join(organization_users, organization_users.c.organization_id == organizations.c.id)
            .where(organization_users.c.user_id == user_id)
            .order_by(organizations.c.id)
        )
        return [(self._organization(row), self._membership(row)) for row in self._session.execute(query)]

    def add_member(self, member: Membership) -> None:
        self._session.execute(
            organization_users.insert().values(
                organization_id=member.organization_id,
                user_id=member.user_id,
                role=member.role.value,
                permissions=list(member.permissions),
                invited_by=member.invited_by,
                joined_at=to_db(member.joined_at),
            )
        )

    def member(self, organization_id: int, user_id: int) -> Membership | None:
        query = organization_users.select().where(
            organization_users.c.organization_id == organization_id, organization_users.c.user_id == user_id
        )
        row = self._session.execute(query).first()
        return None if row is None else self._membership(row)

    def members(self, organization_id: int) -> list[Membership]:
        query = (
            organization_users.select()
            .where(organization_users.c.organization_id == organization_id)
            .order_by(organization_users.c.id)
        )
        return [self._membership(row) for row in self._session.execute(query)]

    def set_role(self, organization_id: int, user_id: int, role: OrganizationRole) -> None:
        self._session.execute(
            organization_users.update()
            .where(organization_users.c.organization_id == organization_id, organization_users.c.user_id == user_id)
            .values(role=role.value)
        )

    def set_permissions(self, organization_id: int, user_id: int, permissions: tuple[str, ...]) -> None:
        self._session.execute(
            organization_users.update()
            .where(organization_users.c.organization_id == organization_id, organization_users.c.user_id == user_id)
            .values(permissions=list(permissions))
        )

    def save_details(self, organization: Organization, now: datetime) -> None:
        """Name, billing email, country, VAT id and version (UpdateOrganization)."""
        self._session.execute(
            organizations.update()
            .where(organizations.c.id == organization.id)
            .values(
                name=organization.name,
                billing_email=organization.billing_email,
                country=organization.country,
                tax_id=organization.tax_id,
                version=organization.version,
                updated_at=to_db(now),
            )
        )

    def remove_member(self, organization_id: int, user_id: int) -> None:
        self._session.execute(
            organization_users.delete().where(
                organization_users.c.organization_id == organization_id, organization_users.c.user_id == user_id
            )
        )

    @staticmethod
    def _organization(row: Row[Any]) -> Organization:
        return Organization(
            id=int(row.id),
            name=row.name,
            slug=row.slug,
            owner_id=int(row.owner_id),
            status=OrganizationStatus(row.status),
            created_at=_aware(row.created_at),
            version=int(row.version),
            billing_email=row.billing_email,
            country=row.country,
            tax_id=row.tax_id,
        )

    @staticmethod
    def _membership(row: Row[Any]) -> Membership:
        return Membership(
            organization_id=int(row.organization_id),
            user_id=int(row.user_id),
            role=OrganizationRole(row.role),
            permissions=tuple(row.permissions or ()),
            invited_by=None if row.invited_by is None else int(row.invited_by),
            joined_at=_aware(row.joined_at),
        )


class LoginActivityRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(
        self,
        user_id: int | None,
        ip_address: str,
        user_agent: str,
        failure: LoginFailure | None,
        now: datetime,
    ) -> LoginAttempt:
        attempt_id = _insert(
            self._session,
            login_activity.insert().values(
                user_id=user_id,
                ip_address=ip_address,
                user_agent=user_agent or None,
                success=failure is None,
                failure_reason=None if failure is None else failure.value,
                created_at=to_db(now),
            ),
        )
        return LoginAttempt(
            id=attempt_id,
            user_id=user_id,
            ip_address=ip_address,
            user_agent=user_agent,
            success=failure is None,
            failure_reason=failure,
            created_at=now,
        )

    def of_user(self, user_id: int, *, offset: int, limit: int) -> tuple[list[LoginAttempt], int]:
        """One page of a user's attempts, newest first, and how many there are in all."""
        query = (
            login_activity.select()
            .where(login_activity.c.user_id == user_id)
            .order_by(login_activity.c.id.desc())
            .offset(offset)
            .limit(limit)
        )
        total = self._session.execute(
            sa.select(sa.func.count()).select_from(login_activity).where(login_activity.c.user_id == user_id)
        ).scalar_one()
        return [self._attempt(row) for row in self._session.execute(query)], int(total)

    @staticmethod
    def _attempt(row: Row[Any]) -> LoginAttempt:
        return LoginAttempt(
            id=int(row.id),
            user_id=None if row.user_id is None else int(row.user_id),
            ip_address=row.ip_address,
            user_agent=row.user_agent or "",
            success=bool(row.success),
            failure_reason=None if row.failure_reason is None else LoginFailure(row.failure_reason),
            created_at=_aware(row.created_at),
        )


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
            last_used_ip=row.last_used_ip,
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
