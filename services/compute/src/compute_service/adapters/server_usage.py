"""Servers' usage columns on MariaDB (seed columns of ``servers`` the aggregate does not map):
one UPDATE per summary, only if it is newer than the one that last set them."""

from __future__ import annotations

from datetime import UTC

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from compute_service.domain.server_usage import ServerUsage

SET_USAGE = sa.text(
    "UPDATE servers SET "
    "bandwidth_used_gb = COALESCE(:bandwidth, bandwidth_used_gb), "
    "cpu_usage = COALESCE(:cpu, cpu_usage), "
    "memory_usage = COALESCE(:memory, memory_usage), "
    "disk_usage = COALESCE(:disk, disk_usage), "
    "usage_updated_at = :at "
    "WHERE id = :server_id AND (usage_updated_at IS NULL OR usage_updated_at < :at)"
)


class SqlServerUsage:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def record(self, usage: ServerUsage) -> bool:
        """Set the server's usage columns; False when a newer (or the same) summary set them already."""
        done = self.conn.execute(
            SET_USAGE,
            {
                "server_id": usage.server_id,
                "bandwidth": usage.bandwidth_used_gb,
                "cpu": usage.cpu_usage,
                "memory": usage.memory_usage,
                "disk": usage.disk_usage,
                "at": usage.at.astimezone(UTC).replace(tzinfo=None) if usage.at.tzinfo else usage.at,
            },
        )
        return bool(done.rowcount)
