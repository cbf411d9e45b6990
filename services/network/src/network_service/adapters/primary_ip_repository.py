"""Reading and writing primary IPs (and metering's cursors on them) inside one unit of work's session."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cpshared.metering import hour_floor
from hetzner_conventions.label_sql import LabelRequirement, requirements_clause
from network_service.adapters import tables as t
from network_service.adapters.repository import _tenant
from network_service.domain.metering import MeteredPrimaryIp
from network_service.domain.primary_ips import PrimaryIp

c = t.primary_ips.c


def _primary_ip(row: sa.Row[Any]) -> PrimaryIp:
    return PrimaryIp(
        id=row.id,
        user_id=row.user_id,
        organization_id=row.organization_id,
        name=row.name,
        type=row.type,
        location=row.location,
        datacenter_id=row.datacenter_id,
        labels=dict(row.labels or {}),
        ip_address=row.ip_address,
        hetzner_id=row.hetzner_id,
        assignee_id=row.assignee_id,
        auto_delete=bool(row.auto_delete),
        adopted=bool(row.adopted),
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


class PrimaryIpRepository:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.seen: list[PrimaryIp] = []
        """The primary IPs written in this unit of work: it collects their recorded events on commit."""

    def _saw(self, pip: PrimaryIp) -> None:
        if not any(seen is pip for seen in self.seen):
            self.seen.append(pip)

    def _one(self, query: sa.Select[Any], for_update: bool) -> PrimaryIp | None:
        row = self.session.execute(query.with_for_update() if for_update else query).first()
        return _primary_ip(row) if row else None

    def _many(self, query: sa.Select[Any], for_update: bool = False) -> list[PrimaryIp]:
        return [_primary_ip(row) for row in self.session.execute(query.with_for_update() if for_update else query)]

    def get(self, primary_ip_id: int, *, for_update: bool = False) -> PrimaryIp | None:
        return self._one(sa.select(t.primary_ips).where(c.id == primary_ip_id, c.deleted_at.is_(None)), for_update)

    def get_any(self, primary_ip_id: int, *, for_update: bool = False) -> PrimaryIp | None:
        return self._one(sa.select(t.primary_ips).where(c.id == primary_ip_id), for_update)

    def named(self, user_id: int, organization_id: int | None, name: str) -> PrimaryIp | None:
        owner = (
            c.organization_id == organization_id
            if organization_id
            else sa.and_(c.user_id == user_id, c.organization_id.is_(None))
        )
        return self._one(sa.select(t.primary_ips).where(owner, c.name == name, c.deleted_at.is_(None)), False)

    def _values(self, pip: PrimaryIp, now: datetime) -> dict[str, Any]:
        return {
            "hetzner_id": pip.hetzner_id,
            "datacenter_id": pip.datacenter_id,
            "name": pip.name,
            "ip_address": pip.ip_address,
            "assignee_id": pip.assignee_id,
            "auto_delete": pip.auto_delete,
            "dns_ptrs": pip.dns_ptrs,
            "protection_delete": pip.protection_delete,
            "blocked": pip.blocked,
            "locked": pip.locked,
            "labels": pip.labels,
            "status": pip.status,
            "version": pip.version,
            "updated_at": now,
            "deleted_at": pip.deleted_at,
        }

    def add(self, pip: PrimaryIp, now: datetime) -> PrimaryIp:
        result = self.session.execute(
            sa.insert(t.primary_ips).values(
                user_id=pip.user_id,
                organization_id=pip.organization_id,
                type=pip.type,
                location=pip.location,
                assignee_type="server",
                adopted=pip.adopted,
                created_at=now,
                **self._values(pip, now),
            )
        )
        pip.id = int(result.inserted_primary_key[0])  # type: ignore[attr-defined]
        pip.created_at = pip.updated_at = now
        self._saw(pip)
        return pip

    def save(self, pip: PrimaryIp, now: datetime) -> None:
        self.session.execute(sa.update(t.primary_ips).where(c.id == pip.id).values(**self._values(pip, now)))
        pip.updated_at = now
        self._saw(pip)

    def assigned_to(self, server_ids: Collection[int], *, for_update: bool = False) -> list[PrimaryIp]:
        if not server_ids:
            return []
        query = (
            sa.select(t.primary_ips).where(c.assignee_id.in_(sorted(server_ids)), c.deleted_at.is_(None)).order_by(c.id)
        )
        return self._many(query, for_update)

    def adopted_for(self, server_id: int) -> list[PrimaryIp]:
        action_servers = sa.select(t.actions.c.resource_id).where(
            t.actions.c.resource_type == "primary_ip",
            t.actions.c.command == "create_primary_ip",
            sa.func.json_value(t.actions.c.params, "$.adopt_server_id") == server_id,
        )
        return self._many(sa.select(t.primary_ips).where(c.adopted.is_(True), c.id.in_(action_servers)))

    def owned_by(self, user_id: int, *, for_update: bool = False) -> list[PrimaryIp]:
        query = (
            sa.select(t.primary_ips)
            .where(c.user_id == user_id, c.organization_id.is_(None), c.deleted_at.is_(None))
            .order_by(c.id)
        )
        return self._many(query, for_update)

    def deleted_ids(self, ids: Iterable[int]) -> set[int]:
        wanted = set(ids)
        if not wanted:
            return set()
        live = self.session.execute(sa.select(c.id).where(c.id.in_(sorted(wanted)), c.deleted_at.is_(None)))
        return wanted - {row.id for row in live}

    def search(
        self,
        *,
        user_id: int | None,
        organization_id: int | None,
        name: str,
        ip: str,
        requirements: Sequence[LabelRequirement],
        order: Sequence[tuple[str, bool]],
        offset: int,
        limit: int,
    ) -> tuple[list[PrimaryIp], int]:
        """One page of a tenant's primary IPs (both None: every tenant's; a server's own addresses
        once adopted). ``order``: (id|name|created, descending)."""
        conditions: list[sa.ColumnElement[bool]] = [
            c.deleted_at.is_(None),
            sa.or_(c.adopted.is_(False), c.status == "ready"),
            *_tenant(c, user_id, organization_id),
        ]
        if name:
            conditions.append(c.name == name)
        if ip:
            conditions.append(c.ip_address == ip)
        conditions.append(requirements_clause(requirements, c.labels))
        where = sa.and_(*conditions)
        total = self.session.execute(sa.select(sa.func.count()).select_from(t.primary_ips).where(where)).scalar_one()
        columns = {"id": c.id, "name": c.name, "created": c.created_at}
        order_by = [columns[f].desc() if descending else columns[f].asc() for f, descending in order]
        query = sa.select(t.primary_ips).where(where).order_by(*order_by, c.id).offset(offset).limit(limit)
        return self._many(query), int(total)


class PrimaryIpMeteringRepository:
    """Metering's cursors on primary_ips (``metered_until``), like floating IPs'."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def claim_due(self, now: datetime, limit: int) -> list[MeteredPrimaryIp]:
        current_hour = hour_floor(now)
        live_due = sa.and_(
            c.deleted_at.is_(None),
            sa.or_(sa.and_(c.metered_until.is_(None), c.created_at < current_hour), c.metered_until < current_hour),
        )
        deleted_due = sa.and_(
            c.deleted_at.is_not(None), sa.or_(c.metered_until.is_(None), c.metered_until < c.deleted_at)
        )
        query = (
            sa.select(t.primary_ips)
            .where(c.status == "ready", c.created_at.is_not(None), sa.or_(live_due, deleted_due))
            .order_by(c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [
            MeteredPrimaryIp(
                id=row.id,
                user_id=row.user_id,
                organization_id=row.organization_id,
                name=row.name,
                type=row.type,
                location=row.location,
                created_at=row.created_at,
                deleted_at=row.deleted_at,
                metered_until=row.metered_until,
            )
            for row in self.session.execute(query)
        ]

    def advance(self, primary_ip_id: int, metered_until: datetime) -> None:
        self.session.execute(sa.update(t.primary_ips).where(c.id == primary_ip_id).values(metered_until=metered_until))
