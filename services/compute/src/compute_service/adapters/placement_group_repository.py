"""Reading and writing placement groups inside one unit of work's session; a group is read
with the live servers in it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session

from compute_service.adapters import tables as t
from compute_service.domain.placement_groups import PlacementGroup
from cpshared.errors import AlreadyExists
from hetzner_conventions.label_sql import LabelRequirement, requirements_clause

DUPLICATE_KEY = 1062


def _group(row: sa.Row[Any], server_ids: list[int]) -> PlacementGroup:
    return PlacementGroup(
        id=row.id,
        user_id=row.user_id,
        organization_id=row.organization_id,
        name=row.name,
        type=row.type,
        labels=dict(row.labels or {}),
        hetzner_id=row.hetzner_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
        version=row.version,
        server_ids=server_ids,
    )


class PlacementGroupRepository:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.seen: list[PlacementGroup] = []
        """The groups written in this unit of work: it collects their recorded events on commit."""

    def _saw(self, group: PlacementGroup) -> None:
        if not any(seen is group for seen in self.seen):
            self.seen.append(group)

    def members(self, group_ids: Iterable[int]) -> dict[int, list[int]]:
        """The live servers of each group, by id."""
        wanted = sorted(set(group_ids))
        found: dict[int, list[int]] = {group_id: [] for group_id in wanted}
        if wanted:
            c = t.servers.c
            query = (
                sa.select(c.placement_group_id, c.id)
                .where(c.placement_group_id.in_(wanted), c.deleted_at.is_(None))
                .order_by(c.id)
            )
            for group_id, server_id in self.session.execute(query):
                found[group_id].append(server_id)
        return found

    def get(self, group_id: int, *, for_update: bool = False) -> PlacementGroup | None:
        query = sa.select(t.placement_groups).where(t.placement_groups.c.id == group_id)
        row = self.session.execute(query.with_for_update() if for_update else query).first()
        return _group(row, self.members([group_id])[group_id]) if row else None

    def many(self, group_ids: Iterable[int]) -> dict[int, PlacementGroup]:
        wanted = sorted(set(group_ids))
        if not wanted:
            return {}
        rows = list(self.session.execute(sa.select(t.placement_groups).where(t.placement_groups.c.id.in_(wanted))))
        members = self.members(wanted)
        return {row.id: _group(row, members[row.id]) for row in rows}

    def _unique(self, write: sa.Executable, name: str) -> Any:
        try:
            with self.session.begin_nested():
                return self.session.execute(write)
        except sa_exc.IntegrityError as exc:
            if getattr(exc.orig, "args", (None,))[0] != DUPLICATE_KEY:
                raise
            raise AlreadyExists(
                f"a placement group named {name!r} exists already; choose another name",
                details={"fields": [{"name": "name", "messages": ["already exists"]}]},
            ) from None

    def add(self, group: PlacementGroup, now: datetime) -> PlacementGroup:
        write = sa.insert(t.placement_groups).values(
            user_id=group.user_id,
            organization_id=group.organization_id,
            name=group.name,
            type=group.type,
            labels=group.labels,
            created_at=now,
            updated_at=now,
            version=1,
        )
        result = self._unique(write, group.name)
        group.id = int(result.inserted_primary_key[0])
        group.created_at = group.updated_at = now
        group.version = 1
        self._saw(group)
        return group

    def save(self, group: PlacementGroup, now: datetime) -> None:
        write = (
            sa.update(t.placement_groups)
            .where(t.placement_groups.c.id == group.id)
            .values(
                name=group.name, labels=group.labels, hetzner_id=group.hetzner_id, updated_at=now, version=group.version
            )
        )
        self._unique(write, group.name)
        group.updated_at = now
        self._saw(group)

    def delete(self, group: PlacementGroup) -> None:
        self.session.execute(sa.delete(t.placement_groups).where(t.placement_groups.c.id == group.id))
        self._saw(group)

    def search(
        self,
        *,
        user_id: int | None,
        organization_id: int | None,
        name: str,
        types: Sequence[str],
        requirements: Iterable[LabelRequirement],
        order: Sequence[tuple[str, bool]],
        offset: int,
        limit: int,
    ) -> tuple[list[PlacementGroup], int]:
        """One page of the groups of a user (its own, not its organizations') and/or an
        organization; both None: every tenant's. ``order``: (id|name|created, descending)."""
        c = t.placement_groups.c
        conditions: list[sa.ColumnElement[bool]] = []
        tenants: list[sa.ColumnElement[bool]] = []
        if user_id is not None:
            tenants.append(sa.and_(c.user_id == user_id, c.organization_id.is_(None)))
        if organization_id is not None:
            tenants.append(c.organization_id == organization_id)
        if tenants:
            conditions.append(sa.or_(*tenants))
        if name:
            conditions.append(c.name == name)
        if types:
            conditions.append(c.type.in_(list(types)))
        conditions.append(requirements_clause(requirements, c.labels))
        where = sa.and_(*conditions)
        total = self.session.execute(
            sa.select(sa.func.count()).select_from(t.placement_groups).where(where)
        ).scalar_one()
        columns = {"id": c.id, "name": c.name, "created": c.created_at}
        order_by = [columns[field].desc() if descending else columns[field].asc() for field, descending in order]
        query = sa.select(t.placement_groups).where(where).order_by(*order_by, c.id).offset(offset).limit(limit)
        rows = list(self.session.execute(query))
        members = self.members([row.id for row in rows])
        return [_group(row, members[row.id]) for row in rows], int(total)
