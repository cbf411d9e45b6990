"""The server actions with parameters (rebuild, change type, rescue, create image) and their rules.

Hetzner's rules for a type change: the server must be off; the new type must have the same
architecture and be offered where the server is; with ``upgrade_disk`` false the disk keeps
its size (so a later downgrade is possible), and a type whose disk is smaller than the
server's disk now is refused (a disk never shrinks).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Final

from compute_service.domain import server_status as st
from compute_service.domain.servers import Protected, Server
from cpshared.errors import InvalidInput, PreconditionFailed

REBUILD: Final = "rebuild_server"
CHANGE_TYPE: Final = "change_server_type"
ENABLE_RESCUE: Final = "enable_rescue"
DISABLE_RESCUE: Final = "disable_rescue"
CREATE_IMAGE: Final = "create_image"
CHANGE_IMAGE_PROTECTION: Final = "change_protection"  # of an image: answered finished, no worker

COMMANDS: Final = frozenset({REBUILD, CHANGE_TYPE, ENABLE_RESCUE, DISABLE_RESCUE, CREATE_IMAGE})
RESCUE_TYPES: Final = ("linux64",)
IMAGE_TYPES: Final = ("snapshot", "backup")


class ServerNotStopped(PreconditionFailed):
    """The server must be powered off for this (Hetzner: 422 server_not_stopped)."""

    code = "server_not_stopped"


def field_error(name: str, message: str) -> InvalidInput:
    return InvalidInput(message, details={"fields": [{"name": name, "messages": [message]}]})


def ensure_can_rebuild(server: Server) -> None:
    if server.protection_rebuild:
        raise Protected(f"server {server.id} is protected against rebuilding; remove the protection first")


def check_type_change(
    server: Server, *, code: str, architecture: str, disk_gb: int, available: bool, datacenters: list[str]
) -> None:
    """Refuse a change to the type described (``code`` ...) unless Hetzner's rules allow it."""
    if server.status != st.STOPPED:
        raise ServerNotStopped(f"server {server.id} is {server.status}; power it off before changing its type")
    if not available or server.datacenter not in datacenters:
        raise field_error("server_type", f"server type {code} is not offered in {server.datacenter}")
    current = server.server_type_architecture
    if current and architecture != current:
        raise field_error("server_type", f"server type {code} is {architecture}; the server is {current}")
    if disk_gb < server.disk_gb:
        raise field_error(
            "server_type",
            f"the disk of {code} ({disk_gb} GB) is smaller than the server's ({server.disk_gb} GB); "
            "a disk never shrinks: choose a type with a disk of at least that size",
        )


@dataclass
class SnapshotImage:
    """A tenant's image made from one of its servers (seed ``images`` row, type snapshot|backup)."""

    id: int
    user_id: int
    organization_id: int | None
    type: str
    description: str
    status: str
    architecture: str
    server_id: int | None
    server_name: str = ""
    os_flavor: str = ""
    os_version: str = ""
    disk_size: int = 0
    size_gb: Decimal | None = None
    hetzner_id: int | None = None
    labels: dict[str, str] = field(default_factory=dict)
    created_at: datetime | None = None
    protection_delete: bool = False
    # The platform's own name of the row (Hetzner shows snapshots without a name).
    name: str = ""

    def ensure_can_delete(self) -> None:
        if self.protection_delete:
            raise Protected(f"image {self.id} is protected against deletion; remove the protection first")
        if self.status == "creating":
            raise PreconditionFailed(f"image {self.id} is still being created; delete it when it is available")
