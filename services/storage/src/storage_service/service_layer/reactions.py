"""What storage does when another service's events say so: a deleted server's volumes are
detached (they stay, and stay billed; upstream detached them when it deleted the server).

A volume with an action running on it is left to that action: the worker's attach or create
finds the server gone upstream and fails (the volume keeps no server), its detach finds the
volume detached and finishes."""

from __future__ import annotations

from cpshared.clock import utcnow
from cpshared.events.envelope import PendingEvent
from cpshared.logging import get_logger
from storage_service.service_layer.ports import VolumeRepository
from storage_service.service_layer.unit_of_work import aggregate_events

log = get_logger(__name__)


def server_deleted(volumes: VolumeRepository, server_id: int) -> list[PendingEvent]:
    """Detach the server's idle volumes; the events to record (in the caller's transaction)."""
    events: list[PendingEvent] = []
    now = utcnow()
    for attached in volumes.on_servers([server_id]).get(server_id, []):
        volume = volumes.get(attached.id, for_update=True)
        if volume is None or volume.locked or volume.server_id != server_id:
            continue
        volume.detached(None, now, reason="server_deleted")
        volumes.save(volume, now)
        events.extend(aggregate_events(volume))
        log.info("volume_detached_from_deleted_server", volume_id=volume.id, server_id=server_id)
    return events
