"""Reading and writing floating IPs and actions inside one unit of work's session."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cpshared.metering import hour_floor
from hetzner_conventions.label_sql import LabelRequirement, requirements_clause
from network_service.adapters import tables as t
from network_service.domain.actions import Action
from network_service.domain.floating_ips import FloatingIp
from network_service.domain.metering import MeteredFloatingIp


def _floating_ip(row: sa.Row[Any]) -> FloatingIp:
    return FloatingIp(
        id=row.id,
        user_id=row.user_id,
        organization_id=row.organization_id,
        name=row.name,
        type=row.type,
        home_location=row.home_location,
        datacenter_id=row.datacenter_id,
        network_zone=row.network_zone,
        description=row.description or "",
        labels=dict(row.labels or {}),
        ip_address=row.ip_address,
        hetzner_id=row.hetzner_id,
        server_id=row.server_id,
        dns_ptrs=dict(row.dns_ptrs or {}),
        protection_delete=bool(row.protection_delete),
        blocked=bool(row.blocked),
        locked=bool(row.locked),
        status=row.status,
        created_at=row.created_at,
        updated_at=row.updated_at,
        deleted_at=row.deleted_at,
        version=row.version,
    )


def _tenant(c: Any, user_id: int | None, organization_id: int | None) -> list[sa.ColumnElement[bool]]:
    tenants: list[sa.ColumnElement[bool]] = []
    if user_id is not None:
        tenants.append(sa.and_(c.user_id == user_id, c.organization_id.is_(None)))
    if organization_id is not None:
        tenants.append(c.organization_id == organization_id)
    return [sa.or_(*tenants)] if tenants else []


class FloatingIpRepository:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.seen: list[FloatingIp] = []
        """The floating IPs written in this unit of work: it collects their recorded events on commit."""

    def _saw(self, fip: FloatingIp) -> None:
        if not any(seen is fip for seen in self.seen):
            self.seen.append(fip)

    def _one(self, query: sa.Select[Any], for_update: bool) -> FloatingIp | None:
        row = self.session.execute(query.with_for_update() if for_update else query).first()
        return _floating_ip(row) if row else None

    def get(self, floating_ip_id: int, *, for_update: bool = False) -> FloatingIp | None:
        c = t.floating_ips.c
        return self._one(sa.select(t.floating_ips).where(c.id == floating_ip_id, c.deleted_at.is_(None)), for_update)

    def get_any(self, floating_ip_id: int, *, for_update: bool = False) -> FloatingIp | None:
        return self._one(sa.select(t.floating_ips).where(t.floating_ips.c.id == floating_ip_id), for_update)

    def named(self, user_id: int, organization_id: int | None, name: str) -> FloatingIp | None:
        c = t.floating_ips.c
        owner = (
            c.organization_id == organization_id
            if organization_id
            else sa.and_(c.user_id == user_id, c.organization_id.is_(None))
        )
        return self._one(sa.select(t.floating_ips).where(owner, c.name == name, c.deleted_at.is_(None)), False)

    def _values(self, fip: FloatingIp, now: datetime) -> dict[str, Any]:
        return {
            "hetzner_id": fip.hetzner_id,
            "ip_address": fip.ip_address,
            "ptr_record": fip.dns_ptrs.get(fip.ip_address or "") if fip.ip_address else None,
            "server_id": fip.server_id,
            "labels": fip.labels,
            "updated_at": now,
            "deleted_at": fip.deleted_at,
            "name": fip.name,
            "description": fip.description,
            "dns_ptrs": fip.dns_ptrs,
            "protection_delete": fip.protection_delete,
            "blocked": fip.blocked,
            "locked": fip.locked,
            "status": fip.status,
            "version": fip.version,
        }

    def add(self, fip: FloatingIp, now: datetime) -> FloatingIp:
        result = self.session.execute(
            sa.insert(t.floating_ips).values(
                user_id=fip.user_id,
                organization_id=fip.organization_id,
                datacenter_id=fip.datacenter_id,
                type=fip.type,
                created_at=now,
                home_location=fip.home_location,
                network_zone=fip.network_zone,
                **self._values(fip, now),
            )
        )
        fip.id = int(result.inserted_primary_key[0])  # type: ignore[attr-defined]
        fip.created_at = fip.updated_at = now
        self._saw(fip)
        return fip

    def save(self, fip: FloatingIp, now: datetime) -> None:
        self.session.execute(
            sa.update(t.floating_ips).where(t.floating_ips.c.id == fip.id).values(**self._values(fip, now))
        )
        fip.updated_at = now
        self._saw(fip)

    def assigned_to(self, server_ids: Collection[int], *, for_update: bool = False) -> list[FloatingIp]:
        if not server_ids:
            return []
        c = t.floating_ips.c
        query = (
            sa.select(t.floating_ips).where(c.server_id.in_(sorted(server_ids)), c.deleted_at.is_(None)).order_by(c.id)
        )
        return [_floating_ip(row) for row in self.session.execute(query.with_for_update() if for_update else query)]

    def owned_by(self, user_id: int, *, for_update: bool = False) -> list[FloatingIp]:
        c = t.floating_ips.c
        query = (
            sa.select(t.floating_ips)
            .where(c.user_id == user_id, c.organization_id.is_(None), c.deleted_at.is_(None))
            .order_by(c.id)
        )
        return [_floating_ip(row) for row in self.session.execute(query.with_for_update() if for_update else query)]

    def deleted_ids(self, ids: Iterable[int]) -> set[int]:
        wanted = set(ids)
        if not wanted:
            return set()
        c = t.floating_ips.c
        live = self.session.execute(sa.select(c.id).where(c.id.in_(sorted(wanted)), c.deleted_at.is_(None)))
        return wanted - {row.id for row in live}

    def search(
        self,
        *,
        user_id: int | None,
        organization_id: int | None,
        name: str,
        requirements: Sequence[LabelRequirement],
        order: Sequence[tuple[str, bool]],
        offset: int,
        limit: int,
    ) -> tuple[list[FloatingIp], int]:
        """One page of a user's own floating IPs and/or an organization's; both None: every tenant's.
        ``order``: (id|name|created, descending)."""
        c = t.floating_ips.c
        conditions: list[sa.ColumnElement[bool]] = [c.deleted_at.is_(None), *_tenant(c, user_id, organization_id)]
        if name:
            conditions.append(c.name == name)
        conditions.append(requirements_clause(requirements, c.labels))
        where = sa.and_(*conditions)
        total = self.session.execute(sa.select(sa.func.count()).select_from(t.floating_ips).where(where)).scalar_one()
        columns = {"id": c.id, "name": c.name, "created": c.created_at}
        order_by = [columns[f].desc() if descending else columns[f].asc() for f, descending in order]
        query = sa.select(t.floating_ips).where(where).order_by(*order_by, c.id).offset(offset).limit(limit)
        return [_floating_ip(row) for row in self.session.execute(query)], int(total)


def _action(row: sa.Row[Any]) -> Action:
    return Action(
        id=row.id,
        command=row.command,
        status=row.status,
        resource_type=row.resource_type,
        resource_id=row.resource_id,
        user_id=row.user_id,
        organization_id=row.organization_id,
        params=dict(row.params or {}),
        resources=list(row.resources or []),
        progress=row.progress,
        started=row.started,
        finished=row.finished,
        error_code=row.error_code,
        error_message=row.error_message,
        upstream_action_id=row.upstream_action_id,
    )


class ActionRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, action: Action) -> Action:
        result = self.session.execute(
            sa.insert(t.actions).values(
                command=action.command,
                status=action.status,
                progress=action.progress,
                started=action.started,
                finished=action.finished,
                resource_type=action.resource_type,
                resource_id=action.resource_id,
                resources=action.resources,
                params=action.params or None,
                user_id=action.user_id,
                organization_id=action.organization_id,
            )
        )
        action.id = int(result.inserted_primary_key[0])  # type: ignore[attr-defined]
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
            )
        )

    def claim_next(self, skip: Collection[int], commands: Collection[str]) -> Action | None:
        """The oldest running action no other worker holds, locked until this transaction ends.

        The row lock is the claim: a worker that dies loses its connection, the lock goes with
        it, and the next worker picks the action up where the database says it stands."""
        c = t.actions.c
        query = (
            sa.select(t.actions)
            .where(
                c.status == "running",
                c.command.in_(sorted(commands)),
                c.id.not_in(list(skip)) if skip else sa.true(),
            )
            .order_by(c.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        row = self.session.execute(query).first()
        return _action(row) if row else None

    def search(
        self,
        *,
        user_id: int | None,
        organization_id: int | None,
        resource_type: str,
        resource_id: int,
        ids: Sequence[int],
        statuses: Sequence[str],
        order: Sequence[tuple[str, bool]],
        offset: int,
        limit: int,
    ) -> tuple[list[Action], int]:
        c = t.actions.c
        where: list[sa.ColumnElement[bool]] = [c.resource_type == resource_type, *_tenant(c, user_id, organization_id)]
        if resource_id:
            where.append(c.resource_id == resource_id)
        if ids:
            where.append(c.id.in_(list(ids)))
        if statuses:
            where.append(c.status.in_(list(statuses)))
        total = self.session.execute(sa.select(sa.func.count()).select_from(t.actions).where(*where)).scalar_one()
        columns = {"id": c.id, "command": c.command, "status": c.status, "started": c.started, "finished": c.finished}
        order_by = [columns[f].desc() if descending else columns[f].asc() for f, descending in order]
        query = sa.select(t.actions).where(*where).order_by(*order_by, c.id).offset(offset).limit(limit)
        return [_action(row) for row in self.session.execute(query)], int(total)


class MeteringRepository:
    """Metering's cursors on floating_ips (``metered_until``)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def claim_due(self, now: datetime, limit: int) -> list[MeteredFloatingIp]:
        """Up to ``limit`` floating IPs with an hour to record by ``now``, locked for this
        transaction (SKIP LOCKED: another worker takes the others). Only one made upstream
        (``ready``) is billed, from its creation; one whose creation failed never."""
        c = t.floating_ips.c
        current_hour = hour_floor(now)
        live_due = sa.and_(
            c.deleted_at.is_(None),
            sa.or_(sa.and_(c.metered_until.is_(None), c.created_at < current_hour), c.metered_until < current_hour),
        )
        deleted_due = sa.and_(
            c.deleted_at.is_not(None), sa.or_(c.metered_until.is_(None), c.metered_until < c.deleted_at)
        )
        query = (
            sa.select(t.floating_ips)
            .where(c.status == "ready", c.created_at.is_not(None), sa.or_(live_due, deleted_due))
            .order_by(c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [
            MeteredFloatingIp(
                id=row.id,
                user_id=row.user_id,
                organization_id=row.organization_id,
                name=row.name,
                type=row.type,
                home_location=row.home_location,
                created_at=row.created_at,
                deleted_at=row.deleted_at,
                metered_until=row.metered_until,
            )
            for row in self.session.execute(query)
        ]

    def advance(self, floating_ip_id: int, metered_until: datetime) -> None:
        self.session.execute(
            sa.update(t.floating_ips).where(t.floating_ips.c.id == floating_ip_id).values(metered_until=metered_until)
        )
