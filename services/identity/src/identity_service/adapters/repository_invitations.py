"""Organization invitations in and out of MariaDB (``organization_invitations``).

Only the SHA-256 of an invitation's token is stored (``token_hash``, unique): the token is
found again by an equality lookup on it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from identity_service.adapters.rows import from_db, insert_one, required_time, to_db
from identity_service.adapters.tables import organization_invitations
from identity_service.domain.invitations import Invitation
from identity_service.domain.model import OrganizationRole

table = organization_invitations


class InvitationRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(
        self,
        *,
        organization_id: int,
        email: str,
        role: OrganizationRole,
        permissions: tuple[str, ...],
        token_hash: str,
        invited_by: int,
        now: datetime,
        expires_at: datetime,
    ) -> Invitation:
        invitation_id = insert_one(
            self._session,
            table.insert().values(
                organization_id=organization_id,
                email=email,
                role=role.value,
                permissions=list(permissions),
                token_hash=token_hash,
                invited_by=invited_by,
                created_at=to_db(now),
                expires_at=to_db(expires_at),
            ),
        )
        return Invitation(
            id=invitation_id,
            organization_id=organization_id,
            email=email,
            role=role,
            permissions=permissions,
            invited_by=invited_by,
            created_at=now,
            expires_at=expires_at,
        )

    def get(self, invitation_id: int, *, for_update: bool = False) -> Invitation | None:
        query = table.select().where(table.c.id == invitation_id)
        row = self._session.execute(query.with_for_update() if for_update else query).first()
        return None if row is None else self._invitation(row)

    def by_token_hash(self, token_hash: str, *, for_update: bool = False) -> Invitation | None:
        query = table.select().where(table.c.token_hash == token_hash)
        row = self._session.execute(query.with_for_update() if for_update else query).first()
        return None if row is None else self._invitation(row)

    def open_for(self, organization_id: int, email: str) -> list[Invitation]:
        """Open invitations of an address (expired ones included: replacing them is harmless)."""
        query = table.select().where(
            table.c.organization_id == organization_id,
            table.c.email == email,
            table.c.accepted_at.is_(None),
            table.c.revoked_at.is_(None),
        )
        return [self._invitation(row) for row in self._session.execute(query.order_by(table.c.id))]

    def open_of_organization(self, organization_id: int, now: datetime) -> list[Invitation]:
        query = table.select().where(
            table.c.organization_id == organization_id,
            table.c.accepted_at.is_(None),
            table.c.revoked_at.is_(None),
            table.c.expires_at > to_db(now),
        )
        return [self._invitation(row) for row in self._session.execute(query.order_by(table.c.id))]

    def revoke(self, invitation_id: int, now: datetime) -> None:
        self._session.execute(table.update().where(table.c.id == invitation_id).values(revoked_at=to_db(now)))

    def mark_accepted(self, invitation_id: int, user_id: int, now: datetime) -> None:
        self._session.execute(
            table.update().where(table.c.id == invitation_id).values(accepted_by=user_id, accepted_at=to_db(now))
        )

    @staticmethod
    def _invitation(row: Row[Any]) -> Invitation:
        return Invitation(
            id=int(row.id),
            organization_id=int(row.organization_id),
            email=row.email,
            role=OrganizationRole(row.role),
            permissions=tuple(row.permissions or ()),
            invited_by=None if row.invited_by is None else int(row.invited_by),
            created_at=required_time(row.created_at),
            expires_at=required_time(row.expires_at),
            accepted_by=None if row.accepted_by is None else int(row.accepted_by),
            accepted_at=from_db(row.accepted_at),
            revoked_at=from_db(row.revoked_at),
        )
