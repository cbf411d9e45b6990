"""The outside world as compute's service layer sees it: the upstream cloud (servers, the
catalog and its ISOs), identity's quotas, and the repositories a unit of work holds.

Adapters implement them (hcloud: ``adapters/upstream*.py``; identity over gRPC:
``adapters/quotas.py``; MariaDB: ``adapters/*repository.py``), wired by the bootstrap; unit
tests give in-memory fakes. Nothing here knows a database, a wire format or an HTTP client.
Time is the platform's one clock port, :func:`cpshared.clock.utcnow`."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from compute_service.domain.catalog import Datacenter, Image, ServerType, UpstreamImage, UpstreamIso, UpstreamServerType
from compute_service.domain.load_balancer_types import LoadBalancerType, UpstreamLoadBalancerType
from compute_service.domain.metering import BackupPeriod, MeteredServer, TypePeriod
from compute_service.domain.placement_groups import PlacementGroup
from compute_service.domain.server_actions import SnapshotImage
from compute_service.domain.servers import Action, Server
from compute_service.domain.ssh_keys import SshKey
from hetzner_conventions.label_sql import LabelRequirement

# -- the upstream cloud ----------------------------------------------------------------------


@dataclass(frozen=True)
class UpstreamServer:
    """A server upstream; ``platform_id`` is the platform server its label names (None: unlabelled)."""

    id: int
    status: str
    platform_id: int | None
    ipv4: str | None = None
    ipv6_network: str | None = None
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def ipv6(self) -> str | None:
        """The first address of its /64, as Hetzner's console shows it."""
        return self.ipv6_network.split("/")[0] + "1" if self.ipv6_network else None


@dataclass(frozen=True)
class CreateSpec:
    platform_id: int
    name: str
    server_type: str
    image: str
    location: str
    user_data: str
    labels: dict[str, str]
    ssh_key_ids: list[int]
    start_after_create: bool = True
    placement_group_id: int = 0  # upstream's id of the group it is created in; 0: none
    # Upstream's id of a snapshot to make it from (0: the system image named ``image``).
    image_id: int = 0


@dataclass(frozen=True)
class UpstreamSnapshot:
    """A tenant's image upstream (a snapshot or backup the platform made)."""

    id: int
    status: str
    size_gb: float | None


class UpstreamServers(Protocol):
    """Servers, their actions, placement groups and images upstream. Every call that starts an
    upstream action answers its id (0: none); :meth:`wait` waits for it. Raises
    :class:`~compute_service.domain.servers.UpstreamFailure` for what retrying cannot fix and
    :class:`~cpshared.errors.Unavailable` while upstream does not answer."""

    def find(self, platform_id: int) -> list[UpstreamServer]:
        """The upstream servers labelled with ``platform_id``, oldest first."""

    def labelled(self) -> list[UpstreamServer]:
        """Every upstream server that carries a platform label."""

    def get(self, upstream_id: int) -> UpstreamServer: ...

    def ensure_ssh_key(self, ssh_key_id: int, public_key: str) -> int:
        """Upstream's id of the platform's SSH key (made there now if it is not yet)."""

    def create(self, spec: CreateSpec) -> tuple[UpstreamServer, int]:
        """Create the server (or adopt the one labelled with ``spec.platform_id``)."""

    def create_with_password(self, spec: CreateSpec) -> tuple[UpstreamServer, int, str]:
        """Create the server now; with the root password upstream made."""

    def wait(self, action_id: int, *, poll_seconds: float = 0.2, limit_seconds: float = 600.0) -> None: ...

    def wait_a_moment(self, seconds: float = 0.2) -> None: ...

    def power_on(self, upstream_id: int) -> int: ...

    def power_off(self, upstream_id: int) -> int: ...

    def reboot(self, upstream_id: int) -> int: ...

    def shutdown(self, upstream_id: int) -> int: ...

    def reset(self, upstream_id: int) -> int: ...

    def delete(self, upstream_id: int) -> int: ...

    def ensure_placement_group(self, platform_id: int, group_type: str) -> int:
        """Upstream's id of the platform's placement group (made there now if it is not yet)."""

    def delete_placement_groups(self, platform_id: int) -> None: ...

    def add_to_placement_group(self, upstream_id: int, upstream_group_id: int) -> int: ...

    def remove_from_placement_group(self, upstream_id: int) -> int: ...

    def rebuild(self, upstream_id: int, *, image_name: str = "", image_id: int = 0) -> int: ...

    def rebuild_with_password(
        self, upstream_id: int, *, image_name: str = "", image_id: int = 0
    ) -> tuple[int, str]: ...

    def change_type(self, upstream_id: int, server_type: str, upgrade_disk: bool) -> int: ...

    def enable_rescue(self, upstream_id: int, rescue_type: str, ssh_key_ids: list[int]) -> tuple[int, str]: ...

    def disable_rescue(self, upstream_id: int) -> int: ...

    def create_image(
        self, upstream_id: int, platform_image_id: int, image_type: str, description: str, labels: dict[str, str]
    ) -> tuple[int, int]:
        """Upstream's image id and the id of the action that makes it."""

    def image(self, upstream_image_id: int) -> UpstreamSnapshot: ...

    def delete_image(self, upstream_image_id: int) -> None: ...

    def metrics(self, upstream_id: int, types: list[str], start: Any, end: Any, step: int | None) -> Any: ...

    def attach_iso(self, upstream_id: int, iso: str) -> int: ...

    def detach_iso(self, upstream_id: int) -> int: ...

    def change_dns_ptr(self, upstream_id: int, ip: str, dns_ptr: str | None) -> int: ...

    def enable_backup(self, upstream_id: int) -> int: ...

    def disable_backup(self, upstream_id: int) -> int: ...

    def request_console(self, upstream_id: int) -> tuple[int, str, str]:
        """The action, the console's websocket URL and its password."""

    def reset_password(self, upstream_id: int) -> tuple[int, str]: ...

    def settings(self, upstream_id: int) -> tuple[dict[str, Any] | None, str]:
        """The ISO in the server's drive (upstream's description) and its backup window."""


class CatalogSource(Protocol):
    """What upstream offers: server types, system images, ISOs, load balancer types."""

    def server_types(self) -> list[UpstreamServerType]: ...

    def system_images(self) -> list[UpstreamImage]: ...

    def isos(self) -> list[UpstreamIso]: ...

    def load_balancer_types(self) -> list[UpstreamLoadBalancerType]: ...


# -- billing ----------------------------------------------------------------------------------


class BackupPricing(Protocol):
    def backup_percent(self) -> Decimal:
        """The share (percent) of a server's prices its backups cost: billing's active ``backup``
        pricing plan's. PreconditionFailed when billing offers no backup plan; Unavailable when
        billing cannot be asked."""


# -- identity ---------------------------------------------------------------------------------


class Quotas(Protocol):
    def reserve(self, reservation_key: str, user_id: int, organization_id: int | None) -> None:
        """One unit of the tenant's server quota, idempotent by key; LimitExceeded when used up."""

    def release(self, reservation_key: str) -> None:
        """Give the unit back; releasing again (or a key never reserved) is no error."""


def reservation_key(server_id: int) -> str:
    """The server's quota reservation: its platform id, so every retry names the same one."""
    return f"server-{server_id}"


# -- the repositories of a unit of work ------------------------------------------------------


class CatalogRepository(Protocol):
    def lock_for_sync(self) -> None: ...

    def datacenters(self) -> list[Datacenter]: ...

    def server_types(self) -> list[ServerType]: ...

    def server_type(self, server_type_id: int, *, for_update: bool = False) -> ServerType | None: ...

    def server_type_by_code(self, code: str, *, for_update: bool = True) -> ServerType | None: ...

    def insert_server_type(self, values: dict[str, Any]) -> int: ...

    def update_server_type(self, server_type_id: int, version: int, values: dict[str, Any]) -> None: ...

    def images(self) -> list[Image]: ...

    def system_image(self, name: str, architecture: str) -> Image | None: ...

    def upsert_system_image(self, existing: Image | None, image: UpstreamImage, now: datetime) -> bool: ...


class SshKeyRepository(Protocol):
    seen: list[SshKey]
    """The keys written in this unit of work: it collects their recorded events on commit."""

    def get(self, ssh_key_id: int, *, for_update: bool = False) -> SshKey | None: ...

    def add(self, key: SshKey, now: datetime) -> SshKey: ...

    def save(self, key: SshKey, now: datetime) -> None: ...

    def delete(self, key: SshKey) -> None: ...

    def search(
        self,
        *,
        user_id: int | None,
        organization_id: int | None,
        name: str,
        fingerprint: str,
        requirements: Iterable[LabelRequirement],
        order: Sequence[tuple[str, bool]],
        offset: int,
        limit: int,
    ) -> tuple[list[SshKey], int]: ...


class ServerRepository(Protocol):
    seen: list[Server]
    """The servers written in this unit of work: it collects their recorded events on commit."""

    def get(self, server_id: int, *, for_update: bool = False) -> Server | None:
        """The server, deleted ones too (the caller decides whether they count)."""

    def add(self, server: Server, now: datetime) -> Server:
        """Insert it (its id, creation time and version 1 set); ALREADY_EXISTS for a taken name."""

    def open_type_period(self, server_id: int, server_type_id: int, at: datetime) -> None: ...

    def set_backup_period(
        self, server_id: int, enabled: bool, at: datetime, price_percent: Decimal | None = None
    ) -> None: ...

    def save(self, server: Server, now: datetime) -> None: ...

    def own_live_ids(self, user_id: int) -> list[int]: ...

    def organization_live_ids(self, organization_id: int) -> list[int]:
        """The live servers ``organization_id`` owns, locked until the transaction ends."""

    def to_enforce(self, erased: str, limit: int) -> list[int]: ...

    def save_suspension(self, server: Server) -> None: ...

    def rename(self, server: Server, now: datetime) -> None: ...

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
    ) -> tuple[list[Server], int]: ...

    def deleted_ids(self, server_ids: Iterable[int]) -> set[int]: ...

    def recorded_upstream_ids(self, server_ids: Iterable[int]) -> dict[int, int | None]: ...

    def catalog_choice(self, server_type: str, datacenter: str, image: str) -> tuple[Any, Any, Any]:
        """The server type, datacenter and system image named (each None when unknown)."""


class ActionRepository(Protocol):
    def add(self, action: Action, now: datetime) -> Action: ...

    def get(self, action_id: int) -> Action | None: ...

    def for_server(self, server_id: int) -> list[Action]: ...

    def for_image(self, image_id: int) -> list[Action]: ...

    def of_tenant(
        self,
        user_id: int,
        organization_id: int | None,
        statuses: Sequence[str],
        order: Sequence[tuple[str, bool]],
        offset: int,
        limit: int,
        *,
        resource_type: str = "server",
        ids: Sequence[int] = (),
    ) -> tuple[list[Action], int]: ...

    def claim_next(self, skip: Collection[int] = ()) -> Action | None:
        """The oldest running action no other worker holds, locked until the transaction ends."""

    def save(self, action: Action) -> None: ...


class ServerBackupRepository(Protocol):
    """Compute's projection of storage's backups of servers."""

    def hetzner_id(self, backup_id: int, server_id: int) -> int | None:
        """The upstream image of the server's backup ``backup_id``; None: not the server's."""

    def add(self, backup_id: int, server_id: int, hetzner_id: int) -> None: ...

    def remove(self, backup_id: int) -> None: ...


class ImageRepository(Protocol):
    def add(self, image: SnapshotImage, now: datetime) -> SnapshotImage: ...

    def get(self, image_id: int, *, for_update: bool = False) -> SnapshotImage | None: ...

    def of_tenant(self, user_id: int | None, organization_id: int | None) -> list[SnapshotImage]: ...

    def save(self, image: SnapshotImage, now: datetime) -> None: ...

    def delete(self, image_id: int) -> None: ...


class PlacementGroupRepository(Protocol):
    seen: list[PlacementGroup]
    """The groups written in this unit of work: it collects their recorded events on commit."""

    def get(self, group_id: int, *, for_update: bool = False) -> PlacementGroup | None: ...

    def add(self, group: PlacementGroup, now: datetime) -> PlacementGroup: ...

    def save(self, group: PlacementGroup, now: datetime) -> None: ...

    def delete(self, group: PlacementGroup) -> None: ...

    def search(
        self,
        *,
        user_id: int | None,
        organization_id: int | None,
        name: str,
        types: Sequence[str],
        requirements: Iterable[LabelRequirement],
        order: Sequence[tuple[str, bool]],
        offset: int,
        limit: int,
    ) -> tuple[list[PlacementGroup], int]: ...


class LoadBalancerTypeRepository(Protocol):
    def all(self) -> list[LoadBalancerType]: ...

    def upsert(self, upstream: UpstreamLoadBalancerType, datacenter_codes: list[str], now: datetime) -> bool: ...


@dataclass(frozen=True)
class TypePrice:
    code: str
    price_hourly: Decimal
    price_monthly: Decimal


class MeteringRepository(Protocol):
    def claim_due(self, now: datetime, limit: int) -> list[MeteredServer]:
        """Up to ``limit`` servers with an hour to record by ``now``, locked for this transaction."""

    def type_periods(self, server_ids: Collection[int]) -> dict[int, list[TypePeriod]]: ...

    def backup_periods(self, server_ids: Collection[int]) -> dict[int, list[BackupPeriod]]: ...

    def prices(self, server_type_ids: Collection[int]) -> dict[int, TypePrice]: ...

    def advance(self, server_id: int, metered_until: datetime) -> None: ...
