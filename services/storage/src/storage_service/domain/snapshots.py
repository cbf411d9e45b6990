"""Servers' snapshots as storage records and bills them.

Compute makes a snapshot (``create_image``, an image of type ``snapshot`` it owns, upstream
and in its ``images`` table); storage owns the seed's ``snapshots`` row that records it for
billing: the row's id is the image's, ``resource_type`` ``server`` and ``resource_id`` the
server it was made from. It is written from compute's image events only: ``image.created``
(made, then available with its size: ``snapshot.created``), ``image.deleted``
(``deleted_at``: ``snapshot.deleted``). Storage bills an available snapshot's size per GB and
month, by the hour up to the monthly cap, as it bills volumes (domain/metering.py).

Hetzner Cloud has no volume snapshots: a volume snapshot is refused with ``not_supported``
(:class:`NotSupported`) as long as the upstream offers none.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

from cpshared.errors import InvalidInput
from storage_service.domain.aggregate import Aggregate

SERVER: Final = "server"
CREATING: Final = "creating"
AVAILABLE: Final = "available"


class NotSupported(InvalidInput):
    """The upstream cloud does not offer the operation (400 not_supported)."""

    code = "not_supported"


def refuse_volume_snapshot(volume_id: int) -> NotSupported:
    return NotSupported(
        f"volume {volume_id} cannot be snapshotted: the upstream cloud (Hetzner) has no volume snapshots; "
        "snapshot the server it is attached to, or copy its data to another volume"
    )


@dataclass(eq=False)
class Snapshot(Aggregate):
    id: int
    user_id: int
    organization_id: int | None
    resource_type: str
    resource_id: int
    status: str
    size_gb: Decimal | None
    created_at: datetime
    deleted_at: datetime | None

    def made_available(self, size_gb: Decimal | None, now: datetime) -> bool:
        """Upstream finished it: billed from now on (``snapshot.created``); False if it was already."""
        if self.status == AVAILABLE or self.deleted_at is not None:
            return False
        self.status, self.size_gb, self.created_at = AVAILABLE, size_gb, now
        self._record("snapshot.created")
        return True

    def deleted(self, now: datetime) -> bool:
        if self.deleted_at is not None:
            return False
        self.deleted_at = now
        if self.status == AVAILABLE:
            self._record("snapshot.deleted")
        return True

    def _record(self, event_type: str, **fields: Any) -> None:
        self._emit(
            event_type,
            self.id,
            1 if event_type == "snapshot.created" else 2,
            {
                "snapshot_id": self.id,
                "user_id": self.user_id,
                "organization_id": self.organization_id or 0,
                "resource_type": self.resource_type,
                "resource_id": self.resource_id,
                "size_gb": "" if self.size_gb is None else f"{self.size_gb:.2f}",
                **fields,
            },
        )


@dataclass(frozen=True)
class MeteredSnapshot:
    """An available snapshot as metering sees it (billed from ``created_at``: when it became available)."""

    id: int
    user_id: int
    organization_id: int | None
    resource_id: int
    size_gb: Decimal
    created_at: datetime
    deleted_at: datetime | None
    metered_until: datetime | None
