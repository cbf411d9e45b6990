"""The rows metering reads and its cursor (``servers.metered_until``), inside one unit of work."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from compute_service.adapters import tables as t
from compute_service.domain.metering import BackupPeriod, MeteredServer, TypePeriod, hour_floor
from compute_service.service_layer import ports
from compute_service.service_layer.ports import TypePrice as TypePrice


class MeteringRepository(ports.MeteringRepository):
    def __init__(self, session: Session) -> None:
        self.session = session

    def claim_due(self, now: datetime, limit: int) -> list[MeteredServer]:
        """Up to ``limit`` servers with an hour to record by ``now``, locked for this transaction
        (SKIP LOCKED: another metering worker, or an action finishing, takes the others)."""
        c = t.servers.c
        current_hour = hour_floor(now)
        live_due = sa.and_(
            c.deleted_at.is_(None),
            sa.or_(sa.and_(c.metered_until.is_(None), c.created_at < current_hour), c.metered_until < current_hour),
        )
        deleted_due = sa.and_(
            c.deleted_at.is_not(None), sa.or_(c.metered_until.is_(None), c.metered_until < c.deleted_at)
        )
        locked_ids = list(
            self.session.execute(
                sa.select(c.id)
                # Only a server that exists upstream is billed (from its creation here): one still
                # provisioning waits, one whose creation failed is never billed.
                .where(c.created_at.is_not(None), c.hetzner_id.is_not(None), sa.or_(live_due, deleted_due))
                .order_by(c.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).scalars()
        )
        if not locked_ids:
            return []
        rows = self.session.execute(
            sa.select(
                c.id,
                c.user_id,
                c.organization_id,
                c.name,
                c.server_type_id,
                c.created_at,
                c.deleted_at,
                c.metered_until,
                t.datacenters.c.code.label("datacenter"),
            )
            .select_from(t.servers.join(t.datacenters, t.datacenters.c.id == c.datacenter_id))
            .where(c.id.in_(locked_ids))
            .order_by(c.id)
        )
        return [
            MeteredServer(
                id=row.id,
                user_id=row.user_id,
                organization_id=row.organization_id,
                name=row.name,
                datacenter=row.datacenter,
                server_type_id=row.server_type_id,
                created_at=row.created_at,
                deleted_at=row.deleted_at,
                metered_until=row.metered_until,
            )
            for row in rows
        ]

    def type_periods(self, server_ids: Collection[int]) -> dict[int, list[TypePeriod]]:
        found: dict[int, list[TypePeriod]] = {server_id: [] for server_id in server_ids}
        if found:
            p = t.server_type_periods.c
            query = (
                sa.select(p.server_id, p.server_type_id, p.started_at, p.ended_at)
                .where(p.server_id.in_(list(found)))
                .order_by(p.server_id, p.started_at, p.id)
            )
            for row in self.session.execute(query):
                found[row.server_id].append(TypePeriod(row.server_type_id, row.started_at, row.ended_at))
        return found

    def backup_periods(self, server_ids: Collection[int]) -> dict[int, list[BackupPeriod]]:
        found: dict[int, list[BackupPeriod]] = {server_id: [] for server_id in server_ids}
        if found:
            p = t.server_backup_periods.c
            query = (
                sa.select(p.server_id, p.started_at, p.ended_at, p.price_percent)
                .where(p.server_id.in_(list(found)))
                .order_by(p.server_id, p.started_at, p.id)
            )
            for row in self.session.execute(query):
                found[row.server_id].append(BackupPeriod(row.started_at, row.ended_at, Decimal(row.price_percent)))
        return found

    def prices(self, server_type_ids: Collection[int]) -> dict[int, TypePrice]:
        """The platform's current prices of the server types (gross EUR, as the catalog sells them)."""
        if not server_type_ids:
            return {}
        s = t.server_types.c
        rows = self.session.execute(
            sa.select(s.id, s.code, s.price_hourly, s.price_monthly).where(s.id.in_(list(server_type_ids)))
        )
        return {row.id: TypePrice(row.code, Decimal(row.price_hourly), Decimal(row.price_monthly)) for row in rows}

    def advance(self, server_id: int, metered_until: datetime) -> None:
        self.session.execute(
            sa.update(t.servers).where(t.servers.c.id == server_id).values(metered_until=metered_until)
        )
