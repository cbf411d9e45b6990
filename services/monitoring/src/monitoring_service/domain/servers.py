"""What monitoring knows of a server (from compute's events): whose it is, its id upstream and
its status. Only a running server that exists upstream has metrics to collect."""

from __future__ import annotations

from dataclasses import dataclass

RUNNING = "running"


@dataclass(frozen=True)
class MonitoredServer:
    server_id: int
    user_id: int
    organization_id: int | None
    upstream_id: int | None
    status: str
    deleted: bool = False

    @property
    def collectable(self) -> bool:
        """Running (its upstream id may be unknown: events from before compute recorded it)."""
        return self.status == RUNNING and not self.deleted
