"""What storage does when another service's events say so: a deleted server's volumes are
detached (they stay, and stay billed; upstream detached them when it deleted the server); a
suspended (or banned) account's volumes are blocked — every customer action on them is refused
with ``423 locked``, nothing is deleted — and unblocked when the account is active again; an
erased account's volumes are detached and deleted, protected or not (the worker detaches and
deletes them upstream and gives the quota back).

A volume with an action running on it is left to that action: the worker's attach or create
finds the server gone upstream and fails (the volume keeps no server), its detach finds the
volume detached and finishes."""

from __future__ import annotations

from cpshared.clock import utcnow
from cpshared.events.envelope import PendingEvent
from cpshared.logging import get_logger
from storage_service.domain.volumes import Volume
from storage_service.service_layer.ports import ActionRepository, VolumeRepository
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


def _owned(volumes: VolumeRepository, user_id: int | None, organization_id: int | None) -> list[Volume]:
    return volumes.of_account(user_id=user_id, organization_id=organization_id)


def account_suspended(
    volumes: VolumeRepository, *, user_id: int | None = None, organization_id: int | None = None
) -> int:
    """Block the live volumes the user owns itself (or the organization owns); how many changed."""
    now = utcnow()
    changed = 0
    for volume in _owned(volumes, user_id, organization_id):
        if volume.block():
            volumes.save(volume, now)
            changed += 1
    if changed:
        log.info("volumes_blocked", user_id=user_id, organization_id=organization_id, count=changed)
    return changed


def account_activated(
    volumes: VolumeRepository, *, user_id: int | None = None, organization_id: int | None = None
) -> int:
    now = utcnow()
    changed = 0
    for volume in _owned(volumes, user_id, organization_id):
        if volume.unblock():
            volumes.save(volume, now)
            changed += 1
    if changed:
        log.info("volumes_unblocked", user_id=user_id, organization_id=organization_id, count=changed)
    return changed


def account_erased(volumes: VolumeRepository, actions: ActionRepository, user_id: int) -> list[PendingEvent]:
    """Detach and delete the volumes ``user_id`` owns itself, protected or not; one busy with an
    action is marked erased (logged), and the worker deletes it when that action ends. The
    ``volume.detached`` events, for the caller's outbox (the worker records ``volume.deleted``
    when upstream's copy is gone)."""
    now = utcnow()
    events: list[PendingEvent] = []
    for volume in _owned(volumes, user_id, None):
        action = volume.erase(now)
        if action is None:
            log.warning("volume_of_erased_account_busy", volume_id=volume.id, status=volume.status)
        else:
            actions.add(action, now)
        volumes.save(volume, now)
        events.extend(aggregate_events(volume))
    return events
