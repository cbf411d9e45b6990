"""What an account's suspension means for its servers.

When identity suspends or bans an account, every live server the user owns itself (not its
organizations': those belong to the organization, and are suspended with it, on
``organization.suspended``) is suspended: powered off and locked
against every customer action, delete included — Hetzner, too, refuses everything on a
locked project, and deleting would let a customer with an unpaid bill dodge it. When the
account is erased its servers are deleted (their protection lifted), so nothing keeps
billing. Activating the account lifts the suspension; servers stay off until their owner
powers them on.
"""

from __future__ import annotations

from typing import Final

from compute_service.domain import server_status as st
from compute_service.domain import servers  # servers imports this module: names read at call time

SUSPENDED: Final = "suspended"
BANNED: Final = "banned"
ERASED: Final = "erased"

_POWERED: Final = frozenset({st.RUNNING, st.PAUSED})
_GONE: Final = frozenset({st.DELETING, st.DELETED})


def enforcing_command(server: servers.Server) -> str | None:
    """The action that brings a suspended server where its suspension wants it (off, or gone
    when the account was erased); None when it is there, or busy with another action (the
    worker's suspension sweep comes back to it)."""
    if server.suspended_at is None or server.locked or server.deleted_at is not None or server.status in _GONE:
        return None
    if server.suspension_reason == ERASED:
        return servers.DELETE
    return servers.POWER_OFF if server.status in _POWERED else None
