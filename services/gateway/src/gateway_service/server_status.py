"""The platform's server statuses as Hetzner names them: the one place where the gateway maps
them, for every server it shows the Hetzner way (``/v1/servers``) and for the ``status`` filter.

The platform's statuses are the strings of compute's contract (``Server.status``: the seed's
vocabulary, compute_service.domain.server_status); the gateway never imports compute.
"""

from __future__ import annotations

from typing import Final

# The seed's statuses as Hetzner names them (Hetzner: running, initializing, starting,
# stopping, off, deleting, migrating, rebuilding, unknown).
HETZNER_STATUS: Final[dict[str, str]] = {
    "provisioning": "initializing",
    "running": "running",
    "stopped": "off",
    "paused": "off",
    "rebuilding": "rebuilding",
    "migrating": "migrating",
    "deleting": "deleting",
    "deleted": "deleting",
    "error": "unknown",
}


def hetzner_status(status: str) -> str:
    """A platform status as Hetzner names it (``stopped`` → ``off``)."""
    return HETZNER_STATUS.get(status, "unknown")


def platform_statuses(hetzner: str) -> tuple[str, ...]:
    """The platform statuses shown as Hetzner's ``hetzner`` (to filter by a Hetzner status)."""
    return tuple(status for status, name in HETZNER_STATUS.items() if name == hetzner)
