"""Servers and the actions that change them, as plain records and rules.

A change to a server is an action (Hetzner's vocabulary: ``create_server``, ``start_server``
…) that the worker carries out upstream. While one runs the server is ``locked``: a second
one is refused until it finishes. Deleting honours the server's delete protection.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from argon2 import PasswordHasher, Type

from compute_service.domain import server_status as st
from compute_service.domain.placement_groups import PlacementGroup
from cpshared.errors import InvalidInput, PreconditionFailed

CREATE: Final = "create_server"
DELETE: Final = "delete_server"
POWER_ON: Final = "start_server"
POWER_OFF: Final = "stop_server"
REBOOT: Final = "reboot_server"
SHUTDOWN: Final = "shutdown_server"
RESET: Final = "reset_server"

# What each power action leaves the server as (a shutdown is ACPI's: "stopped" once upstream
# has finished it; a reset is a hard one, the server runs afterwards).
POWER_RESULT: Final[dict[str, str]] = {
    POWER_ON: st.RUNNING,
    POWER_OFF: st.STOPPED,
    REBOOT: st.RUNNING,
    SHUTDOWN: st.STOPPED,
    RESET: st.RUNNING,
}

MAX_USER_DATA: Final = 32 * 1024
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOSTNAME: Final = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*$")

# argon2-cffi's defaults (RFC 9106's second recommendation), as identity hashes passwords.
_ROOT_PASSWORDS: Final = PasswordHasher(type=Type.ID)

ACTION_RUNNING: Final = "running"
ACTION_SUCCESS: Final = "success"
ACTION_ERROR: Final = "error"


class Locked(PreconditionFailed):
    """Another action is running on the resource (Hetzner: 423 locked)."""

    code = "locked"


class Protected(PreconditionFailed):
    """The resource is protected against this change (Hetzner: 423 protected)."""

    code = "protected"


def check_server_name(name: str) -> str:
    if not HOSTNAME.match(name):
        raise InvalidInput(
            f"name {name!r} is not a valid hostname: letters, digits and '-', parts of 1 to 63 characters "
            "separated by '.', not starting or ending with '-'",
            details={"fields": [{"name": "name", "messages": ["invalid hostname"]}]},
        )
    return name


def check_user_data(user_data: str) -> str:
    if len(user_data.encode()) > MAX_USER_DATA:
        raise InvalidInput(f"user_data is larger than {MAX_USER_DATA} bytes; shorten it")
    return user_data


@dataclass
class Server:
    id: int
    user_id: int
    organization_id: int | None
    name: str
    status: str
    server_type_id: int
    datacenter_id: int
    image_id: int | None
    user_data: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    backup_enabled: bool = False
    locked: bool = False
    protection_delete: bool = False
    protection_rebuild: bool = False
    hetzner_id: int | None = None
    ipv4_address: str | None = None
    ipv6_address: str | None = None
    ipv6_network: str | None = None
    ssh_key_ids: list[int] = field(default_factory=list)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    deleted_at: datetime | None = None
    version: int = 1
    # Set while the owner's account is suspended, banned or erased (domain/suspension.py).
    suspended_at: datetime | None = None
    suspension_reason: str = ""
    # Read with the server for display: the catalog's names of its type, datacenter and image.
    server_type: str = ""
    datacenter: str = ""
    image: str = ""
    # Server actions (domain/server_actions.py): rescue system, disk size now (GB), type's architecture.
    rescue_enabled: bool = False
    disk_gb: int = 0
    server_type_architecture: str = ""
    # Settings actions (domain/server_settings.py): the ISO in its drive (upstream's description),
    # reverse DNS names by address, upstream's backup window, the root password's argon2id hash.
    iso: dict[str, Any] | None = None
    dns_ptrs: dict[str, str] = field(default_factory=dict)
    backup_window: str = ""
    root_password_hash: str | None = field(default=None, repr=False)
    # The placement group it is in (domain/placement_groups.py), read with it for display.
    placement_group_id: int | None = None
    placement_group: PlacementGroup | None = None

    def ensure_can_start(self, command: str) -> None:
        """Refuse ``command`` while another action runs or when the server cannot take it."""
        if self.deleted_at is not None or self.status in (st.DELETING, st.DELETED):
            raise PreconditionFailed(f"server {self.id} is being deleted")
        self.ensure_not_suspended()
        if self.locked:
            raise Locked(f"server {self.id} is locked: another action is running on it; retry when it has finished")
        if command == DELETE:
            if self.protection_delete:
                raise Protected(f"server {self.id} is protected against deletion; remove the protection first")
            return
        if self.status in (st.PROVISIONING, st.ERROR):
            raise PreconditionFailed(f"server {self.id} is {self.status}; it cannot be powered on, off or rebooted")

    def ensure_not_suspended(self) -> None:
        """Refuse every customer action while the owner's account is suspended (delete too, as
        Hetzner does for a locked project: nothing changes until staff activate the account)."""
        if self.suspended_at is not None:
            raise Locked(
                f"server {self.id} is locked: the account that owns it is {self.suspension_reason or 'suspended'}; "
                "contact support to have it activated"
            )

    def keep_root_password(self, password: str) -> None:
        """Keep only the argon2id hash of the root password upstream made (at creation or a reset)."""
        self.root_password_hash = _ROOT_PASSWORDS.hash(password)

    def has_root_password(self, password: str) -> bool:
        """Whether ``password`` is the root password the platform last handed out for it."""
        if not self.root_password_hash:
            return False
        try:
            return _ROOT_PASSWORDS.verify(self.root_password_hash, password)
        except Exception:  # argon2's VerificationError, InvalidHashError ...: not this password
            return False

    @property
    def shown_locked(self) -> bool:
        """Locked as customers see it: an action running, or the owner's account suspended."""
        return self.locked or self.suspended_at is not None


@dataclass
class Action:
    id: int
    command: str
    status: str
    server_id: int | None
    user_id: int | None
    organization_id: int | None
    progress: int = 0
    started: datetime | None = None
    finished: datetime | None = None
    error_code: str = ""
    error_message: str = ""
    upstream_action_id: int | None = None
    version: int = 1
    # What the worker needs to carry it out (never a secret).
    params: dict[str, Any] = field(default_factory=dict)
    # The image it is about (an image's change_protection; create_image: its server's too).
    image_id: int | None = None

    @property
    def resources(self) -> list[dict[str, object]]:
        found: list[dict[str, object]] = [{"id": self.server_id, "type": "server"}] if self.server_id else []
        if self.image_id:
            found.append({"id": self.image_id, "type": "image"})
        return found


class UpstreamFailure(Exception):
    """Upstream refused or failed an action for good (retrying will not help)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
