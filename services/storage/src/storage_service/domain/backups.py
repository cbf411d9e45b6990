"""Servers' backups: the ``backups`` rows storage keeps as the mirror of upstream's backup images.

A server with backups enabled (compute's option; storage learns it from compute's events) gets
one automated backup a day in its backup window, and seven are kept: the eighth replaces the
oldest. Upstream makes them (Hetzner's backup option); storage's worker records each one it
finds (``backup.created``, expiring seven days after it was made: the day its slot is taken
again) and removes the ones upstream no longer has (``backup.expired``: rotated out, the server
deleted or its backups disabled). A customer deletes one (``deleting`` until upstream's image
is gone, then ``backup.deleted``).

Statuses are the seed's: ``creating``, ``available``, ``restoring``, ``deleting``, ``error``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from cpshared.errors import PreconditionFailed
from storage_service.domain.aggregate import Aggregate

AUTOMATED: Final = "automated"
MANUAL: Final = "manual"
CREATING: Final = "creating"
AVAILABLE: Final = "available"
RESTORING: Final = "restoring"
DELETING: Final = "deleting"
ERROR: Final = "error"

SLOTS: Final = 7
"""Hetzner's backup option keeps seven backups."""
KEPT_FOR: Final = timedelta(days=SLOTS)
"""One backup a day and seven slots: a backup's slot is taken again seven days after it was made."""

ROTATED: Final = "rotated"
SERVER_DELETED: Final = "server_deleted"
BACKUPS_DISABLED: Final = "backups_disabled"
REQUESTED: Final = "requested"


class BackupBusy(PreconditionFailed):
    """The backup is being restored or deleted (Hetzner: 423 locked)."""

    code = "locked"


@dataclass(frozen=True)
class BackupServer:
    """What storage knows of a server from compute's events: its tenant, its id upstream, and
    whether its backups are enabled."""

    server_id: int
    user_id: int
    organization_id: int | None
    upstream_id: int
    backups_enabled: bool
    deleted: bool


@dataclass(frozen=True)
class UpstreamBackup:
    """A backup image upstream: its id, the upstream server it is bound to, when it was made."""

    hetzner_id: int
    upstream_server_id: int
    description: str
    status: str
    size_gb: Decimal | None
    created: datetime
    manual: bool = False
    """Made by compute's ``create_image`` (type backup; it carries compute's image label), not
    one of upstream's automated daily backups. It takes one of the seven slots too."""


@dataclass(eq=False)
class Backup(Aggregate):
    id: int
    server_id: int
    user_id: int
    organization_id: int | None
    hetzner_id: int
    type: str
    description: str
    size_gb: Decimal | None
    status: str
    created_at: datetime
    expires_at: datetime | None

    @classmethod
    def mirrored(cls, server: BackupServer, image: UpstreamBackup) -> Backup:
        """A backup upstream made; :meth:`recorded` once it has its id."""
        return cls(
            id=0,
            server_id=server.server_id,
            user_id=server.user_id,
            organization_id=server.organization_id,
            hetzner_id=image.hetzner_id,
            type=MANUAL if image.manual else AUTOMATED,
            description=image.description,
            size_gb=image.size_gb,
            status=AVAILABLE if image.status == AVAILABLE else CREATING,
            created_at=image.created,
            expires_at=image.created + KEPT_FOR,
        )

    def recorded(self) -> None:
        self._record(
            "backup.created",
            type=self.type,
            size_gb="" if self.size_gb is None else f"{self.size_gb:.2f}",
            expires_at=self.expires_at,
            hetzner_id=self.hetzner_id,
        )

    def refreshed(self, image: UpstreamBackup) -> bool:
        """Upstream finished it (or learnt its size): whether anything changed."""
        status = AVAILABLE if image.status == AVAILABLE and self.status == CREATING else self.status
        changed = (status, image.size_gb) != (self.status, self.size_gb) and image.size_gb is not None
        if changed:
            self.status, self.size_gb = status, image.size_gb
        return changed

    def expired(self, reason: str, now: datetime) -> None:
        """Gone upstream without being asked: rotated out, its server deleted, backups disabled."""
        self.expires_at = min(self.expires_at, now) if self.expires_at is not None else now
        self._record("backup.expired", reason=reason)

    def restore_started(self) -> bool:
        """The server is being rebuilt from it (compute's ``server.restore_started``)."""
        if self.status != AVAILABLE:
            return False
        self.status = RESTORING
        return True

    def restore_ended(self) -> bool:
        """The rebuild finished or failed: available again."""
        if self.status != RESTORING:
            return False
        self.status = AVAILABLE
        return True

    def begin_delete(self) -> None:
        if self.status in (RESTORING, DELETING):
            raise BackupBusy(f"backup {self.id} is {self.status}; wait until it is available")
        self.status = DELETING

    def deleted(self, reason: str = REQUESTED) -> None:
        self._record("backup.deleted", reason=reason)

    def _record(self, event_type: str, **fields: Any) -> None:
        self._emit(
            event_type,
            self.id,
            1 if event_type == "backup.created" else 2,
            {
                "backup_id": self.id,
                "server_id": self.server_id,
                "user_id": self.user_id,
                "organization_id": self.organization_id or 0,
                **fields,
            },
        )
