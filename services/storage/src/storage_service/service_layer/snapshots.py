"""Servers' snapshots, recorded from compute's image events (the consumer's transaction), and a
volume snapshot refused (domain/snapshots.py)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation

from cpshared.events.envelope import PendingEvent
from storage_service.domain.snapshots import AVAILABLE, refuse_volume_snapshot
from storage_service.service_layer.ports import SnapshotRepository
from storage_service.service_layer.unit_of_work import StorageUnitOfWork, aggregate_events
from storage_service.service_layer.volumes import Reach
from storage_service.service_layer.volumes import get as get_volume

SNAPSHOT = "snapshot"


def _size(raw: str) -> Decimal | None:
    try:
        return Decimal(raw).quantize(Decimal("0.01")) if raw else None
    except InvalidOperation:
        return None


def image_created(
    repo: SnapshotRepository,
    *,
    image_id: int,
    image_type: str,
    user_id: int,
    organization_id: int | None,
    server_id: int,
    status: str,
    size_gb: str,
    at: datetime,
) -> list[PendingEvent]:
    """``image.created`` (made, then again available with its size): a snapshot's row, billed
    from when it is available (``at``: the event's time)."""
    if image_type != SNAPSHOT:
        return []  # a backup image is bound to its server and billed with the backup option
    repo.record_made(image_id, user_id, organization_id, server_id)
    if status != AVAILABLE:
        return []
    snapshot = repo.get(image_id, for_update=True)
    if snapshot is None or not snapshot.made_available(_size(size_gb), at):
        return []
    repo.save(snapshot)
    return aggregate_events(snapshot)


def image_deleted(repo: SnapshotRepository, image_id: int, at: datetime) -> list[PendingEvent]:
    """``image.deleted``: billing stops at ``at`` (an image storage never recorded changes nothing)."""
    snapshot = repo.get(image_id, for_update=True)
    if snapshot is None or not snapshot.deleted(at):
        return []
    repo.save(snapshot)
    return aggregate_events(snapshot)


def snapshot_volume(volume_id: int, reach: Reach, uow: StorageUnitOfWork) -> None:
    """Refused with ``not_supported`` (after the tenant check: another tenant's is not found)."""
    get_volume(volume_id, reach, uow)
    raise refuse_volume_snapshot(volume_id)
