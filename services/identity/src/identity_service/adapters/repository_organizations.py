"""Organizations and their members in and out of MariaDB, on the unit of work's session."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from identity_service.adapters.rows import from_db, insert_one, required_time, to_db
from identity_service.adapters.tables import organization_users, organizations
from identity_service.domain.model import Membership, Organization, OrganizationRole, OrganizationStatus


class OrganizationRepository:
    def __init__(self, session: Session) -> None:
        self._session = session
        self.seen: list[Organization] = []

    def exists(self, organization_id: int) -> bool:
        query = sa.select(organizations.c.id).where(organizations.c.id == organization_id)
        return self._session.execute(query).first() is not None

    def add(
        self, name: str, slug: str, owner_id: int, now: datetime, trial_ends_at: datetime | None = None
    ) -> Organization:
        status = OrganizationStatus.ACTIVE if trial_ends_at is None else OrganizationStatus.TRIAL
        organization_id = insert_one(
            self._session,
            organizations.insert().values(
                name=name,
                slug=slug,
                owner_id=owner_id,
                status=status.value,
                trial_ends_at=to_db(trial_ends_at),
                version=1,
                created_at=to_db(now),
                updated_at=to_db(now),
            ),
        )
        organization = Organization(
            id=organization_id,
            name=name,
            slug=slug,
            owner_id=owner_id,
            status=status,
            created_at=now,
            trial_ends_at=trial_ends_at,
        )
        self.seen.append(organization)
        return organization

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
        """Its details, owner, status and version."""
        self.seen.append(organization)
        self._session.execute(
            organizations.update()
            .where(organizations.c.id == organization.id)
            .values(
                name=organization.name,
                billing_email=organization.billing_email,
                country=organization.country,
                tax_id=organization.tax_id,
                owner_id=organization.owner_id,
                status=organization.status.value,
                version=organization.version,
                updated_at=to_db(now),
            )
        )

    def trials_over(self, now: datetime, limit: int) -> list[int]:
        """Ids of organizations on a trial whose end has come, oldest end first."""
        query = (
            sa.select(organizations.c.id)
            .where(
                organizations.c.status == OrganizationStatus.TRIAL.value, organizations.c.trial_ends_at <= to_db(now)
            )
            .order_by(organizations.c.trial_ends_at, organizations.c.id)
            .limit(limit)
        )
        return [int(row.id) for row in self._session.execute(query)]

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
            created_at=required_time(row.created_at),
            version=int(row.version),
            billing_email=row.billing_email,
            country=row.country,
            tax_id=row.tax_id,
            trial_ends_at=from_db(row.trial_ends_at),
        )

    @staticmethod
    def _membership(row: Row[Any]) -> Membership:
        return Membership(
            organization_id=int(row.organization_id),
            user_id=int(row.user_id),
            role=OrganizationRole(row.role),
            permissions=tuple(row.permissions or ()),
            invited_by=None if row.invited_by is None else int(row.invited_by),
            joined_at=required_time(row.joined_at),
        )
