"""The one place where the platform's server and action vocabulary meets Hetzner's.

Inside, servers keep the seed's statuses; outside (the gateway's Hetzner-compatible API)
they carry Hetzner's names. Use :func:`hetzner_status` for every server shown the Hetzner way.
"""

from __future__ import annotations

from typing import Final

PROVISIONING: Final = "provisioning"
RUNNING: Final = "running"
STOPPED: Final = "stopped"
PAUSED: Final = "paused"
REBUILDING: Final = "rebuilding"
MIGRATING: Final = "migrating"
DELETING: Final = "deleting"
DELETED: Final = "deleted"
ERROR: Final = "error"

STATUSES: Final = (PROVISIONING, RUNNING, STOPPED, PAUSED, REBUILDING, MIGRATING, DELETING, DELETED, ERROR)

# The seed's statuses as Hetzner names them (Hetzner: running, initializing, starting,
# stopping, off, deleting, migrating, rebuilding, unknown).
HETZNER_STATUS: Final[dict[str, str]] = {
    PROVISIONING: "initializing",
    RUNNING: "running",
    STOPPED: "off",
    PAUSED: "off",
    REBUILDING: "rebuilding",
    MIGRATING: "migrating",
    DELETING: "deleting",
    DELETED: "deleting",
    ERROR: "unknown",
}

# Hetzner's names read back (upstream answers, filters in the public API).
FROM_HETZNER: Final[dict[str, str]] = {
    "initializing": PROVISIONING,
    "starting": RUNNING,
    "running": RUNNING,
    "stopping": STOPPED,
    "off": STOPPED,
    "deleting": DELETING,
    "migrating": MIGRATING,
    "rebuilding": REBUILDING,
    "unknown": ERROR,
}


def hetzner_status(status: str) -> str:
    """A platform status as Hetzner names it (``stopped`` → ``off``)."""
    return HETZNER_STATUS.get(status, "unknown")


def platform_statuses(hetzner: str) -> tuple[str, ...]:
    """The platform statuses shown as Hetzner's ``hetzner`` (to filter by a Hetzner status)."""
    return tuple(status for status, name in HETZNER_STATUS.items() if name == hetzner)


def from_hetzner(hetzner: str) -> str:
    """Upstream's status in the platform's words."""
    return FROM_HETZNER.get(hetzner, ERROR)
