"""traffic_hours on MariaDB: what the traffic meter recorded of each server's hours."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import Session

from monitoring_service.adapters.tables import traffic_hours as t
from monitoring_service.domain.servers import MonitoredServer
from monitoring_service.domain.traffic import MeteredHour
from monitoring_service.service_layer.ports import TrafficRepository


def _naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


class SqlTraffic(TrafficRepository):
    def __init__(self, session: Session) -> None:
        self.session = session

    def metered(self, since: datetime) -> dict[tuple[int, datetime], MeteredHour]:
        rows = self.session.execute(sa.select(t).where(t.c.hour_start >= _naive(since)).with_for_update())
        found = {}
        for row in rows:
            hour = row.hour_start.replace(tzinfo=UTC)
            found[(int(row.server_id), hour)] = MeteredHour(
                int(row.server_id), hour, int(row.bytes_out), Decimal(row.recorded_gb), int(row.revision)
            )
        return found

    def save(self, hours: Sequence[tuple[MeteredHour, MonitoredServer]], at: datetime) -> None:
        if not hours:
            return
        rows = [
            {
                "server_id": hour.server_id,
                "hour_start": _naive(hour.hour),
                "user_id": owner.user_id,
                "organization_id": owner.organization_id,
                "bytes_out": hour.bytes_out,
                "recorded_gb": hour.recorded_gb,
                "revision": hour.revision,
                "updated_at": _naive(at),
            }
            for hour, owner in hours
        ]
        statement = mysql.insert(t).values(rows)
        self.session.execute(
            statement.on_duplicate_key_update(
                {name: statement.inserted[name] for name in ("bytes_out", "recorded_gb", "revision", "updated_at")}
            )
        )

    def recorded_since(self, since: datetime, server_ids: Sequence[int]) -> dict[int, Decimal]:
        if not server_ids:
            return {}
        rows = self.session.execute(
            sa.select(t.c.server_id, sa.func.sum(t.c.recorded_gb).label("gb"))
            .where(t.c.hour_start >= _naive(since), t.c.server_id.in_(sorted(set(server_ids))))
            .group_by(t.c.server_id)
        )
        return {int(row.server_id): Decimal(row.gb) for row in rows}

    def forget_before(self, before: datetime) -> int:
        result = self.session.execute(sa.delete(t).where(t.c.hour_start < _naive(before)))
        return int(getattr(result, "rowcount", 0))
