"""The platform's server statuses and their Hetzner names: kept in cpshared.server_status (the
one place), shared with the gateway, which shows servers the Hetzner way."""

from __future__ import annotations

from cpshared.server_status import (
    DELETED,
    DELETING,
    ERROR,
    FROM_HETZNER,
    HETZNER_STATUS,
    MIGRATING,
    PAUSED,
    PROVISIONING,
    REBUILDING,
    RUNNING,
    STATUSES,
    STOPPED,
    from_hetzner,
    hetzner_status,
    platform_statuses,
)

__all__ = [
    "DELETED",
    "DELETING",
    "ERROR",
    "FROM_HETZNER",
    "HETZNER_STATUS",
    "MIGRATING",
    "PAUSED",
    "PROVISIONING",
    "REBUILDING",
    "RUNNING",
    "STATUSES",
    "STOPPED",
    "from_hetzner",
    "hetzner_status",
    "platform_statuses",
]
