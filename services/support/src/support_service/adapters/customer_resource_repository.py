"""Where customers have resources (``customer_resources``, from compute's events), inside one session."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.mysql import insert as mysql_insert
from sqlalchemy.orm import Session

from support_service.adapters import tables as t


class CustomerResourceRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def record(
        self,
        resource_type: str,
        resource_id: int,
        user_id: int,
        organization_id: int | None,
        datacenter: str,
        now: datetime,
    ) -> None:
        values = {
            "resource_type": resource_type,
            "resource_id": resource_id,
            "user_id": user_id,
            "organization_id": organization_id,
            "datacenter": datacenter,
            "recorded_at": now,
        }
        write = mysql_insert(t.customer_resources).values(**values)
        self.session.execute(
            write.on_duplicate_key_update(
                user_id=write.inserted.user_id,
                organization_id=write.inserted.organization_id,
                datacenter=write.inserted.datacenter,
                recorded_at=write.inserted.recorded_at,
            )
        )

    def forget(self, resource_type: str, resource_id: int) -> None:
        c = t.customer_resources.c
        self.session.execute(
            sa.delete(t.customer_resources).where(c.resource_type == resource_type, c.resource_id == resource_id)
        )

    def owners_near(self, locations: Sequence[str]) -> list[tuple[int, str]]:
        """(user id, datacenter) of every resource in one of ``locations`` (``fsn1`` …) or their datacenters."""
        if not locations:
            return []
        c = t.customer_resources.c
        near = sa.or_(*[sa.or_(c.datacenter == loc, c.datacenter.like(f"{loc}-dc%")) for loc in locations])
        return [
            (int(u), str(d)) for u, d in self.session.execute(sa.select(c.user_id, c.datacenter).where(near).distinct())
        ]
