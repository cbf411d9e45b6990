"""Organizations' members and users' sign-in addresses as identity's events told support, inside one session."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.mysql import insert as mysql_insert
from sqlalchemy.orm import Session

from support_service.adapters import tables as t


class AudienceRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def set_member(self, organization_id: int, user_id: int, role: str, now: datetime) -> None:
        write = mysql_insert(t.organization_members).values(
            organization_id=organization_id, user_id=user_id, role=role, recorded_at=now
        )
        self.session.execute(
            write.on_duplicate_key_update(role=write.inserted.role, recorded_at=write.inserted.recorded_at)
        )

    def remove_member(self, organization_id: int, user_id: int) -> None:
        c = t.organization_members.c
        self.session.execute(
            sa.delete(t.organization_members).where(c.organization_id == organization_id, c.user_id == user_id)
        )

    def forget_user(self, user_id: int) -> None:
        self.session.execute(sa.delete(t.organization_members).where(t.organization_members.c.user_id == user_id))
        self.session.execute(sa.delete(t.known_sign_in_addresses).where(t.known_sign_in_addresses.c.user_id == user_id))

    def members(self, organization_id: int, roles: Collection[str]) -> list[int]:
        c = t.organization_members.c
        rows = self.session.execute(
            sa.select(c.user_id)
            .where(c.organization_id == organization_id, c.role.in_(list(roles)))
            .order_by(c.user_id)
        )
        return [int(user_id) for (user_id,) in rows]

    def remember_address(self, user_id: int, ip_sha256: str, now: datetime) -> tuple[bool, bool]:
        """Record the address; (whether it is new for the user, whether the user had any before)."""
        c = t.known_sign_in_addresses.c
        known = self.session.execute(
            sa.select(c.ip_sha256).where(c.user_id == user_id).limit(2).with_for_update()
        ).all()
        inserted = self.session.execute(
            mysql_insert(t.known_sign_in_addresses)
            .values(user_id=user_id, ip_sha256=ip_sha256, first_seen_at=now)
            .prefix_with("IGNORE")
        )
        return int(inserted.rowcount) == 1, bool(known)  # type: ignore[attr-defined]
