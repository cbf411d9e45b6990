"""The outside world as storage's service layer sees it: the upstream cloud's volumes, compute's
servers and datacenters, identity's quotas, and the repositories a unit of work holds.

Adapters implement them (hcloud: ``adapters/upstream.py``; compute and identity over gRPC:
``adapters/compute.py``, ``adapters/quotas.py``; MariaDB: ``adapters/repository.py``), wired by
the bootstrap; unit tests give in-memory fakes. Time is :func:`cpshared.clock.utcnow`."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from hetzner_conventions.label_sql import LabelRequirement
from storage_service.domain.backups import Backup, BackupServer, UpstreamBackup
from storage_service.domain.metering import MeteredVolume, SizePeriod
from storage_service.domain.snapshots import MeteredSnapshot, Snapshot
from storage_service.domain.volumes import Action, ServerInfo, Volume

# -- the upstream cloud ----------------------------------------------------------------------


@dataclass(frozen=True)
class UpstreamVolume:
    """A volume upstream; ``platform_id`` is the platform volume its label names (None: unlabelled)."""

    id: int
    status: str
    size_gb: int
    server_id: int | None  # upstream's server id it is attached to
    platform_id: int | None
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class VolumeSpec:
    platform_id: int
    name: str
    size_gb: int
    location: str
    fmt: str
    labels: dict[str, str]


class UpstreamVolumes(Protocol):
    """Volumes upstream. A call that starts an upstream action answers its id (0: none);
    :meth:`wait` waits for it. Raises :class:`~storage_service.domain.volumes.UpstreamFailure`
    for what retrying cannot fix and :class:`~cpshared.errors.Unavailable` while upstream does
    not answer."""

    def find(self, platform_id: int) -> list[UpstreamVolume]:
        """The upstream volumes labelled with ``platform_id``, oldest first."""

    def labelled(self) -> list[UpstreamVolume]:
        """Every upstream volume carrying a platform label."""

    def create(self, spec: VolumeSpec) -> tuple[UpstreamVolume, int]:
        """Create the volume (its label looked up first: an existing one is adopted, action 0)."""

    def upstream_server_id(self, platform_server_id: int) -> int | None:
        """Upstream's id of the platform's server (found by its label); None: not there."""

    def attach(self, upstream_id: int, upstream_server_id: int, automount: bool) -> int: ...

    def detach(self, upstream_id: int) -> int: ...

    def resize(self, upstream_id: int, size_gb: int) -> int: ...

    def delete(self, upstream_id: int) -> None: ...

    def wait(self, action_id: int) -> None: ...


class UpstreamBackups(Protocol):
    """Servers' backup images upstream (Hetzner's images of type ``backup``)."""

    def backups(self) -> list[UpstreamBackup]:
        """Every backup image of the project, with the upstream server it is bound to."""

    def delete_image(self, hetzner_id: int) -> None:
        """Delete an image; one that is gone already is no error."""

    def upstream_server_id(self, platform_server_id: int) -> int | None:
        """Upstream's id of the platform's server (found by compute's label); None: not there."""


class UpstreamStorage(UpstreamVolumes, UpstreamBackups, Protocol):
    """What the storage worker asks upstream: volumes and servers' backup images."""


# -- other services --------------------------------------------------------------------------


class Servers(Protocol):
    """Compute's servers and datacenters, as storage needs them."""

    def server(self, server_id: int) -> ServerInfo | None:
        """The server (deleted ones answer ``live`` False); None: there never was one."""

    def datacenter_id(self, location: str) -> int | None:
        """Compute's id of the datacenter with that code; None: unknown."""


class PricePlans(Protocol):
    """Billing's pricing plans, the one home of the volume price."""

    def volume_per_gb_month(self) -> tuple[Decimal, str]:
        """The active ``volume`` plan's gross price per GB and month, and its currency;
        Unavailable while billing does not answer or has no such plan."""

    def snapshot_per_gb_month(self) -> tuple[Decimal, str]:
        """The active ``snapshot`` plan's gross price per GB and month, and its currency;
        Unavailable while billing does not answer or has no such plan."""


class Quotas(Protocol):
    def reserve(
        self, reservation_key: str, resource_type: str, amount: int, user_id: int, organization_id: int | None
    ) -> None:
        """``amount`` units of the tenant's ``resource_type`` quota, idempotent by key;
        LimitExceeded when used up."""

    def release(self, reservation_key: str) -> None:
        """Give them back; releasing again (or a key never reserved) is no error."""


VOLUMES_QUOTA = "volume"
VOLUME_GB_QUOTA = "volume_gb"


def count_key(volume_id: int) -> str:
    """The volume's reservation of one unit of the tenant's ``volume`` quota."""
    return f"volume-{volume_id}"


def size_key(volume_id: int, size_gb: int) -> str:
    """The volume's reservation of GB: its first size, then the difference each resize to ``size_gb`` added."""
    return f"volume-{volume_id}-gb-{size_gb}"


# -- the repositories of a unit of work ------------------------------------------------------


class VolumeRepository(Protocol):
    seen: list[Volume]

    def get(self, volume_id: int, *, for_update: bool = False) -> Volume | None: ...

    def add(self, volume: Volume, now: datetime) -> Volume: ...

    def save(self, volume: Volume, now: datetime) -> None: ...

    def open_size_period(self, volume_id: int, size_gb: int, at: datetime) -> None:
        """From ``at`` on the volume is ``size_gb`` GB (metering prices its hours by it)."""

    def count_on_server(self, server_id: int) -> int:
        """Live volumes attached (or being attached) to the server."""

    def on_servers(self, server_ids: Iterable[int]) -> dict[int, list[Volume]]:
        """The live volumes of each server, by server id (servers without: left out)."""

    def of_account(self, *, user_id: int | None = None, organization_id: int | None = None) -> list[Volume]:
        """The live volumes a user owns itself or an organization owns, locked for update."""

    def lock_server(self, server_id: int) -> None:
        """Serialize attaches to one server until the transaction ends (the limit of 16 is exact)."""

    def search(
        self,
        *,
        user_id: int | None,
        organization_id: int | None,
        name: str,
        statuses: Sequence[str],
        requirements: Iterable[LabelRequirement],
        order: Sequence[tuple[str, bool]],
        offset: int,
        limit: int,
    ) -> tuple[list[Volume], int]: ...

    def deleted_ids(self, volume_ids: Iterable[int]) -> set[int]: ...

    def recorded_upstream_ids(self, volume_ids: Iterable[int]) -> dict[int, int]: ...


class MeteringRepository(Protocol):
    def claim_due(self, now: datetime, limit: int) -> list[MeteredVolume]:
        """Up to ``limit`` volumes with an hour to record by ``now``, locked for this transaction."""

    def size_periods(self, volume_ids: Iterable[int]) -> dict[int, list[SizePeriod]]: ...

    def advance(self, volume_id: int, metered_until: datetime) -> None: ...

    def claim_due_snapshots(self, now: datetime, limit: int) -> list[MeteredSnapshot]:
        """Up to ``limit`` available snapshots with an hour to record by ``now``, locked."""

    def advance_snapshot(self, snapshot_id: int, metered_until: datetime) -> None: ...


class ActionRepository(Protocol):
    def add(self, action: Action, now: datetime) -> Action: ...

    def get(self, action_id: int) -> Action | None: ...

    def save(self, action: Action) -> None: ...

    def claim_next(self, skip: Collection[int] = ()) -> Action | None: ...

    def reserved_sizes(self, volume_id: int) -> list[int]:
        """The sizes its GB reservations are keyed by: its first size and every resize not refused."""

    def of_tenant(
        self,
        user_id: int,
        organization_id: int | None,
        *,
        volume_id: int,
        ids: Sequence[int],
        statuses: Sequence[str],
        order: Sequence[tuple[str, bool]],
        offset: int,
        limit: int,
    ) -> tuple[list[Action], int]: ...


class BackupRepository(Protocol):
    seen: list[Backup]

    def server(self, server_id: int, *, for_update: bool = False) -> BackupServer | None: ...

    def server_created(self, server_id: int, user_id: int, organization_id: int | None, enabled: bool) -> None:
        """Record a server (again: nothing changes)."""

    def set_upstream_id(self, server_id: int, upstream_id: int) -> None: ...

    def set_enabled(self, server_id: int, enabled: bool) -> None: ...

    def set_deleted(self, server_id: int) -> None: ...

    def servers_of_user(self, user_id: int) -> list[BackupServer]:
        """The servers the user owns itself (not an organization's)."""

    def servers_with_backups(self) -> list[BackupServer]:
        """Servers not deleted whose backups are enabled, or which still have backup rows."""

    def of_server(self, server_id: int, *, for_update: bool = False) -> list[Backup]:
        """The server's backups, newest first."""

    def get(self, backup_id: int, *, for_update: bool = False) -> Backup | None: ...

    def add(self, backup: Backup) -> Backup:
        """Insert it and give it its id; None-safe against a second worker (unique hetzner_id)."""

    def save(self, backup: Backup) -> None: ...

    def remove(self, backup: Backup) -> None:
        """Delete the row (its events are still collected)."""

    def deleting(self, limit: int) -> list[Backup]:
        """Backups a customer deleted whose upstream image is still to go, locked."""


class SnapshotRepository(Protocol):
    seen: list[Snapshot]

    def record_made(self, snapshot_id: int, user_id: int, organization_id: int | None, server_id: int) -> None:
        """The row of a snapshot being made (again: nothing changes)."""

    def get(self, snapshot_id: int, *, for_update: bool = False) -> Snapshot | None: ...

    def save(self, snapshot: Snapshot) -> None: ...
