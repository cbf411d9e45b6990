"""API keys in and out of MariaDB, on the unit of work's session (the hash only, never a secret)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from identity_service.adapters.rows import from_db, insert_one, required_time, to_db
from identity_service.adapters.tables import api_keys
from identity_service.domain.model import ApiKey


class ApiKeyRepository:
    def __init__(self, session: Session) -> None:
        self._session = session
        self.seen: list[ApiKey] = []

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
        key_id = insert_one(
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
                version=1,
            ),
        )
        key = ApiKey(
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
        self.seen.append(key)
        return key

    def get(self, key_id: int, *, for_update: bool = False) -> ApiKey | None:
        query = api_keys.select().where(api_keys.c.id == key_id)
        row = self._session.execute(query.with_for_update() if for_update else query).first()
        return None if row is None else self.api_key_from_row(row)

    def by_hash(self, key_hash: str) -> ApiKey | None:
        row = self._session.execute(api_keys.select().where(api_keys.c.key_hash == key_hash)).first()
        return None if row is None else self.api_key_from_row(row)

    def of_user(self, user_id: int) -> list[ApiKey]:
        query = api_keys.select().where(api_keys.c.user_id == user_id).order_by(api_keys.c.id.desc())
        return [self.api_key_from_row(row) for row in self._session.execute(query)]

    def save(self, key: ApiKey) -> None:
        """Write what a key's own methods change (name, scopes, rate limit, expiry, revocation)."""
        self.seen.append(key)
        self._session.execute(
            api_keys.update()
            .where(api_keys.c.id == key.id)
            .values(
                name=key.name,
                permissions=list(key.scopes),
                rate_limit=key.rate_limit,
                expires_at=to_db(key.expires_at),
                revoked_at=to_db(key.revoked_at),
                version=key.version,
            )
        )

    def note_use(self, key_id: int, ip: str | None, now: datetime, every: timedelta) -> bool:
        """Record that the key was used now from ``ip``, unless that was recorded less than
        ``every`` ago: one conditional UPDATE, so a busy key costs a write a minute, not one a
        request, and concurrent replicas write it once (the row lock serialises them and the
        second finds the condition false). True when it wrote."""
        result = self._session.execute(
            api_keys.update()
            .where(
                api_keys.c.id == key_id,
                sa.or_(api_keys.c.last_used_at.is_(None), api_keys.c.last_used_at < to_db(now - every)),
            )
            .values(last_used_at=to_db(now), last_used_ip=ip)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    @staticmethod
    def api_key_from_row(row: Row[Any]) -> ApiKey:
        return ApiKey(
            id=int(row.id),
            user_id=int(row.user_id),
            organization_id=None if row.organization_id is None else int(row.organization_id),
            name=row.name,
            last_four=row.last_four or "",
            scopes=tuple(row.permissions or ()),
            rate_limit=int(row.rate_limit),
            expires_at=from_db(row.expires_at),
            created_at=required_time(row.created_at),
            last_used_at=from_db(row.last_used_at),
            revoked_at=from_db(row.revoked_at),
            last_used_ip=row.last_used_ip,
            version=int(row.version),
        )
