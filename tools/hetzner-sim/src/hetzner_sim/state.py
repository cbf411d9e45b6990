"""The simulator's state and rules: projects, servers, SSH keys, images, actions, IP pools.

Time is read from an injected clock. Actions are never advanced by a background task: each
call first applies every action whose time is up (:meth:`Simulator.tick`), so a request sees
exactly the state the clock says. An action's effect (a server going from ``initializing`` to
``running``, from ``running`` to ``off`` ...) applies when it finishes; while an action on a
server runs, the server is ``locked`` and another action on it answers ``locked``.

Errors are :class:`cpshared.errors.DomainError` subclasses carrying Hetzner's codes; the
gateway's error handlers turn them into the error object.
"""

from __future__ import annotations

import base64
import contextvars
import hashlib
import ipaddress
import math
import re
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from cryptography.hazmat.primitives.serialization import load_ssh_public_key
from pydantic import BaseModel, Field

from cpshared.errors import AlreadyExists, DomainError, InvalidInput, LimitExceeded, NotFound
from hetzner_conventions.errors import field_errors, invalid_field
from hetzner_sim import catalog

if TYPE_CHECKING:
    from hetzner_sim.firewalls import Firewall
    from hetzner_sim.floating_ips import FloatingIp
    from hetzner_sim.load_balancers import LoadBalancer
    from hetzner_sim.networks import Network
    from hetzner_sim.placement_groups import PlacementGroup
    from hetzner_sim.primary_ips import PrimaryIp
    from hetzner_sim.volumes import Volume


class Locked(DomainError):
    code = "locked"


class Protected(DomainError):
    code = "protected"


class ServerNotStopped(DomainError):
    code = "server_not_stopped"


class Clock(Protocol):
    def now(self) -> float: ...


class SystemClock:
    def now(self) -> float:
        return time.time()


class ManualClock:
    """A clock tests move by hand."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self._now = start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds


BACKUP_SLOTS = 7
"""Hetzner's backup option: seven slots for images of type backup; a new one replaces the oldest."""
BACKUP_WINDOW = "22-02"
"""The window upstream assigns (UTC hours); the daily automated backup is taken at its start."""
DAY = 86_400.0


def backup_times(window: str, after: float, until: float) -> list[float]:
    """The starts of ``window`` ("HH-HH", UTC) in (``after``, ``until``]: one a day."""
    start_hour = int(window.split("-", 1)[0])
    day = math.floor(after / DAY) * DAY
    first = day + start_hour * 3600.0
    if first <= after:
        first += DAY
    return [first + n * DAY for n in range(int(max(0.0, until - first) // DAY) + 1) if first + n * DAY <= until]


class SimConfig(BaseModel):
    """What /_sim/config reads and changes."""

    action_seconds: float = Field(default=0.5, ge=0, description="How long an action runs; 0 = finishes at once.")
    max_servers: int = Field(default=100, ge=0, description="Servers per project.")
    max_ssh_keys: int = Field(default=100, ge=0)
    max_images: int = Field(default=50, ge=0, description="Snapshots and backups per project.")
    max_floating_ips: int = Field(default=20, ge=0)
    max_primary_ips: int = Field(default=50, ge=0)
    max_networks: int = Field(default=50, ge=0)
    max_firewalls: int = Field(default=50, ge=0)
    max_load_balancers: int = Field(default=20, ge=0)
    max_volumes: int = Field(default=50, ge=0)
    rate_limit: int = Field(default=3600, ge=1, description="Requests a project may make in a burst.")
    rate_refill_per_second: float = Field(default=1.0, gt=0)


# A failure the fault injector planned for the action the current request starts.
PLANNED_ACTION_ERROR: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "planned_action_error", default=None
)


def iso8601(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="seconds")


Effect = Callable[[], None]


@dataclass
class Action:
    id: int
    command: str
    project: str
    started: float
    ends: float
    resources: list[tuple[int, str]]
    on_success: Effect | None = None
    on_error: Effect | None = None
    error: dict[str, str] | None = None
    done: bool = False

    def status(self, now: float) -> str:
        if not self.done:
            return "running"
        return "error" if self.error else "success"

    def as_json(self, now: float) -> dict[str, Any]:
        if self.done:
            progress = 100
        else:
            total = max(self.ends - self.started, 1e-9)
            progress = min(99, int(100 * (now - self.started) / total))
        return {
            "id": self.id,
            "command": self.command,
            "status": self.status(now),
            "progress": progress,
            "started": iso8601(self.started),
            "finished": iso8601(self.ends) if self.done else None,
            "resources": [{"id": rid, "type": rtype} for rid, rtype in self.resources],
            "error": dict(self.error) if self.done and self.error else None,
        }


@dataclass
class SshKey:
    id: int
    name: str
    public_key: str
    fingerprint: str
    labels: dict[str, str]
    created: float

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "fingerprint": self.fingerprint,
            "public_key": self.public_key,
            "labels": dict(self.labels),
            "created": iso8601(self.created),
        }


@dataclass
class SnapshotImage:
    id: int
    type: str  # snapshot | backup
    description: str
    status: str
    created: float
    disk_size: float
    image_size: float | None
    created_from: tuple[int, str]
    bound_to: int | None
    os_flavor: str
    os_version: str | None
    architecture: str
    labels: dict[str, str]
    protection_delete: bool = False


@dataclass
class Server:
    id: int
    name: str
    project: str
    status: str
    server_type: catalog.ServerType
    datacenter: catalog.Datacenter
    image: catalog.Image | SnapshotImage | None
    created: float
    primary_disk_size: int
    labels: dict[str, str]
    ipv4: str | None
    ipv4_id: int | None
    ipv6: str | None  # the /64 network
    ipv6_id: int | None
    user_data: str | None = None
    ssh_keys: list[int] = field(default_factory=list)
    dns_ptr_v4: str | None = None
    dns_ptr_v6: dict[str, str] = field(default_factory=dict)
    protection_delete: bool = False
    protection_rebuild: bool = False
    cpu_levels: list[tuple[float, float | None]] = field(default_factory=list)
    """Set through the control API (``PUT /_sim/servers/{id}/cpu``): (from, CPU %) in time
    order; None returns to the wave. A level holds from its instant until the next one."""
    rescue_enabled: bool = False
    backup_window: str | None = None
    backups_since: float | None = None
    """While backups are enabled: when they were (the first automated backup is the first
    window start after it); the last window start a backup was taken at, after that."""
    iso: catalog.Iso | None = None
    locked: bool = False


@dataclass
class Project:
    name: str
    servers: dict[int, Server] = field(default_factory=dict)
    ssh_keys: dict[int, SshKey] = field(default_factory=dict)
    images: dict[int, SnapshotImage] = field(default_factory=dict)
    floating_ips: dict[int, FloatingIp] = field(default_factory=dict)
    firewalls: dict[int, Firewall] = field(default_factory=dict)
    networks: dict[int, Network] = field(default_factory=dict)
    load_balancers: dict[int, LoadBalancer] = field(default_factory=dict)
    primary_ips: dict[int, PrimaryIp] = field(default_factory=dict)
    volumes: dict[int, Volume] = field(default_factory=dict)
    placement_groups: dict[int, PlacementGroup] = field(default_factory=dict)


# Other resource families (their own modules) hook into servers: what a server's JSON shows
# of them, and what happens to them when a server is created or goes away.
ServerView = Callable[[Project, "Server", dict[str, Any]], None]
ServerHook = Callable[["Simulator", Project, "Server"], None]
SERVER_VIEWS: list[ServerView] = []
SERVER_CREATED: list[ServerHook] = []
SERVER_GONE: list[ServerHook] = []
# What a server's create request asks of another family (``volumes``, ``networks``,
# ``firewalls``, ``public_net.ipv4``/``ipv6``): checked before anything changes; the returned
# function applies it to the new server.
ServerOption = Callable[["Simulator", Project, "CreateServer", catalog.Datacenter], Callable[["Server"], None] | None]
SERVER_CREATE_OPTIONS: list[ServerOption] = []


class IpPool:
    """Public IPv4 addresses from two documentation ranges; IPv6 /64s from 2001:db8::/32."""

    V4_RANGES = ("203.0.113.0/24", "198.51.100.0/24")

    def __init__(self, v4_ranges: tuple[str, ...] = V4_RANGES, v6_base: str = "2001:db8::/32") -> None:
        self._free_v4 = [
            str(host) for net in v4_ranges for host in ipaddress.ip_network(net).hosts() if host.packed[-1] > 1
        ]
        self._used_v4: set[str] = set()
        self._next_v6 = 1
        self._free_v6: list[str] = []
        self._v6_base = ipaddress.ip_network(v6_base)

    def take_v4(self) -> str:
        if not self._free_v4:
            raise DomainError("no public IPv4 address is left in the pool")
        address = self._free_v4.pop(0)
        self._used_v4.add(address)
        return address

    def release_v4(self, address: str) -> None:
        if address in self._used_v4:
            self._used_v4.remove(address)
            self._free_v4.append(address)

    def take_v6(self) -> str:
        if self._free_v6:
            return self._free_v6.pop(0)
        network = self._v6_base
        subnet = ipaddress.IPv6Network((int(network.network_address) + (self._next_v6 << 64), 64))
        self._next_v6 += 1
        return str(subnet)

    def release_v6(self, network: str) -> None:
        self._free_v6.append(network)

    @property
    def used_v4(self) -> int:
        return len(self._used_v4)


_LABEL_NAME = re.compile(r"^([a-zA-Z0-9]([a-zA-Z0-9._-]{0,61}[a-zA-Z0-9])?)$")
_LABEL_VALUE = re.compile(r"^(|[a-zA-Z0-9]([a-zA-Z0-9._-]{0,61}[a-zA-Z0-9])?)$")
_LABEL_PREFIX = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")
_SERVER_NAME = re.compile(r"^[a-zA-Z0-9]([a-zA-Z0-9.-]{0,61}[a-zA-Z0-9])?$")


def check_labels(labels: dict[str, str] | None) -> dict[str, str]:
    for key, value in (labels or {}).items():
        prefix, slash, name = key.rpartition("/")
        if (slash and not _LABEL_PREFIX.match(prefix)) or not _LABEL_NAME.match(name):
            raise invalid_field("labels", f"label key {key!r} is not valid")
        if not _LABEL_VALUE.match(value):
            raise invalid_field("labels", f"label value {value!r} of {key!r} is not valid")
    return dict(labels or {})


def ssh_fingerprint(public_key: str) -> str:
    """Hetzner's fingerprint: the MD5 of the key blob as colon-separated hex pairs."""
    try:
        load_ssh_public_key(public_key.encode())
        blob = base64.b64decode(public_key.split()[1], validate=True)
    except (ValueError, IndexError, TypeError) as exc:
        raise invalid_field("public_key", "public_key is not a valid SSH public key") from exc
    digest = hashlib.md5(blob, usedforsecurity=False).hexdigest()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def _password() -> str:
    return secrets.token_urlsafe(15)


class Simulator:
    def __init__(self, config: SimConfig | None = None, clock: Clock | None = None) -> None:
        self.config = config or SimConfig()
        self.clock: Clock = clock or SystemClock()
        self.reset()

    def reset(self) -> None:
        self.projects: dict[str, Project] = {}
        self.actions: dict[int, Action] = {}
        self.pool = IpPool()
        # Floating IPs come from their own ranges: 192.0.2.0/24 and /64s of 2001:db8:f000::/36.
        self.floating_pool = IpPool(("192.0.2.0/24",), "2001:db8:f000::/36")
        self._ids: Iterator[int] = iter(range(100_000, 10**12))
        self._action_ids: Iterator[int] = iter(range(1_000_000, 10**12))

    # -- time -----------------------------------------------------------------------------
    def now(self) -> float:
        return self.clock.now()

    def tick(self) -> None:
        """Finish every action whose time is up, in the order they end."""
        now = self.now()
        due = sorted((a for a in self.actions.values() if not a.done and a.ends <= now), key=lambda a: (a.ends, a.id))
        for action in due:
            action.done = True
            effect = action.on_error if action.error else action.on_success
            if effect is not None:
                effect()
        for project in self.projects.values():
            for server in project.servers.values():
                server.locked = self._running_on(server.id)
            self._take_backups(project, now)

    # -- backups --------------------------------------------------------------------------
    def _take_backups(self, project: Project, now: float) -> None:
        """The automated daily backups every server with backups enabled is due (each at its
        window's start, as the clock says), keeping the newest :data:`BACKUP_SLOTS`."""
        for server in list(project.servers.values()):
            if server.backup_window is None or server.backups_since is None or server.status == "deleting":
                continue
            for moment in backup_times(server.backup_window, server.backups_since, now):
                self.add_backup_image(project, server, moment, description=None)
                server.backups_since = moment

    def add_backup_image(
        self, project: Project, server: Server, moment: float, description: str | None
    ) -> SnapshotImage:
        """An available backup image of ``server`` made at ``moment``; the oldest of its backups
        goes when all seven slots are taken."""
        source = server.image
        image = SnapshotImage(
            id=self.next_id(),
            type="backup",
            description=description or f"{server.name}-{iso8601(moment)}",
            status="available",
            created=moment,
            disk_size=server.primary_disk_size,
            image_size=round(min(server.primary_disk_size, 2.5), 2),
            created_from=(server.id, server.name),
            bound_to=server.id,
            os_flavor=source.os_flavor if source else "unknown",
            os_version=source.os_version if source else None,
            architecture=server.server_type.architecture,
            labels={},
        )
        project.images[image.id] = image
        self._rotate_backups(project, server.id)
        return image

    def _rotate_backups(self, project: Project, server_id: int) -> None:
        kept = sorted(self.backups_of(project, server_id), key=lambda i: (i.created, i.id))
        for oldest in kept[: max(0, len(kept) - BACKUP_SLOTS)]:
            project.images.pop(oldest.id, None)

    def backups_of(self, project: Project, server_id: int) -> list[SnapshotImage]:
        return [i for i in project.images.values() if i.type == "backup" and i.bound_to == server_id]

    def drop_backups(self, project: Project, server_id: int) -> None:
        """Backups go with their server, and when its backup option is disabled."""
        for image in self.backups_of(project, server_id):
            project.images.pop(image.id, None)

    def _running_on(self, server_id: int) -> bool:
        return self.running_on(server_id, "server")

    def running_on(self, resource_id: int, resource_type: str) -> bool:
        return any(not a.done and (resource_id, resource_type) in a.resources for a in self.actions.values())

    def project(self, name: str) -> Project:
        self.tick()
        return self.projects.setdefault(name, Project(name))

    def next_id(self) -> int:
        return next(self._ids)

    def start_action(
        self,
        project: Project,
        command: str,
        resources: list[tuple[int, str]],
        on_success: Effect | None = None,
        on_error: Effect | None = None,
    ) -> Action:
        now = self.now()
        action = Action(
            id=next(self._action_ids),
            command=command,
            project=project.name,
            started=now,
            ends=now + self.config.action_seconds,
            resources=resources,
            on_success=on_success,
            on_error=on_error,
            error=PLANNED_ACTION_ERROR.get(),
        )
        self.actions[action.id] = action
        for rid, rtype in resources:
            if rtype == "server" and rid in project.servers:
                project.servers[rid].locked = True
        if self.config.action_seconds == 0:
            self.tick()
        return action

    def action(self, project: Project, action_id: int) -> Action:
        action = self.actions.get(action_id)
        if action is None or action.project != project.name:
            raise NotFound(f"action {action_id} not found")
        return action

    def project_actions(self, project: Project) -> list[Action]:
        return [a for a in self.actions.values() if a.project == project.name]

    # -- SSH keys -------------------------------------------------------------------------
    def ssh_key(self, project: Project, key_id: int) -> SshKey:
        if key_id not in project.ssh_keys:
            raise NotFound(f"SSH key {key_id} not found")
        return project.ssh_keys[key_id]

    def find_ssh_key(self, project: Project, id_or_name: str | int) -> SshKey:
        for key in project.ssh_keys.values():
            if str(id_or_name) in (str(key.id), key.name):
                return key
        raise invalid_field("ssh_keys", f"SSH key {id_or_name!r} not found")

    def create_ssh_key(self, project: Project, name: str, public_key: str, labels: dict[str, str] | None) -> SshKey:
        labels = check_labels(labels)
        public_key = public_key.strip()
        fingerprint = ssh_fingerprint(public_key)
        if not name.strip():
            raise invalid_field("name", "name must not be empty")
        for key in project.ssh_keys.values():
            if key.name == name:
                raise AlreadyExists("SSH key with the same name already exists", details=_unique("name"))
            if key.fingerprint == fingerprint:
                raise AlreadyExists("SSH key with the same fingerprint already exists", details=_unique("public_key"))
        if len(project.ssh_keys) >= self.config.max_ssh_keys:
            raise LimitExceeded(f"SSH key limit ({self.config.max_ssh_keys}) exceeded")
        key = SshKey(self.next_id(), name, public_key, fingerprint, labels, self.now())
        project.ssh_keys[key.id] = key
        return key

    def update_ssh_key(self, project: Project, key_id: int, name: str | None, labels: dict[str, str] | None) -> SshKey:
        key = self.ssh_key(project, key_id)
        if name is not None and name != key.name:
            if any(other.name == name for other in project.ssh_keys.values()):
                raise AlreadyExists("SSH key with the same name already exists", details=_unique("name"))
            key.name = name
        if labels is not None:
            key.labels = check_labels(labels)
        return key

    def delete_ssh_key(self, project: Project, key_id: int) -> None:
        self.ssh_key(project, key_id)
        del project.ssh_keys[key_id]

    # -- images ---------------------------------------------------------------------------
    def find_image(
        self, project: Project, id_or_name: str | int, architecture: str
    ) -> catalog.Image | SnapshotImage | None:
        text = str(id_or_name)
        for image in catalog.SYSTEM_IMAGES:
            if text == str(image.id) or (text == image.name and image.architecture == architecture):
                return image
        for snapshot in project.images.values():
            if text == str(snapshot.id) and snapshot.status == "available":
                return snapshot
        return None

    def image(self, project: Project, image_id: int) -> catalog.Image | SnapshotImage:
        for image in catalog.SYSTEM_IMAGES:
            if image.id == image_id:
                return image
        if image_id in project.images:
            return project.images[image_id]
        raise NotFound(f"image {image_id} not found")

    def delete_image(self, project: Project, image_id: int) -> None:
        image = self.image(project, image_id)
        if not isinstance(image, SnapshotImage):
            raise InvalidInput("system images cannot be deleted")
        if image.protection_delete:
            raise Protected("image is protected against deletion")
        del project.images[image_id]

    # -- servers --------------------------------------------------------------------------
    def server(self, project: Project, server_id: int) -> Server:
        if server_id not in project.servers:
            raise NotFound(f"server {server_id} not found")
        return project.servers[server_id]

    def _unlocked(self, server: Server) -> Server:
        if self._running_on(server.id):
            raise Locked(f"server {server.id} is locked by a running action; retry when it has finished")
        return server

    def create_server(self, project: Project, request: CreateServer) -> tuple[Server, Action, list[Action], str | None]:
        name = request.name
        if not _SERVER_NAME.match(name):
            raise invalid_field("name", "name must be a valid hostname")
        server_type = catalog.server_type(request.server_type)
        if server_type is None:
            raise invalid_field("server_type", f"server type {request.server_type!r} not found")
        image = self.find_image(project, request.image, server_type.architecture)
        if image is None:
            raise invalid_field("image", f"image {request.image!r} not found")
        if image.architecture != server_type.architecture:
            raise invalid_field("image", f"image architecture {image.architecture} does not match the server type's")
        if image.disk_size > server_type.disk:
            raise invalid_field(
                "server_type",
                f"image disk size {image.disk_size} GB is larger than the server type's {server_type.disk} GB",
            )
        if request.location is not None and request.datacenter is not None:
            raise InvalidInput(
                "give location or datacenter, not both", details=field_errors({"location": ["conflict"]})
            )
        if request.datacenter is not None:
            dc = catalog.datacenter(request.datacenter)
            if dc is None:
                raise invalid_field("datacenter", f"datacenter {request.datacenter!r} not found")
        else:
            loc_name = request.location if request.location is not None else server_type.locations[0]
            loc = catalog.location(loc_name)
            if loc is None:
                raise invalid_field("location", f"location {request.location!r} not found")
            dc = catalog.datacenter_of(loc)
        if dc.location.name not in server_type.locations:
            raise invalid_field("server_type", f"server type {server_type.name} is not available in {dc.location.name}")
        if request.user_data is not None and len(request.user_data.encode()) > 32 * 1024:
            raise invalid_field("user_data", "user_data must be at most 32 KiB")
        ssh_keys = [self.find_ssh_key(project, ref).id for ref in request.ssh_keys or []]
        labels = check_labels(request.labels)
        if any(s.name == name for s in project.servers.values()):
            raise AlreadyExists(f"server name {name!r} is already used", details=_unique("name"))
        if len(project.servers) >= self.config.max_servers:
            raise LimitExceeded(f"server limit ({self.config.max_servers}) exceeded")
        public_net = request.public_net or PublicNetRequest()
        finishers = [f for option in SERVER_CREATE_OPTIONS if (f := option(self, project, request, dc)) is not None]
        ipv4 = self.pool.take_v4() if public_net.enable_ipv4 and public_net.ipv4 is None else None
        ipv6 = self.pool.take_v6() if public_net.enable_ipv6 and public_net.ipv6 is None else None
        server = Server(
            id=self.next_id(),
            name=name,
            project=project.name,
            status="initializing",
            server_type=server_type,
            datacenter=dc,
            image=image,
            created=self.now(),
            primary_disk_size=server_type.disk,
            labels=labels,
            ipv4=ipv4,
            ipv4_id=self.next_id() if ipv4 else None,
            ipv6=ipv6,
            ipv6_id=self.next_id() if ipv6 else None,
            user_data=request.user_data,
            ssh_keys=ssh_keys,
        )
        project.servers[server.id] = server
        for hook in SERVER_CREATED:
            hook(self, project, server)
        for finish in finishers:
            finish(server)

        def created() -> None:
            server.status = "off"

        action = self.start_action(project, "create_server", [(server.id, "server")], created, created)
        next_actions = []
        if request.start_after_create:

            def started() -> None:
                server.status = "running"

            next_actions.append(self.start_action(project, "start_server", [(server.id, "server")], started))
        return server, action, next_actions, None if ssh_keys else _password()

    def update_server(
        self, project: Project, server_id: int, name: str | None, labels: dict[str, str] | None
    ) -> Server:
        server = self.server(project, server_id)
        if name is not None and name != server.name:
            if not _SERVER_NAME.match(name):
                raise invalid_field("name", "name must be a valid hostname")
            if any(s.name == name for s in project.servers.values()):
                raise AlreadyExists(f"server name {name!r} is already used", details=_unique("name"))
            server.name = name
        if labels is not None:
            server.labels = check_labels(labels)
        return server

    def delete_server(self, project: Project, server_id: int) -> Action:
        server = self.server(project, server_id)
        if server.protection_delete:
            raise Protected(f"server {server_id} is protected against deletion")
        self._unlocked(server)
        server.status = "deleting"

        def deleted() -> None:
            project.servers.pop(server.id, None)
            self.drop_backups(project, server.id)
            for hook in SERVER_GONE:
                hook(self, project, server)
            if server.ipv4:
                self.pool.release_v4(server.ipv4)
            if server.ipv6:
                self.pool.release_v6(server.ipv6)

        return self.start_action(project, "delete_server", [(server.id, "server")], deleted)

    def server_action(
        self,
        project: Project,
        server_id: int,
        command: str,
        effect: Callable[[Server], None] | None = None,
        during: str | None = None,
    ) -> Action:
        """Start ``command`` on an unlocked server; ``effect`` applies when it succeeds."""
        server = self._unlocked(self.server(project, server_id))
        before = server.status
        if during is not None:
            server.status = during

        def succeeded() -> None:
            if effect is not None:
                effect(server)

        def failed() -> None:
            server.status = before

        return self.start_action(project, command, [(server.id, "server")], succeeded, failed)

    def change_type(self, project: Project, server_id: int, type_ref: str | int, upgrade_disk: bool) -> Action:
        server = self.server(project, server_id)
        new_type = catalog.server_type(type_ref)
        if new_type is None:
            raise invalid_field("server_type", f"server type {type_ref!r} not found")
        if new_type.architecture != server.server_type.architecture:
            raise invalid_field("server_type", "the new server type has another architecture")
        if server.datacenter.location.name not in new_type.locations:
            raise invalid_field("server_type", f"server type {new_type.name} is not available in this location")
        if new_type.disk < server.primary_disk_size:
            raise invalid_field(
                "server_type",
                f"the disk of {new_type.name} ({new_type.disk} GB) is smaller than the server's "
                f"({server.primary_disk_size} GB); a disk cannot shrink",
            )
        self._unlocked(server)
        if server.status != "off":
            raise ServerNotStopped("the server must be powered off to change its type")

        def changed(s: Server) -> None:
            s.server_type = new_type
            if upgrade_disk:
                s.primary_disk_size = new_type.disk
            s.status = "off"

        return self.server_action(project, server_id, "change_server_type", changed, during="migrating")

    def create_image(
        self, project: Project, server_id: int, kind: str, description: str | None, labels: dict[str, str] | None
    ) -> tuple[SnapshotImage, Action]:
        server = self._unlocked(self.server(project, server_id))
        labels = check_labels(labels)
        if len(project.images) >= self.config.max_images:
            raise LimitExceeded(f"image limit ({self.config.max_images}) exceeded")
        source = server.image
        image = SnapshotImage(
            id=self.next_id(),
            type=kind,
            description=description or f"{server.name}-{iso8601(self.now())}",
            status="creating",
            created=self.now(),
            disk_size=server.primary_disk_size,
            image_size=None,
            created_from=(server.id, server.name),
            bound_to=server.id if kind == "backup" else None,
            os_flavor=source.os_flavor if source else "unknown",
            os_version=source.os_version if source else None,
            architecture=server.server_type.architecture,
            labels=labels,
        )
        project.images[image.id] = image

        def ready() -> None:
            image.status = "available"
            image.image_size = round(min(image.disk_size, 2.5), 2)
            if kind == "backup":  # a manual backup takes one of the seven slots too
                self._rotate_backups(project, server.id)

        def failed() -> None:
            project.images.pop(image.id, None)

        action = self.start_action(project, "create_image", [(server.id, "server"), (image.id, "image")], ready, failed)
        return image, action

    # -- JSON -----------------------------------------------------------------------------
    def image_json(self, image: catalog.Image | SnapshotImage) -> dict[str, Any]:
        if isinstance(image, catalog.Image):
            return {
                "id": image.id,
                "type": "system",
                "status": "available",
                "name": image.name,
                "description": image.description,
                "image_size": None,
                "disk_size": image.disk_size,
                "created": catalog.CREATED,
                "created_from": None,
                "bound_to": None,
                "os_flavor": image.os_flavor,
                "os_version": image.os_version,
                "rapid_deploy": True,
                "protection": {"delete": False},
                "deprecated": None,
                "deleted": None,
                "labels": {},
                "architecture": image.architecture,
            }
        return {
            "id": image.id,
            "type": image.type,
            "status": image.status,
            "name": None,
            "description": image.description,
            "image_size": image.image_size,
            "disk_size": image.disk_size,
            "created": iso8601(image.created),
            "created_from": {"id": image.created_from[0], "name": image.created_from[1]},
            "bound_to": image.bound_to,
            "os_flavor": image.os_flavor,
            "os_version": image.os_version,
            "rapid_deploy": False,
            "protection": {"delete": image.protection_delete},
            "deprecated": None,
            "deleted": None,
            "labels": dict(image.labels),
            "architecture": image.architecture,
        }

    def server_json(self, server: Server) -> dict[str, Any]:
        ipv4 = None
        if server.ipv4:
            reverse = ".".join(reversed(server.ipv4.split(".")))
            ipv4 = {
                "id": server.ipv4_id,
                "ip": server.ipv4,
                "blocked": False,
                "dns_ptr": server.dns_ptr_v4 or f"static.{reverse}.clients.your-server.de",
            }
        ipv6 = None
        if server.ipv6:
            ipv6 = {
                "id": server.ipv6_id,
                "ip": server.ipv6,
                "blocked": False,
                "dns_ptr": [{"ip": ip, "dns_ptr": ptr} for ip, ptr in sorted(server.dns_ptr_v6.items())],
            }
        answer: dict[str, Any] = {
            "id": server.id,
            "name": server.name,
            "status": server.status,
            "created": iso8601(server.created),
            "public_net": {"ipv4": ipv4, "ipv6": ipv6, "floating_ips": [], "firewalls": []},
            "private_net": [],
            "server_type": catalog.server_type_json(server.server_type),
            "datacenter": catalog.datacenter_json(server.datacenter),
            "location": server.datacenter.location.as_json(),
            "image": self.image_json(server.image) if server.image is not None else None,
            "iso": catalog.iso_json(server.iso) if server.iso else None,
            "rescue_enabled": server.rescue_enabled,
            "locked": server.locked,
            "backup_window": server.backup_window,
            "outgoing_traffic": 0,
            "ingoing_traffic": 0,
            "included_traffic": 20 * catalog.TB if server.datacenter.location.name in catalog.EU else catalog.TB,
            "protection": {"delete": server.protection_delete, "rebuild": server.protection_rebuild},
            "labels": dict(server.labels),
            "volumes": [],
            "load_balancers": [],
            "primary_disk_size": server.primary_disk_size,
            "placement_group": None,
        }
        project = self.projects.get(server.project)
        if project is not None:
            for view in SERVER_VIEWS:
                view(project, server, answer)
        return answer

    def metrics(self, server: Server, kinds: list[str], start: float, end: float, step: int) -> dict[str, Any]:
        """Deterministic time series: a wave per server, flat zero while the server is off."""
        series: dict[str, list[tuple[str, float]]] = {
            "cpu": [("cpu", 100.0)],
            "disk": [
                ("disk.0.iops.read", 300.0),
                ("disk.0.iops.write", 200.0),
                ("disk.0.bandwidth.read", 4e6),
                ("disk.0.bandwidth.write", 2e6),
            ],
            "network": [
                ("network.0.pps.in", 500.0),
                ("network.0.pps.out", 400.0),
                ("network.0.bandwidth.in", 1e6),
                ("network.0.bandwidth.out", 8e5),
            ],
        }
        running = server.status == "running"
        points = [start + i * step for i in range(int((end - start) // step) + 1)]

        def set_cpu(moment: float) -> float | None:
            level = None
            for since, value in server.cpu_levels:
                if since > moment:
                    break
                level = value
            return level

        time_series: dict[str, Any] = {}
        for kind in kinds:
            for name, scale in series[kind]:
                values: list[list[float | str]] = []
                for moment in points:
                    level = 0.0
                    held = set_cpu(moment) if name == "cpu" else None
                    if running and held is not None:
                        level = held
                    elif running:
                        level = scale * (0.3 + 0.2 * math.sin(moment / 300.0 + server.id % 17))
                    values.append([moment, f"{level:.4f}"])
                time_series[name] = {"values": values}
        return {"metrics": {"start": iso8601(start), "end": iso8601(end), "step": step, "time_series": time_series}}


def _unique(field_name: str) -> dict[str, Any]:
    return field_errors({field_name: ["is already used"]})


# -- request bodies (pydantic, so invalid input is answered by the gateway's handler) ------


class PublicNetRequest(BaseModel):
    enable_ipv4: bool = True
    enable_ipv6: bool = True
    ipv4: int | None = None
    ipv6: int | None = None


class CreateServer(BaseModel):
    name: str
    server_type: str | int
    image: str | int
    location: str | int | None = None
    datacenter: str | int | None = None
    ssh_keys: list[str | int] | None = None
    user_data: str | None = None
    labels: dict[str, str] | None = None
    start_after_create: bool = True
    automount: bool | None = None
    public_net: PublicNetRequest | None = None
    volumes: list[int] | None = None
    networks: list[int] | None = None
    firewalls: list[dict[str, int]] | None = None
    placement_group: int | None = None
