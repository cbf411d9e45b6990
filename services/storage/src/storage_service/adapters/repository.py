"""Reading and writing volumes and their actions inside one unit of work's session."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.mysql import insert as mysql_insert
from sqlalchemy.orm import Session

from cpshared.errors import AlreadyExists
from hetzner_conventions.label_sql import LabelRequirement, requirements_clause
from storage_service.adapters import tables as t
from storage_service.domain import volumes as v
from storage_service.domain.volumes import Action, Volume

DUPLICATE_KEY = 1062


def _volume(row: sa.Row[Any]) -> Volume:
    return Volume(
        id=row.id,
        user_id=row.user_id,
        organization_id=row.organization_id,
        name=row.name,
        size_gb=row.size_gb,
        location=row.location,
        datacenter_id=row.datacenter_id,
        status=row.status,
        server_id=row.server_id,
        format=row.format or "",
        labels=dict(row.labels or {}),
        protection_delete=bool(row.protection_delete),
        locked=bool(row.locked),
        blocked=bool(row.blocked),
        erased=bool(row.erased),
        hetzner_id=row.hetzner_id or 0,
        created_at=row.created_at,
        updated_at=row.updated_at,
        deleted_at=row.deleted_at,
        version=row.version,
    )


def _action(row: sa.Row[Any]) -> Action:
    return Action(
        id=row.id,
        command=row.command,
        status=row.status,
        volume_id=row.volume_id,
        user_id=row.user_id,
        organization_id=row.organization_id,
        server_id=row.server_id,
        progress=row.progress,
        started=row.started,
        finished=row.finished,
        error_code=row.error_code or "",
        error_message=row.error_message or "",
        upstream_action_id=row.upstream_action_id,
        version=row.version,
        params=dict(row.params or {}),
    )


class VolumeRepository:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.seen: list[Volume] = []
        """The volumes written in this unit of work: it collects their recorded events on commit."""

    def _saw(self, volume: Volume) -> None:
        if not any(seen is volume for seen in self.seen):
            self.seen.append(volume)

    def _unique(self, write: sa.Executable, name: str) -> Any:
        try:
            with self.session.begin_nested():
                return self.session.execute(write)
        except sa_exc.IntegrityError as exc:
            if getattr(exc.orig, "args", (None,))[0] != DUPLICATE_KEY:
                raise
            raise AlreadyExists(
                f"a volume named {name!r} exists already; choose another name",
                details={"fields": [{"name": "name", "messages": ["already exists"]}]},
            ) from None

    def get(self, volume_id: int, *, for_update: bool = False) -> Volume | None:
        query = sa.select(t.volumes).where(t.volumes.c.id == volume_id)
        row = self.session.execute(query.with_for_update() if for_update else query).first()
        return _volume(row) if row else None

    def _values(self, volume: Volume, now: datetime) -> dict[str, Any]:
        return {
            "server_id": volume.server_id,
            "hetzner_id": volume.hetzner_id,
            "name": volume.name,
            "size_gb": volume.size_gb,
            "status": volume.status,
            "format": volume.format or None,
            "labels": volume.labels,
            "updated_at": now,
            "deleted_at": volume.deleted_at,
            "protection_delete": volume.protection_delete,
            "locked": volume.locked,
            "blocked": volume.blocked,
            "erased": volume.erased,
            "version": volume.version,
        }

    def add(self, volume: Volume, now: datetime) -> Volume:
        write = sa.insert(t.volumes).values(
            user_id=volume.user_id,
            organization_id=volume.organization_id,
            datacenter_id=volume.datacenter_id,
            location=volume.location,
            created_at=now,
            **self._values(volume, now),
        )
        result = self._unique(write, volume.name)
        volume.id = int(result.inserted_primary_key[0])
        volume.created_at = volume.updated_at = now
        self._saw(volume)
        return volume

    def save(self, volume: Volume, now: datetime) -> None:
        write = sa.update(t.volumes).where(t.volumes.c.id == volume.id).values(**self._values(volume, now))
        self._unique(write, volume.name)
        volume.updated_at = now
        self._saw(volume)

    def open_size_period(self, volume_id: int, size_gb: int, at: datetime) -> None:
        self.session.execute(
            sa.insert(t.volume_size_periods).values(volume_id=volume_id, size_gb=size_gb, started_at=at)
        )

    def lock_server(self, server_id: int) -> None:
        """The server's slot row, locked until this transaction ends. A server's first slot row is
        made in a short transaction of its own: two transactions inserting it inside their own
        would deadlock on each other's gap locks (as identity makes a quota's row)."""
        query = sa.select(t.server_slots.c.server_id).where(t.server_slots.c.server_id == server_id).with_for_update()
        if self.session.execute(query).first() is not None:
            return
        with self.session.get_bind().engine.connect() as conn:
            conn.execute(mysql_insert(t.server_slots).values(server_id=server_id).prefix_with("IGNORE"))
            conn.commit()
        self.session.execute(query)

    def count_on_server(self, server_id: int) -> int:
        c = t.volumes.c
        query = sa.select(sa.func.count()).where(c.server_id == server_id, c.deleted_at.is_(None))
        return int(self.session.execute(query).scalar_one())

    def of_account(self, *, user_id: int | None = None, organization_id: int | None = None) -> list[Volume]:
        """The live volumes a user owns itself (``user_id``) or an organization owns, locked
        until this transaction ends (suspension and erasure change them)."""
        c = t.volumes.c
        owner = (
            c.organization_id == organization_id
            if organization_id is not None
            else sa.and_(c.user_id == user_id, c.organization_id.is_(None))
        )
        query = sa.select(t.volumes).where(owner, c.deleted_at.is_(None)).order_by(c.id).with_for_update()
        return [_volume(row) for row in self.session.execute(query)]

    def on_servers(self, server_ids: Iterable[int]) -> dict[int, list[Volume]]:
        wanted = sorted(set(server_ids))
        found: dict[int, list[Volume]] = {}
        if not wanted:
            return found
        c = t.volumes.c
        query = (
            sa.select(t.volumes)
            .where(c.server_id.in_(wanted), c.deleted_at.is_(None), c.status.in_([v.ATTACHED, v.DETACHING]))
            .order_by(c.server_id, c.id)
        )
        for row in self.session.execute(query):
            found.setdefault(row.server_id, []).append(_volume(row))
        return found

    def search(
        self,
        *,
        user_id: int | None,
        organization_id: int | None,
        name: str,
        statuses: Sequence[str],
        requirements: Iterable[LabelRequirement],
        order: Sequence[tuple[str, bool]],
        offset: int,
        limit: int,
    ) -> tuple[list[Volume], int]:
        """One page of the live volumes of a user (its own, not its organizations') and/or an
        organization; both None: every tenant's. ``order``: (id|name|created, descending). A volume
        being deleted is gone for its tenant already."""
        c = t.volumes.c
        conditions: list[sa.ColumnElement[bool]] = [c.deleted_at.is_(None), c.status != v.DELETING]
        tenants: list[sa.ColumnElement[bool]] = []
        if user_id is not None:
            tenants.append(sa.and_(c.user_id == user_id, c.organization_id.is_(None)))
        if organization_id is not None:
            tenants.append(c.organization_id == organization_id)
        if tenants:
            conditions.append(sa.or_(*tenants))
        if name:
            conditions.append(c.name == name)
        if statuses:
            conditions.append(c.status.in_(list(statuses)))
        conditions.append(requirements_clause(requirements, c.labels))
        where = sa.and_(*conditions)
        total = self.session.execute(sa.select(sa.func.count()).select_from(t.volumes).where(where)).scalar_one()
        columns = {"id": c.id, "name": c.name, "created": c.created_at}
        order_by = [columns[field].desc() if descending else columns[field].asc() for field, descending in order]
        query = sa.select(t.volumes).where(where).order_by(*order_by, c.id).offset(offset).limit(limit)
        return [_volume(row) for row in self.session.execute(query)], int(total)

    def deleted_ids(self, volume_ids: Iterable[int]) -> set[int]:
        wanted = sorted(set(volume_ids))
        if not wanted:
            return set()
        c = t.volumes.c
        query = sa.select(c.id).where(c.id.in_(wanted), c.deleted_at.is_not(None))
        return {row.id for row in self.session.execute(query)}

    def recorded_upstream_ids(self, volume_ids: Iterable[int]) -> dict[int, int]:
        wanted = sorted(set(volume_ids))
        if not wanted:
            return {}
        c = t.volumes.c
        return {
            row.id: row.hetzner_id
            for row in self.session.execute(sa.select(c.id, c.hetzner_id).where(c.id.in_(wanted)))
        }


class ActionRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, action: Action, now: datetime) -> Action:
        result = self.session.execute(
            sa.insert(t.actions).values(
                command=action.command,
                status=action.status,
                progress=action.progress,
                started=now,
                volume_id=action.volume_id,
                server_id=action.server_id,
                user_id=action.user_id,
                organization_id=action.organization_id,
                params=action.params or None,
                version=action.version,
            )
        )
        action.id = int(result.inserted_primary_key[0])  # type: ignore[attr-defined]
        action.started = now
        return action

    def get(self, action_id: int) -> Action | None:
        row = self.session.execute(sa.select(t.actions).where(t.actions.c.id == action_id)).first()
        return _action(row) if row else None

    def save(self, action: Action) -> None:
        self.session.execute(
            sa.update(t.actions)
            .where(t.actions.c.id == action.id)
            .values(
                status=action.status,
                progress=action.progress,
                finished=action.finished,
                error_code=action.error_code or None,
                error_message=action.error_message or None,
                upstream_action_id=action.upstream_action_id,
                version=action.version,
            )
        )

    def claim_next(self, skip: Collection[int] = ()) -> Action | None:
        """The oldest running action no other worker holds, locked until this transaction ends."""
        c = t.actions.c
        query = (
            sa.select(t.actions)
            .where(c.status == v.ACTION_RUNNING, c.id.not_in(list(skip)) if skip else sa.true())
            .order_by(c.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        row = self.session.execute(query).first()
        return _action(row) if row else None

    def reserved_sizes(self, volume_id: int) -> list[int]:
        c = t.actions.c
        query = sa.select(c.command, c.status, c.params).where(
            c.volume_id == volume_id, c.command.in_([v.CREATE, v.RESIZE])
        )
        sizes = []
        for row in self.session.execute(query):
            if row.command == v.RESIZE and row.status == v.ACTION_ERROR:
                continue  # released when upstream refused it
            size = (row.params or {}).get("size_gb")
            if size:
                sizes.append(int(size))
        return sizes

    def of_tenant(
        self,
        user_id: int,
        organization_id: int | None,
        *,
        volume_id: int,
        ids: Sequence[int],
        statuses: Sequence[str],
        order: Sequence[tuple[str, bool]],
        offset: int,
        limit: int,
    ) -> tuple[list[Action], int]:
        c = t.actions.c
        where: list[sa.ColumnElement[bool]] = []
        if organization_id is not None:
            where.append(c.organization_id == organization_id)
        else:
            where.extend([c.user_id == user_id, c.organization_id.is_(None)])
        if volume_id:
            where.append(c.volume_id == volume_id)
        if ids:
            where.append(c.id.in_(list(ids)))
        if statuses:
            where.append(c.status.in_(list(statuses)))
        total = self.session.execute(sa.select(sa.func.count()).select_from(t.actions).where(*where)).scalar_one()
        columns = {"id": c.id, "command": c.command, "status": c.status, "started": c.started, "finished": c.finished}
        order_by = [columns[f].desc() if descending else columns[f].asc() for f, descending in order]
        query = sa.select(t.actions).where(*where).order_by(*order_by, c.id).offset(offset).limit(limit)
        return [_action(row) for row in self.session.execute(query)], int(total)
