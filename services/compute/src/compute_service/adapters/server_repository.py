"""Reading and writing servers and their actions inside one unit of work's session."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session

from compute_service.adapters import tables as t
from compute_service.adapters.placement_group_repository import PlacementGroupRepository
from compute_service.domain import server_status as st
from compute_service.domain.servers import Action, Server
from cpshared.errors import AlreadyExists
from hetzner_conventions.label_sql import LabelRequirement, requirements_clause

DUPLICATE_KEY = 1062

_SERVER_COLUMNS = (
    t.servers,
    t.server_types.c.code.label("server_type_code"),
    t.datacenters.c.code.label("datacenter_code"),
    t.images.c.name.label("image_name"),
    t.server_types.c.disk_gb.label("type_disk_gb"),
    t.server_types.c.architecture.label("type_architecture"),
)
_SERVER_FROM = (
    t.servers.join(t.server_types, t.server_types.c.id == t.servers.c.server_type_id)
    .join(t.datacenters, t.datacenters.c.id == t.servers.c.datacenter_id)
    .outerjoin(t.images, t.images.c.id == t.servers.c.image_id)
)


def _server(row: sa.Row[Any], ssh_key_ids: list[int]) -> Server:
    return Server(
        id=row.id,
        user_id=row.user_id,
        organization_id=row.organization_id,
        name=row.name,
        status=row.status,
        server_type_id=row.server_type_id,
        datacenter_id=row.datacenter_id,
        image_id=row.image_id,
        user_data=row.user_data or "",
        labels=dict(row.labels or {}),
        backup_enabled=bool(row.backup_enabled),
        locked=bool(row.locked),
        protection_delete=bool(row.protection_delete),
        protection_rebuild=bool(row.protection_rebuild),
        hetzner_id=row.hetzner_id,
        ipv4_address=row.ipv4_address,
        ipv6_address=row.ipv6_address,
        ipv6_network=row.ipv6_network,
        ssh_key_ids=ssh_key_ids,
        created_at=row.created_at,
        updated_at=row.updated_at,
        deleted_at=row.deleted_at,
        version=row.version,
        suspended_at=row.suspended_at,
        suspension_reason=row.suspension_reason or "",
        server_type=row.server_type_code,
        datacenter=row.datacenter_code,
        image=row.image_name or "",
        rescue_enabled=bool(row.rescue_enabled),
        disk_gb=int(row.disk_gb or row.type_disk_gb or 0),
        server_type_architecture=row.type_architecture or "",
        iso=dict(row.iso) if row.iso else None,
        dns_ptrs=dict(row.dns_ptrs or {}),
        backup_window=row.backup_window or "",
        root_password_hash=row.root_password_hash,
        placement_group_id=row.placement_group_id,
    )


def _action(row: sa.Row[Any]) -> Action:
    return Action(
        id=row.id,
        command=row.command,
        status=row.status,
        server_id=row.server_id,
        user_id=row.user_id,
        organization_id=row.organization_id,
        progress=row.progress,
        started=row.started,
        finished=row.finished,
        error_code=row.error_code or "",
        error_message=row.error_message or "",
        upstream_action_id=row.upstream_action_id,
        version=row.version,
        params=dict(row.params or {}),
        image_id=row.image_id,
    )


class ServerRepository:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.seen: list[Server] = []
        """The servers written in this unit of work: it collects their recorded events on commit."""

    def _saw(self, server: Server) -> None:
        if not any(seen is server for seen in self.seen):
            self.seen.append(server)

    def _ssh_key_ids(self, server_ids: Sequence[int]) -> dict[int, list[int]]:
        found: dict[int, list[int]] = {server_id: [] for server_id in server_ids}
        if server_ids:
            c = t.server_ssh_keys.c
            query = sa.select(c.server_id, c.ssh_key_id).where(c.server_id.in_(server_ids)).order_by(c.ssh_key_id)
            for server_id, ssh_key_id in self.session.execute(query):
                found[server_id].append(ssh_key_id)
        return found

    def get(self, server_id: int, *, for_update: bool = False) -> Server | None:
        """The server, deleted ones too (the caller decides whether they count)."""
        if for_update:
            # Lock only the server's own row, not the catalog rows it is joined with.
            locked = sa.select(t.servers.c.id).where(t.servers.c.id == server_id).with_for_update()
            if self.session.execute(locked).first() is None:
                return None
        row = self.session.execute(
            sa.select(*_SERVER_COLUMNS).select_from(_SERVER_FROM).where(t.servers.c.id == server_id)
        ).first()
        if row is None:
            return None
        return self._with_groups([_server(row, self._ssh_key_ids([server_id])[server_id])])[0]

    def _with_groups(self, servers: list[Server]) -> list[Server]:
        """``servers`` with the placement group each is in read for display."""
        wanted = [s.placement_group_id for s in servers if s.placement_group_id]
        groups = PlacementGroupRepository(self.session).many(wanted)
        for server in servers:
            server.placement_group = groups.get(server.placement_group_id or 0)
        return servers

    def add(self, server: Server, now: datetime) -> Server:
        write = sa.insert(t.servers).values(
            user_id=server.user_id,
            organization_id=server.organization_id,
            name=server.name,
            hostname=server.name,
            status=server.status,
            server_type_id=server.server_type_id,
            datacenter_id=server.datacenter_id,
            image_id=server.image_id,
            user_data=server.user_data or None,
            labels=server.labels,
            backup_enabled=server.backup_enabled,
            locked=server.locked,
            protection_delete=server.protection_delete,
            protection_rebuild=server.protection_rebuild,
            placement_group_id=server.placement_group_id,
            created_at=now,
            updated_at=now,
            version=1,
        )
        try:
            with self.session.begin_nested():
                result = self.session.execute(write)
        except sa_exc.IntegrityError as exc:
            if getattr(exc.orig, "args", (None,))[0] != DUPLICATE_KEY:
                raise
            raise AlreadyExists(
                f"a server named {server.name!r} exists already; choose another name",
                details={"fields": [{"name": "name", "messages": ["already exists"]}]},
            ) from None
        server.id = int(result.inserted_primary_key[0])  # type: ignore[attr-defined]
        server.created_at = server.updated_at = now
        server.version = 1
        if server.ssh_key_ids:
            self.session.execute(
                sa.insert(t.server_ssh_keys),
                [{"server_id": server.id, "ssh_key_id": key_id, "added_at": now} for key_id in server.ssh_key_ids],
            )
        self.open_type_period(server.id, server.server_type_id, now)
        self._saw(server)
        return server

    def open_type_period(self, server_id: int, server_type_id: int, at: datetime) -> None:
        """Record that ``server_id`` has ``server_type_id`` from ``at`` on (closing the period
        of its previous type): called at creation and when a type change has finished."""
        self.session.execute(
            sa.update(t.server_type_periods)
            .where(t.server_type_periods.c.server_id == server_id, t.server_type_periods.c.ended_at.is_(None))
            .values(ended_at=at)
        )
        self.session.execute(
            sa.insert(t.server_type_periods).values(server_id=server_id, server_type_id=server_type_id, started_at=at)
        )

    def set_backup_period(
        self, server_id: int, enabled: bool, at: datetime, price_percent: Decimal | None = None
    ) -> None:
        """Record that ``server_id`` has backups enabled (or not) from ``at`` on: a period is opened
        when enable_backup finishes (at ``price_percent`` of the server's prices), closed when
        disable_backup does."""
        p = t.server_backup_periods.c
        self.session.execute(
            sa.update(t.server_backup_periods).where(p.server_id == server_id, p.ended_at.is_(None)).values(ended_at=at)
        )
        if enabled:
            if price_percent is None:
                raise ValueError("a backup period needs the price percentage it was enabled at")
            self.session.execute(
                sa.insert(t.server_backup_periods).values(
                    server_id=server_id, started_at=at, price_percent=price_percent
                )
            )

    def save(self, server: Server, now: datetime) -> None:
        """Write what actions change: status, lock, upstream id and addresses, deletion, version."""
        self.session.execute(
            sa.update(t.servers)
            .where(t.servers.c.id == server.id)
            .values(
                status=server.status,
                locked=server.locked,
                hetzner_id=server.hetzner_id,
                ipv4_address=server.ipv4_address,
                ipv6_address=server.ipv6_address,
                ipv6_network=server.ipv6_network,
                deleted_at=server.deleted_at,
                updated_at=now,
                version=server.version,
                server_type_id=server.server_type_id,
                image_id=server.image_id,
                rescue_enabled=server.rescue_enabled,
                disk_gb=server.disk_gb or None,
                iso=server.iso,
                iso_mounted=str(server.iso["name"]) if server.iso else None,
                dns_ptrs=server.dns_ptrs or None,
                backup_enabled=server.backup_enabled,
                backup_window=server.backup_window or None,
                protection_delete=server.protection_delete,
                protection_rebuild=server.protection_rebuild,
                root_password_hash=server.root_password_hash,
                placement_group_id=server.placement_group_id,
            )
        )
        server.updated_at = now
        self._saw(server)

    def own_live_ids(self, user_id: int) -> list[int]:
        """The live servers ``user_id`` owns itself (not its organizations'), locked until the transaction ends."""
        c = t.servers.c
        query = (
            sa.select(c.id)
            .where(c.user_id == user_id, c.organization_id.is_(None), c.deleted_at.is_(None))
            .order_by(c.id)
            .with_for_update()
        )
        return list(self.session.execute(query).scalars())

    def organization_live_ids(self, organization_id: int) -> list[int]:
        """The live servers ``organization_id`` owns, locked until the transaction ends."""
        c = t.servers.c
        query = (
            sa.select(c.id)
            .where(c.organization_id == organization_id, c.deleted_at.is_(None))
            .order_by(c.id)
            .with_for_update()
        )
        return list(self.session.execute(query).scalars())

    def to_enforce(self, erased: str, limit: int) -> list[int]:
        """Suspended servers that still run (or live, when their account was ``erased``) and are
        free now, locked (skipping those another transaction holds)."""
        c = t.servers.c
        query = (
            sa.select(c.id)
            .where(
                c.suspended_at.is_not(None),
                c.deleted_at.is_(None),
                c.locked.is_not(True),
                sa.or_(
                    sa.and_(c.suspension_reason == erased, c.status.not_in([st.DELETING, st.DELETED])),
                    c.status.in_([st.RUNNING, st.PAUSED]),
                ),
            )
            .order_by(c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list(self.session.execute(query).scalars())

    def save_suspension(self, server: Server) -> None:
        """Write the suspension (when and why, or none)."""
        self.session.execute(
            sa.update(t.servers)
            .where(t.servers.c.id == server.id)
            .values(suspended_at=server.suspended_at, suspension_reason=server.suspension_reason or None)
        )
        self._saw(server)

    def rename(self, server: Server, now: datetime) -> None:
        """Write the name and labels; a name the tenant's live servers have is ALREADY_EXISTS."""
        write = (
            sa.update(t.servers)
            .where(t.servers.c.id == server.id)
            .values(
                name=server.name, hostname=server.name, labels=server.labels, updated_at=now, version=server.version
            )
        )
        try:
            with self.session.begin_nested():
                self.session.execute(write)
        except sa_exc.IntegrityError as exc:
            if getattr(exc.orig, "args", (None,))[0] != DUPLICATE_KEY:
                raise
            raise AlreadyExists(
                f"a server named {server.name!r} exists already; choose another name",
                details={"fields": [{"name": "name", "messages": ["already exists"]}]},
            ) from None
        server.updated_at = now
        self._saw(server)

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
    ) -> tuple[list[Server], int]:
        """One page of the live servers of a user (its own, not its organizations') and/or an
        organization; both None: every tenant's. ``order``: (id|name|created, descending)."""
        c = t.servers.c
        conditions: list[sa.ColumnElement[bool]] = [c.deleted_at.is_(None)]
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
        total = self.session.execute(sa.select(sa.func.count()).select_from(t.servers).where(where)).scalar_one()
        columns = {"id": c.id, "name": c.name, "created": c.created_at}
        order_by = [columns[field].desc() if descending else columns[field].asc() for field, descending in order]
        query = (
            sa.select(*_SERVER_COLUMNS)
            .select_from(_SERVER_FROM)
            .where(where)
            .order_by(*order_by, c.id)
            .offset(offset)
            .limit(limit)
        )
        rows = list(self.session.execute(query))
        keys = self._ssh_key_ids([row.id for row in rows])
        return self._with_groups([_server(row, keys[row.id]) for row in rows]), int(total)

    def deleted_ids(self, server_ids: Iterable[int]) -> set[int]:
        """Of ``server_ids``, those that are deleted or do not exist."""
        wanted = set(server_ids)
        if not wanted:
            return set()
        live = self.session.execute(
            sa.select(t.servers.c.id).where(t.servers.c.id.in_(wanted), t.servers.c.deleted_at.is_(None))
        ).scalars()
        return wanted - set(live)

    def recorded_upstream_ids(self, server_ids: Iterable[int]) -> dict[int, int | None]:
        """Upstream ids recorded for ``server_ids`` (live ones)."""
        rows = self.session.execute(
            sa.select(t.servers.c.id, t.servers.c.hetzner_id).where(
                t.servers.c.id.in_(set(server_ids)), t.servers.c.deleted_at.is_(None)
            )
        )
        return {row.id: row.hetzner_id for row in rows}

    def catalog_choice(self, server_type: str, datacenter: str, image: str) -> tuple[Any, Any, Any]:
        """The server type, datacenter and image rows named (each None when unknown); the image
        of the server type's architecture."""
        st = self.session.execute(sa.select(t.server_types).where(t.server_types.c.code == server_type)).first()
        dc = self.session.execute(sa.select(t.datacenters).where(t.datacenters.c.code == datacenter)).first()
        image_row = None
        if st is not None:
            image_row = self.session.execute(
                sa.select(t.images).where(
                    t.images.c.name == image,
                    t.images.c.architecture == st.architecture,
                    t.images.c.public.is_(True),
                )
            ).first()
        return st, dc, image_row


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
                resources=action.resources,
                user_id=action.user_id,
                organization_id=action.organization_id,
                server_id=action.server_id,
                image_id=action.image_id,
                version=1,
                params=action.params or None,
            )
        )
        action.id = int(result.inserted_primary_key[0])  # type: ignore[attr-defined]
        action.started = now
        return action

    def get(self, action_id: int) -> Action | None:
        row = self.session.execute(sa.select(t.actions).where(t.actions.c.id == action_id)).first()
        return _action(row) if row else None

    def for_server(self, server_id: int) -> list[Action]:
        query = sa.select(t.actions).where(t.actions.c.server_id == server_id).order_by(t.actions.c.id.desc())
        return [_action(row) for row in self.session.execute(query)]

    def for_image(self, image_id: int) -> list[Action]:
        query = sa.select(t.actions).where(t.actions.c.image_id == image_id).order_by(t.actions.c.id.desc())
        return [_action(row) for row in self.session.execute(query)]

    def of_tenant(
        self,
        user_id: int,
        organization_id: int | None,
        statuses: Sequence[str],
        order: Sequence[tuple[str, bool]],
        offset: int,
        limit: int,
        *,
        resource_type: str = "server",
        ids: Sequence[int] = (),
    ) -> tuple[list[Action], int]:
        """One page of the actions about a user's own servers (``resource_type`` "image": images),
        or an organization's; ``ids``: only those actions."""
        c = t.actions.c
        about = c.image_id if resource_type == "image" else c.server_id
        where: list[sa.ColumnElement[bool]] = [about.is_not(None)]
        if ids:
            where.append(c.id.in_(list(ids)))
        if organization_id is not None:
            where.append(c.organization_id == organization_id)
        else:
            where.extend([c.user_id == user_id, c.organization_id.is_(None)])
        if statuses:
            where.append(c.status.in_(list(statuses)))
        total = self.session.execute(sa.select(sa.func.count()).select_from(t.actions).where(*where)).scalar_one()
        columns = {"id": c.id, "command": c.command, "status": c.status, "started": c.started, "finished": c.finished}
        order_by = [columns[f].desc() if descending else columns[f].asc() for f, descending in order]
        query = sa.select(t.actions).where(*where).order_by(*order_by, c.id).offset(offset).limit(limit)
        return [_action(row) for row in self.session.execute(query)], int(total)

    def claim_next(self, skip: Collection[int] = ()) -> Action | None:
        """The oldest running action no other worker holds, locked until this transaction ends.

        The row lock is the claim: a worker that dies loses its connection, the lock goes with
        it, and the next worker picks the action up where the database says it stands."""
        query = (
            sa.select(t.actions)
            .where(
                t.actions.c.status == "running",
                t.actions.c.server_id.is_not(None),
                t.actions.c.id.not_in(list(skip)) if skip else sa.true(),
            )
            .order_by(t.actions.c.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        row = self.session.execute(query).first()
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
