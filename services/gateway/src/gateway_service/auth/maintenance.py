"""Maintenance mode: while identity's ``maintenance_mode`` setting is on, customers' writes are
refused with ``503 maintenance`` and a ``Retry-After``, their reads keep working, and staff
(admin, support, billing) keep full access.

The setting is identity's (``PUT /v1/admin/settings/maintenance_mode``, a ``setting.changed``
event and an audit entry like every setting). The gateway reads it as itself, at most once per
``TTL`` seconds per replica, so turning it on or off takes effect within that time; while
identity cannot be read, the last value read stays (off before the first read), so an identity
outage never turns every write into a 503 by itself.

The check sits in :class:`gateway_service.auth.gate.Gate`, after authentication: a write is any
method but GET, HEAD and OPTIONS. Requests that need no principal (sign-in, sign-up, token
refresh) are not refused: a customer can still sign in to read.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from cpshared.errors import DomainError
from cpshared.logging import get_logger

log = get_logger(__name__)

SETTING = "maintenance_mode"
TTL = 2.0
RETRY_AFTER_SECONDS = 300
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class UnderMaintenance(DomainError):
    """503 ``maintenance``; the answer carries ``Retry-After``."""

    code = "maintenance"

    def __init__(self, message: str, retry_after: int = RETRY_AFTER_SECONDS) -> None:
        super().__init__(message)
        self.headers = {"Retry-After": str(retry_after)}


class MaintenanceSwitch:
    """Whether maintenance mode is on, read through ``read`` at most once per ``ttl`` seconds."""

    def __init__(
        self, read: Callable[[], Awaitable[bool]], *, ttl: float = TTL, now: Callable[[], float] = time.monotonic
    ) -> None:
        self._read, self._ttl, self._now = read, ttl, now
        self._value = False
        self._read_at: float | None = None

    async def on(self) -> bool:
        now = self._now()
        if self._read_at is None or now - self._read_at >= self._ttl:
            self._read_at = now
            try:
                self._value = await self._read()
            except DomainError as exc:  # identity unreachable: keep what was known
                log.warning("maintenance_mode_unread", error=exc.message)
        return self._value

    async def refuse_writes(self, method: str, staff: bool) -> None:
        """Raise :class:`UnderMaintenance` for a customer's write while maintenance mode is on."""
        if method in READ_METHODS or staff or not await self.on():
            return
        raise UnderMaintenance(
            "the platform is under maintenance: reads work, changes are refused until it ends; "
            f"retry in {RETRY_AFTER_SECONDS} s (the Retry-After header)"
        )
