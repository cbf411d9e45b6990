"""In-memory fakes of compute's ports: the service layer runs on them with no database, no
upstream and no identity.

They keep what a test looks at (servers, actions, upstream's servers, the quota units held, the
events committed) and model the rules the use cases rely on: a read hands out a copy (a change
counts only once saved), events reach the outbox only through a commit, a rollback drops the
ones not committed yet, and upstream's servers carry the platform id's label.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from copy import deepcopy
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from types import TracebackType
from typing import Any, Self

from compute_service.domain.catalog import Datacenter, Image, ServerType
from compute_service.domain.placement_groups import PlacementGroup
from compute_service.domain.servers import ACTION_RUNNING, Action, Server
from compute_service.domain.ssh_keys import SshKey
from compute_service.service_layer.ports import CreateSpec, UpstreamServer, UpstreamSnapshot
from compute_service.service_layer.unit_of_work import ComputeUnitOfWork
from cpshared.errors import LimitExceeded
from cpshared.events.envelope import PendingEvent
from hetzner_conventions.label_sql import LabelRequirement

CX22 = ServerType(
    id=1,
    code="cx22",
    name="CX22",
    category="standard",
    cpu_type="shared",
    cpu_cores=2,
    memory_gb=Decimal(4),
    disk_gb=40,
    disk_type="ssd",
    network_speed_gbps=Decimal(1),
    price_hourly=Decimal("0.006"),
    price_monthly=Decimal("3.79"),
    available=True,
    supported_datacenters=["fsn1", "nbg1", "hel1"],
    upstream_datacenters=["fsn1", "nbg1", "hel1"],
    architecture="x86",
    hetzner_id=22,
    version=1,
)
FSN1 = Datacenter(1, "fsn1", "Falkenstein 1 DC14", "Falkenstein", "DE", "eu", None, None, "available", ())
UBUNTU = Image(
    id=1,
    hetzner_id=161547269,
    name="ubuntu-24.04",
    description="Ubuntu 24.04",
    type="system",
    os_flavor="ubuntu",
    os_version="24.04",
    architecture="x86",
    size_gb=None,
    min_disk_size=5,
    status="available",
    public=True,
    user_id=None,
    rapid_deploy=True,
    created_at=None,
    deprecated_at=None,
)


class FakeServerRepository:
    def __init__(self) -> None:
        self.rows: dict[int, Server] = {}
        self.seen: list[Server] = []

    def _saw(self, server: Server) -> None:
        if not any(seen is server for seen in self.seen):
            self.seen.append(server)

    def _keep(self, server: Server) -> None:
        kept = deepcopy(server)
        kept.events = []
        self.rows[server.id] = kept

    def get(self, server_id: int, *, for_update: bool = False) -> Server | None:
        found = self.rows.get(server_id)
        if found is None:
            return None
        copy = deepcopy(found)
        copy.events = []
        return copy

    def add(self, server: Server, now: datetime) -> Server:
        if any(s.name == server.name and s.deleted_at is None for s in self.rows.values()):
            raise AssertionError("the tests here use distinct names")
        server.id = len(self.rows) + 1
        server.created_at = server.updated_at = now
        server.version = 1
        self._keep(server)
        self._saw(server)
        return server

    def open_type_period(self, server_id: int, server_type_id: int, at: datetime) -> None:
        pass

    def set_backup_period(
        self, server_id: int, enabled: bool, at: datetime, price_percent: Decimal | None = None
    ) -> None:
        pass

    def save(self, server: Server, now: datetime) -> None:
        server.updated_at = now
        self._keep(server)
        self._saw(server)

    def own_live_ids(self, user_id: int) -> list[int]:
        return sorted(
            s.id for s in self.rows.values() if s.user_id == user_id and s.organization_id is None and not s.deleted_at
        )

    def organization_live_ids(self, organization_id: int) -> list[int]:
        return sorted(s.id for s in self.rows.values() if s.organization_id == organization_id and not s.deleted_at)

    def to_enforce(self, erased: str, limit: int) -> list[int]:
        raise NotImplementedError  # not used by these tests

    def save_suspension(self, server: Server) -> None:
        self.save(server, server.updated_at or datetime.min)

    def rename(self, server: Server, now: datetime) -> None:
        self.save(server, now)

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
    ) -> tuple[list[Server], int]:
        raise NotImplementedError  # not used by these tests

    def deleted_ids(self, server_ids: Iterable[int]) -> set[int]:
        return {i for i in server_ids if i in self.rows and self.rows[i].deleted_at is not None}

    def recorded_upstream_ids(self, server_ids: Iterable[int]) -> dict[int, int | None]:
        return {i: self.rows[i].hetzner_id for i in server_ids if i in self.rows}

    def catalog_choice(self, server_type: str, datacenter: str, image: str) -> tuple[Any, Any, Any]:
        return (
            CX22 if server_type == CX22.code else None,
            FSN1 if datacenter == FSN1.code else None,
            UBUNTU if image == UBUNTU.name else None,
        )


class FakeActionRepository:
    def __init__(self) -> None:
        self.rows: dict[int, Action] = {}

    def add(self, action: Action, now: datetime) -> Action:
        action.id = len(self.rows) + 1
        action.started = now
        self.rows[action.id] = replace(action, params=dict(action.params))
        return action

    def get(self, action_id: int) -> Action | None:
        found = self.rows.get(action_id)
        return None if found is None else replace(found)

    def for_server(self, server_id: int) -> list[Action]:
        return [replace(a) for a in sorted(self.rows.values(), key=lambda a: -a.id) if a.server_id == server_id]

    def for_image(self, image_id: int) -> list[Action]:
        return [replace(a) for a in sorted(self.rows.values(), key=lambda a: -a.id) if a.image_id == image_id]

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
    ) -> tuple[list[Action], int]:
        raise NotImplementedError  # not used by these tests

    def claim_next(self, skip: Collection[int] = ()) -> Action | None:
        running = [a for a in self.rows.values() if a.status == ACTION_RUNNING and a.server_id and a.id not in skip]
        return replace(min(running, key=lambda a: a.id)) if running else None

    def save(self, action: Action) -> None:
        self.rows[action.id] = replace(action)


class FakeSshKeyRepository:
    def __init__(self) -> None:
        self.rows: dict[int, SshKey] = {}
        self.seen: list[SshKey] = []

    def get(self, ssh_key_id: int, *, for_update: bool = False) -> SshKey | None:
        return self.rows.get(ssh_key_id)


class FakePlacementGroupRepository:
    def __init__(self) -> None:
        self.seen: list[PlacementGroup] = []

    def get(self, group_id: int, *, for_update: bool = False) -> PlacementGroup | None:
        return None


class FakeUnitOfWork(ComputeUnitOfWork):
    """The repositories the server use cases and the worker touch; the others are absent."""

    servers: FakeServerRepository
    actions: FakeActionRepository

    def __init__(self) -> None:
        self.servers = FakeServerRepository()
        self.actions = FakeActionRepository()
        self.ssh_keys = FakeSshKeyRepository()  # type: ignore[assignment]
        self.placement_groups = FakePlacementGroupRepository()  # type: ignore[assignment]
        self.pending: list[PendingEvent] = []
        self.committed: list[PendingEvent] = []
        self.commits = 0
        self._snapshot: tuple[dict[int, Server], dict[int, Action]] = ({}, {})

    def __call__(self) -> Self:
        """The unit-of-work factory the worker takes: this one, reused."""
        return self

    def __enter__(self) -> Self:
        self.pending = []
        self.servers.seen = []
        self._snapshot = (deepcopy(self.servers.rows), deepcopy(self.actions.rows))
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.rollback()

    def record(self, event: PendingEvent) -> None:
        self.pending.append(event)

    def record_once(self, events: Sequence[PendingEvent]) -> list[PendingEvent]:
        raise NotImplementedError  # metering is not exercised here

    def commit(self) -> None:
        self.collect_events()
        self.committed.extend(self.pending)
        self.pending = []
        self.servers.seen = []
        self._snapshot = (deepcopy(self.servers.rows), deepcopy(self.actions.rows))
        self.commits += 1

    def rollback(self) -> None:
        """Drop what was not committed: rows as at the last commit (or the start), no pending events."""
        self.servers.rows, self.actions.rows = self._snapshot
        self.pending = []
        self.servers.seen = []

    def committed_types(self) -> list[str]:
        return [event.envelope.event_type for event in self.committed]


class FakeQuotas:
    """Identity's quota of servers: ``limit`` units per user, idempotent by reservation key."""

    def __init__(self, limit: int = 10) -> None:
        self.limit = limit
        self.held: dict[str, int] = {}

    def reserve(self, reservation_key: str, user_id: int, organization_id: int | None) -> None:
        if reservation_key in self.held:
            return
        if sum(1 for owner in self.held.values() if owner == user_id) >= self.limit:
            raise LimitExceeded(f"server limit of {self.limit} reached")
        self.held[reservation_key] = user_id

    def release(self, reservation_key: str) -> None:
        self.held.pop(reservation_key, None)


@dataclass
class _Upstream:
    server: UpstreamServer
    deleted: bool = False


class FakeUpstreamServers:
    """Upstream as the worker sees it: servers labelled with the platform id, actions that finish
    at once, and a failure to hand out for the next action (``fail_next``)."""

    def __init__(self) -> None:
        self.servers: dict[int, _Upstream] = {}
        self.calls: list[tuple[str, int]] = []
        """(what, upstream action id) of every action asked for, in order."""
        self.fail_next: Exception | None = None
        self._ids = 1000

    def _next(self) -> int:
        self._ids += 1
        return self._ids

    def _act(self, what: str) -> int:
        if self.fail_next is not None:
            failure, self.fail_next = self.fail_next, None
            raise failure
        self.calls.append((what, self._next()))
        return self.calls[-1][1]

    def find(self, platform_id: int) -> list[UpstreamServer]:
        return [u.server for u in self.servers.values() if not u.deleted and u.server.platform_id == platform_id]

    def labelled(self) -> list[UpstreamServer]:
        return [u.server for u in self.servers.values() if not u.deleted]

    def get(self, upstream_id: int) -> UpstreamServer:
        return self.servers[upstream_id].server

    def ensure_ssh_key(self, ssh_key_id: int, public_key: str) -> int:
        return 500 + ssh_key_id

    def create(self, spec: CreateSpec) -> tuple[UpstreamServer, int]:
        action = self._act("create")
        existing = self.find(spec.platform_id)
        if existing:
            return existing[0], action
        made = UpstreamServer(
            id=self._next(),
            status="running" if spec.start_after_create else "off",
            platform_id=spec.platform_id,
            ipv4="203.0.113.7",
            ipv6_network="2001:db8:1::/64",
        )
        self.servers[made.id] = _Upstream(made)
        return made, action

    def wait(self, action_id: int, *, poll_seconds: float = 0.2, limit_seconds: float = 600.0) -> None:
        pass

    def wait_a_moment(self, seconds: float = 0.2) -> None:
        pass

    def power_on(self, upstream_id: int) -> int:
        return self._act("power_on")

    def power_off(self, upstream_id: int) -> int:
        return self._act("power_off")

    def reboot(self, upstream_id: int) -> int:
        return self._act("reboot")

    def shutdown(self, upstream_id: int) -> int:
        return self._act("shutdown")

    def reset(self, upstream_id: int) -> int:
        return self._act("reset")

    def delete(self, upstream_id: int) -> int:
        action = self._act("delete")
        self.servers[upstream_id].deleted = True
        return action

    # -- what the server lifecycle here never asks of upstream ------------------------------

    def create_with_password(self, spec: CreateSpec) -> tuple[UpstreamServer, int, str]:
        raise AssertionError("not asked here: the servers made here have no root password")

    def ensure_placement_group(self, platform_id: int, group_type: str) -> int:
        raise AssertionError("not asked here")

    def delete_placement_groups(self, platform_id: int) -> None:
        raise AssertionError("not asked here")

    def add_to_placement_group(self, upstream_id: int, upstream_group_id: int) -> int:
        raise AssertionError("not asked here")

    def remove_from_placement_group(self, upstream_id: int) -> int:
        raise AssertionError("not asked here")

    def rebuild(self, upstream_id: int, *, image_name: str = "", image_id: int = 0) -> int:
        raise AssertionError("not asked here")

    def rebuild_with_password(self, upstream_id: int, *, image_name: str = "", image_id: int = 0) -> tuple[int, str]:
        raise AssertionError("not asked here")

    def change_type(self, upstream_id: int, server_type: str, upgrade_disk: bool) -> int:
        raise AssertionError("not asked here")

    def enable_rescue(self, upstream_id: int, rescue_type: str, ssh_key_ids: list[int]) -> tuple[int, str]:
        raise AssertionError("not asked here")

    def disable_rescue(self, upstream_id: int) -> int:
        raise AssertionError("not asked here")

    def create_image(
        self, upstream_id: int, platform_image_id: int, image_type: str, description: str, labels: dict[str, str]
    ) -> tuple[int, int]:
        raise AssertionError("not asked here")

    def image(self, upstream_image_id: int) -> UpstreamSnapshot:
        raise AssertionError("not asked here")

    def delete_image(self, upstream_image_id: int) -> None:
        raise AssertionError("not asked here")

    def metrics(self, upstream_id: int, types: list[str], start: Any, end: Any, step: int | None) -> Any:
        raise AssertionError("not asked here")

    def attach_iso(self, upstream_id: int, iso: str) -> int:
        raise AssertionError("not asked here")

    def detach_iso(self, upstream_id: int) -> int:
        raise AssertionError("not asked here")

    def change_dns_ptr(self, upstream_id: int, ip: str, dns_ptr: str | None) -> int:
        raise AssertionError("not asked here")

    def enable_backup(self, upstream_id: int) -> int:
        raise AssertionError("not asked here")

    def disable_backup(self, upstream_id: int) -> int:
        raise AssertionError("not asked here")

    def request_console(self, upstream_id: int) -> tuple[int, str, str]:
        raise AssertionError("not asked here")

    def reset_password(self, upstream_id: int) -> tuple[int, str]:
        raise AssertionError("not asked here")

    def settings(self, upstream_id: int) -> tuple[dict[str, Any] | None, str]:
        raise AssertionError("not asked here")
