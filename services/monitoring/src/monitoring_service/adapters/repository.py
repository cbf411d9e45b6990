"""Monitoring's projection of compute's servers, read by the service layer."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session

from monitoring_service.adapters.tables import monitored_servers as t
from monitoring_service.domain.servers import RUNNING, MonitoredServer
from monitoring_service.service_layer.ports import MonitoredServerRepository


def _server(row: sa.Row[tuple[object, ...]]) -> MonitoredServer:
    m = row._mapping
    return MonitoredServer(
        server_id=int(m["server_id"]),
        user_id=int(m["user_id"]),
        organization_id=int(m["organization_id"]) if m["organization_id"] is not None else None,
        upstream_id=int(m["upstream_id"]) if m["upstream_id"] is not None else None,
        status=str(m["status"]),
        deleted=m["deleted_at"] is not None,
    )


class SqlMonitoredServers(MonitoredServerRepository):
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, server_id: int) -> MonitoredServer | None:
        row = self.session.execute(sa.select(t).where(t.c.server_id == server_id)).one_or_none()
        return _server(row) if row is not None else None

    def collectable(self) -> list[MonitoredServer]:
        rows = self.session.execute(
            sa.select(t).where(t.c.status == RUNNING, t.c.deleted_at.is_(None)).order_by(t.c.server_id)
        )
        return [_server(row) for row in rows]

    def of_ids(self, server_ids: Sequence[int]) -> dict[int, MonitoredServer]:
        if not server_ids:
            return {}
        rows = self.session.execute(sa.select(t).where(t.c.server_id.in_(sorted(set(server_ids)))))
        return {server.server_id: server for server in (_server(row) for row in rows)}
