"""What staff administration reads and writes, on the unit of work's session: account
details and search, status changes and erasure, every setting, quota listings and limits,
and the API keys' last use."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from identity_service.adapters.repository_api_keys import ApiKeyRepository
from identity_service.adapters.repository_quotas import QuotaRepository
from identity_service.adapters.repository_users import UserRepository
from identity_service.adapters.rows import from_db, to_db
from identity_service.adapters.tables import (
    api_keys,
    login_activity,
    organization_invitations,
    organization_users,
    resource_quotas,
    system_settings,
    user_sessions,
    users,
)
from identity_service.domain.model import ApiKey, Quota, Setting, SettingType
from identity_service.domain.staff import UserDetails, UserSearch

ERASED_IP = "::"
"""What an erased account's sign-in records keep as their address: none that points anywhere."""

SORT_COLUMNS = {"id": users.c.id, "name": users.c.name, "email": users.c.email, "created": users.c.created_at}


def _like(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class StaffRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    # -- accounts ---------------------------------------------------------------------------

    def details(self, user_id: int, *, for_update: bool = False) -> UserDetails | None:
        query = users.select().where(users.c.id == user_id)
        row = self._session.execute(query.with_for_update() if for_update else query).first()
        return None if row is None else self._details(row)

    def search(self, search: UserSearch, *, offset: int, limit: int) -> tuple[list[UserDetails], int]:
        conditions: list[sa.ColumnElement[bool]] = []
        if search.query:
            pattern = _like(search.query)
            conditions.append(
                sa.or_(sa.func.lower(users.c.email).like(pattern), sa.func.lower(users.c.name).like(pattern))
            )
        if search.role is not None:
            conditions.append(users.c.role == search.role.value)
        if search.status is not None:
            conditions.append(users.c.status == search.status.value)
        order = [SORT_COLUMNS[k.field].desc() if k.descending else SORT_COLUMNS[k.field].asc() for k in search.sort]
        if not any(k.field == "id" for k in search.sort):
            order.append(users.c.id.asc())  # a stable order, so pages neither skip nor repeat
        query = users.select().where(*conditions).order_by(*order).offset(offset).limit(limit)
        total = self._session.execute(sa.select(sa.func.count()).select_from(users).where(*conditions)).scalar_one()
        return [self._details(row) for row in self._session.execute(query)], int(total)

    def anonymise_login_activity(self, user_id: int) -> None:
        self._session.execute(
            login_activity.update()
            .where(login_activity.c.user_id == user_id)
            .values(ip_address=ERASED_IP, user_agent=None)
        )

    def live_api_keys(self, user_id: int) -> list[ApiKey]:
        """The user's unrevoked keys, locked until the transaction ends."""
        query = (
            api_keys.select()
            .where(api_keys.c.user_id == user_id, api_keys.c.revoked_at.is_(None))
            .order_by(api_keys.c.id)
            .with_for_update()
        )
        return [ApiKeyRepository.api_key_from_row(row) for row in self._session.execute(query)]

    def revoke_sessions(self, user_id: int, now: datetime) -> int:
        result = self._session.execute(
            user_sessions.update()
            .where(user_sessions.c.user_id == user_id, user_sessions.c.revoked_at.is_(None))
            .values(revoked_at=to_db(now), version=user_sessions.c.version + 1)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    def revoke_open_invitations(self, email: str, now: datetime) -> int:
        result = self._session.execute(
            organization_invitations.update()
            .where(
                organization_invitations.c.email == email,
                organization_invitations.c.accepted_at.is_(None),
                organization_invitations.c.revoked_at.is_(None),
            )
            .values(revoked_at=to_db(now))
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    def member_count(self, organization_id: int) -> int:
        query = sa.select(sa.func.count()).where(organization_users.c.organization_id == organization_id)
        return int(self._session.execute(query).scalar_one())

    @staticmethod
    def _details(row: Row[Any]) -> UserDetails:
        return UserDetails(
            user=UserRepository.user_from_row(row),
            email_verified_at=from_db(row.email_verified_at),
            two_factor_enabled=row.two_factor_confirmed_at is not None,
            deleted_at=from_db(row.deleted_at),
        )

    # -- settings ---------------------------------------------------------------------------

    def settings(self) -> list[Setting]:
        rows = self._session.execute(system_settings.select().order_by(system_settings.c.key))
        return [
            Setting(
                key=row.key,
                type=SettingType(row.type),
                value=row.value,
                description=row.description or "",
                version=int(row.version),
                updated_at=from_db(row.updated_at),
            )
            for row in rows
        ]

    # -- quotas -----------------------------------------------------------------------------

    def quotas(self, *, user_ids: list[int], organization_ids: list[int]) -> list[Quota]:
        """Quotas of the users and organizations given: users' first, then organizations'."""
        owned = []
        if user_ids:
            owned.append(resource_quotas.c.user_id.in_(user_ids))
        if organization_ids:
            owned.append(resource_quotas.c.organization_id.in_(organization_ids))
        if not owned:
            return []
        query = (
            resource_quotas.select()
            .where(sa.or_(*owned))
            .order_by(
                resource_quotas.c.organization_id.is_not(None),
                resource_quotas.c.organization_id,
                resource_quotas.c.user_id,
                resource_quotas.c.resource_type,
            )
        )
        return [QuotaRepository.quota_from_row(row) for row in self._session.execute(query)]
