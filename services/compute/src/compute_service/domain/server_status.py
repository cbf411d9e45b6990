"""The platform's server statuses (the seed's vocabulary), and Hetzner's read back into them.

Inside, servers keep the seed's statuses; they travel in compute's contract as these strings.
Upstream answers (Hetzner's names) are read back with :func:`from_hetzner`. Showing a server
the Hetzner way is the gateway's (``gateway_service.server_status``).
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

# Hetzner's names (running, initializing, starting, stopping, off, deleting, migrating,
# rebuilding, unknown) read back, for upstream answers.
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


def from_hetzner(hetzner: str) -> str:
    """Upstream's status in the platform's words."""
    return FROM_HETZNER.get(hetzner, ERROR)
