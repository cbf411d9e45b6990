"""In-memory fakes of storage's ports: the unit of work and its repositories, upstream volumes,
compute's servers and identity's quotas. A fake unit of work keeps committed state only: leaving
without commit throws away what the block changed (as a rolled-back transaction)."""

from __future__ import annotations

import copy
import dataclasses
import itertools
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Self

from cpshared.clock import utcnow
from cpshared.errors import AlreadyExists, LimitExceeded, Unavailable
from cpshared.events.envelope import PendingEvent
from hetzner_conventions.label_sql import LabelRequirement
from storage_service.domain import volumes as v
from storage_service.domain.backups import DELETING, Backup, BackupServer, UpstreamBackup
from storage_service.domain.snapshots import Snapshot
from storage_service.domain.volumes import Action, ServerInfo, UpstreamFailure, Volume
from storage_service.service_layer.ports import UpstreamVolume, VolumeSpec
from storage_service.service_layer.unit_of_work import StorageUnitOfWork


class Store:
    """What the fake database holds."""

    def __init__(self) -> None:
        self.volumes: dict[int, Volume] = {}
        self.actions: dict[int, Action] = {}
        self.outbox: list[PendingEvent] = []
        self.size_periods: list[tuple[int, int, datetime]] = []
        self.volume_ids = itertools.count(1)
        self.action_ids = itertools.count(10**12)
        self.backup_servers: dict[int, BackupServer] = {}
        self.backups: dict[int, Backup] = {}
        self.backup_ids = itertools.count(1)
        self.snapshots: dict[int, Snapshot] = {}


class FakeVolumes:
    def __init__(self, state: dict[int, Volume], store: Store) -> None:
        self.state, self.store = state, store
        self.seen: list[Volume] = []
        self.size_periods: list[tuple[int, int, datetime]] = []

    def open_size_period(self, volume_id: int, size_gb: int, at: datetime) -> None:
        self.size_periods.append((volume_id, size_gb, at))

    def _saw(self, volume: Volume) -> None:
        if not any(seen is volume for seen in self.seen):
            self.seen.append(volume)

    def get(self, volume_id: int, *, for_update: bool = False) -> Volume | None:
        return self.state.get(volume_id)

    def _unique(self, volume: Volume) -> None:
        for other in self.state.values():
            if (
                other.id != volume.id
                and other.deleted_at is None
                and volume.deleted_at is None
                and other.name == volume.name
                and (other.user_id, other.organization_id) == (volume.user_id, volume.organization_id)
            ):
                raise AlreadyExists(f"a volume named {volume.name!r} exists already")

    def add(self, volume: Volume, now: datetime) -> Volume:
        volume.id = next(self.store.volume_ids)
        self._unique(volume)
        volume.created_at = now
        self.state[volume.id] = volume
        self._saw(volume)
        return volume

    def save(self, volume: Volume, now: datetime) -> None:
        self._unique(volume)
        self.state[volume.id] = volume
        self._saw(volume)

    def lock_server(self, server_id: int) -> None:
        return None

    def count_on_server(self, server_id: int) -> int:
        return sum(1 for vol in self.state.values() if vol.server_id == server_id and vol.deleted_at is None)

    def of_account(self, *, user_id: int | None = None, organization_id: int | None = None) -> list[Volume]:
        return [
            vol
            for vol in sorted(self.state.values(), key=lambda x: x.id)
            if vol.deleted_at is None
            and (
                vol.organization_id == organization_id
                if organization_id is not None
                else (vol.user_id == user_id and vol.organization_id is None)
            )
        ]

    def on_servers(self, server_ids: Iterable[int]) -> dict[int, list[Volume]]:
        wanted = set(server_ids)
        found: dict[int, list[Volume]] = {}
        for vol in sorted(self.state.values(), key=lambda x: x.id):
            if vol.server_id in wanted and vol.deleted_at is None and vol.status in (v.ATTACHED, v.DETACHING):
                found.setdefault(vol.server_id, []).append(vol)
        return found

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
    ) -> tuple[list[Volume], int]:
        found = [
            vol
            for vol in self.state.values()
            if vol.deleted_at is None
            and vol.status != v.DELETING
            and (not name or vol.name == name)
            and (not statuses or vol.status in statuses)
            and (user_id is None or (vol.user_id == user_id and vol.organization_id is None))
        ]
        return found[offset : offset + limit], len(found)

    def deleted_ids(self, volume_ids: Iterable[int]) -> set[int]:
        return {i for i in volume_ids if i in self.state and self.state[i].deleted_at is not None}

    def recorded_upstream_ids(self, volume_ids: Iterable[int]) -> dict[int, int]:
        return {i: self.state[i].hetzner_id for i in volume_ids if i in self.state}


class FakeActions:
    def __init__(self, state: dict[int, Action], store: Store) -> None:
        self.state, self.store = state, store

    def add(self, action: Action, now: datetime) -> Action:
        action.id = next(self.store.action_ids)
        action.started = now
        self.state[action.id] = action
        return action

    def get(self, action_id: int) -> Action | None:
        return self.state.get(action_id)

    def save(self, action: Action) -> None:
        self.state[action.id] = action

    def claim_next(self, skip: Collection[int] = ()) -> Action | None:
        running = [a for a in self.state.values() if a.status == v.ACTION_RUNNING and a.id not in skip]
        return min(running, key=lambda a: a.id) if running else None

    def reserved_sizes(self, volume_id: int) -> list[int]:
        return [
            int(a.params["size_gb"])
            for a in self.state.values()
            if a.volume_id == volume_id
            and a.command in (v.CREATE, v.RESIZE)
            and not (a.command == v.RESIZE and a.status == v.ACTION_ERROR)
        ]

    def of_tenant(self, user_id: int, organization_id: int | None, **kwargs: Any) -> tuple[list[Action], int]:
        found = [a for a in self.state.values() if a.user_id == user_id]
        return found, len(found)


class FakeBackups:
    """Backups and the servers they belong to, on the unit of work's copies."""

    def __init__(self, servers: dict[int, BackupServer], state: dict[int, Backup], store: Store) -> None:
        self.servers, self.state, self.store = servers, state, store
        self.seen: list[Backup] = []

    def _saw(self, backup: Backup) -> None:
        if not any(seen is backup for seen in self.seen):
            self.seen.append(backup)

    def server(self, server_id: int, *, for_update: bool = False) -> BackupServer | None:
        return self.servers.get(server_id)

    def server_created(self, server_id: int, user_id: int, organization_id: int | None, enabled: bool) -> None:
        self.servers.setdefault(server_id, BackupServer(server_id, user_id, organization_id, 0, enabled, False))

    def _change(self, server_id: int, **changes: Any) -> None:
        if server_id in self.servers:
            self.servers[server_id] = dataclasses.replace(self.servers[server_id], **changes)

    def set_upstream_id(self, server_id: int, upstream_id: int) -> None:
        self._change(server_id, upstream_id=upstream_id)

    def set_enabled(self, server_id: int, enabled: bool) -> None:
        self._change(server_id, backups_enabled=enabled)

    def set_deleted(self, server_id: int) -> None:
        self._change(server_id, deleted=True, backups_enabled=False)

    def servers_of_user(self, user_id: int) -> list[BackupServer]:
        return [s for _, s in sorted(self.servers.items()) if s.user_id == user_id and s.organization_id is None]

    def servers_with_backups(self) -> list[BackupServer]:
        with_rows = {b.server_id for b in self.state.values()}
        return [
            s
            for _, s in sorted(self.servers.items())
            if (s.backups_enabled and not s.deleted) or s.server_id in with_rows
        ]

    def of_server(self, server_id: int, *, for_update: bool = False) -> list[Backup]:
        found = [b for b in self.state.values() if b.server_id == server_id]
        return sorted(found, key=lambda b: (b.created_at, b.id), reverse=True)

    def get(self, backup_id: int, *, for_update: bool = False) -> Backup | None:
        return self.state.get(backup_id)

    def add(self, backup: Backup) -> Backup:
        if any(b.hetzner_id == backup.hetzner_id for b in self.state.values()):
            raise AlreadyExists(f"backup image {backup.hetzner_id} is recorded")
        backup.id = next(self.store.backup_ids)
        self.state[backup.id] = backup
        self._saw(backup)
        return backup

    def save(self, backup: Backup) -> None:
        self.state[backup.id] = backup
        self._saw(backup)

    def remove(self, backup: Backup) -> None:
        self.state.pop(backup.id, None)
        self._saw(backup)

    def deleting(self, limit: int) -> list[Backup]:
        return [b for _, b in sorted(self.state.items()) if b.status == DELETING][:limit]


class FakeSnapshots:
    def __init__(self, state: dict[int, Snapshot]) -> None:
        self.state = state
        self.seen: list[Snapshot] = []

    def record_made(self, snapshot_id: int, user_id: int, organization_id: int | None, server_id: int) -> None:
        self.state.setdefault(
            snapshot_id,
            Snapshot(snapshot_id, user_id, organization_id, "server", server_id, "creating", None, utcnow(), None),
        )

    def get(self, snapshot_id: int, *, for_update: bool = False) -> Snapshot | None:
        return self.state.get(snapshot_id)

    def save(self, snapshot: Snapshot) -> None:
        self.state[snapshot.id] = snapshot
        if not any(seen is snapshot for seen in self.seen):
            self.seen.append(snapshot)


class FakeUnitOfWork(StorageUnitOfWork):
    def __init__(self, store: Store) -> None:
        self.store = store
        self.committed = False

    def __enter__(self) -> Self:
        self._volumes = copy.deepcopy(self.store.volumes)
        self._actions = copy.deepcopy(self.store.actions)
        self._outbox: list[PendingEvent] = []
        self.fake_volumes = FakeVolumes(self._volumes, self.store)
        self.volumes = self.fake_volumes
        self.actions = FakeActions(self._actions, self.store)
        self._backup_servers = copy.deepcopy(self.store.backup_servers)
        self._backups = copy.deepcopy(self.store.backups)
        self._snapshots = copy.deepcopy(self.store.snapshots)
        self.backups = FakeBackups(self._backup_servers, self._backups, self.store)
        self.snapshots = FakeSnapshots(self._snapshots)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    def record(self, event: PendingEvent) -> None:
        self._outbox.append(event)

    def record_once(self, events: Sequence[PendingEvent]) -> list[PendingEvent]:
        return list(events)

    def commit(self) -> None:
        self.collect_events()
        self.store.volumes, self.store.actions = self._volumes, self._actions
        self.store.backup_servers, self.store.backups = self._backup_servers, self._backups
        self.store.snapshots = self._snapshots
        self.store.outbox.extend(self._outbox)
        self.store.size_periods.extend(self.fake_volumes.size_periods)
        self.committed = True

    def rollback(self) -> None:
        return None


class FakeUpstream:
    """Volumes upstream: a dict, actions finishing at once; ``refuse`` makes a command fail for
    good, ``unavailable`` makes every call fail as a lasting 5xx would."""

    def __init__(self) -> None:
        self.volumes: dict[int, UpstreamVolume] = {}
        self.servers: dict[int, int] = {}  # platform server id → upstream id
        self.ids = itertools.count(500)
        self.created = 0
        self.refuse: dict[str, str] = {}
        self.unavailable = False

    def _check(self, what: str) -> None:
        if self.unavailable:
            raise Unavailable(f"upstream kept failing to {what}")
        if what in self.refuse:
            raise UpstreamFailure(self.refuse[what], f"upstream refused to {what}")

    def _replace(self, upstream_id: int, **changes: Any) -> None:
        current = self.volumes[upstream_id]
        self.volumes[upstream_id] = UpstreamVolume(**{**current.__dict__, **changes})

    def find(self, platform_id: int) -> list[UpstreamVolume]:
        self._check("list")
        return sorted((u for u in self.volumes.values() if u.platform_id == platform_id), key=lambda u: u.id)

    def labelled(self) -> list[UpstreamVolume]:
        return sorted(self.volumes.values(), key=lambda u: u.id)

    def create(self, spec: VolumeSpec) -> tuple[UpstreamVolume, int]:
        self._check("create")
        found = self.find(spec.platform_id)
        if found:
            return found[0], 0
        made = UpstreamVolume(next(self.ids), "available", spec.size_gb, None, spec.platform_id)
        self.volumes[made.id] = made
        self.created += 1
        return made, next(self.ids)

    def upstream_server_id(self, platform_server_id: int) -> int | None:
        return self.servers.get(platform_server_id)

    def attach(self, upstream_id: int, upstream_server_id: int, automount: bool) -> int:
        self._check("attach")
        self._replace(upstream_id, server_id=upstream_server_id)
        return next(self.ids)

    def detach(self, upstream_id: int) -> int:
        self._check("detach")
        self._replace(upstream_id, server_id=None)
        return next(self.ids)

    def resize(self, upstream_id: int, size_gb: int) -> int:
        self._check("resize")
        self._replace(upstream_id, size_gb=size_gb)
        return next(self.ids)

    def delete(self, upstream_id: int) -> None:
        self._check("delete")
        self.volumes.pop(upstream_id, None)

    def wait(self, action_id: int) -> None:
        return None


class FakeServers:
    def __init__(self) -> None:
        self.servers: dict[int, ServerInfo] = {}
        self.datacenters = {"fsn1": 1, "nbg1": 2}

    def server(self, server_id: int) -> ServerInfo | None:
        return self.servers.get(server_id)

    def datacenter_id(self, location: str) -> int | None:
        return self.datacenters.get(location)


class FakeQuotas:
    def __init__(self, limits: dict[str, int] | None = None) -> None:
        self.limits = limits or {"volume": 100, "volume_gb": 100_000}
        self.held: dict[str, tuple[str, int]] = {}

    def used(self, resource_type: str) -> int:
        return sum(amount for kind, amount in self.held.values() if kind == resource_type)

    def reserve(
        self, reservation_key: str, resource_type: str, amount: int, user_id: int, organization_id: int | None
    ) -> None:
        if reservation_key in self.held:
            return
        if self.used(resource_type) + amount > self.limits[resource_type]:
            raise LimitExceeded(f"the {resource_type} quota is used up")
        self.held[reservation_key] = (resource_type, amount)

    def release(self, reservation_key: str) -> None:
        self.held.pop(reservation_key, None)


class FakeUpstreamBackups:
    """Upstream's backup images, as the test sets them; deleting one removes it."""

    def __init__(self) -> None:
        self.images: dict[int, UpstreamBackup] = {}
        self.deleted: list[int] = []
        self.servers: dict[int, int] = {}  # platform server id → upstream's (by compute's label)

    def upstream_server_id(self, platform_server_id: int) -> int | None:
        return self.servers.get(platform_server_id)

    def backups(self) -> list[UpstreamBackup]:
        return list(self.images.values())

    def delete_image(self, hetzner_id: int) -> None:
        self.images.pop(hetzner_id, None)
        self.deleted.append(hetzner_id)
