"""Which clock hours of a server's life are billable, and with which server type.

Hetzner bills every started hour in full, whatever the server's power state: a server lives
from ``created_at`` to ``deleted_at`` and each UTC clock hour it touches is one hour of
``compute_hours``, the first and the last partial one included. The hour is priced by the
server type in effect at its end (for the last hour of a deleted server: at the deletion).
Only a server that was made upstream is billed: its hours are recorded once the worker has
created it (so a creation deferred by an upstream outage is billed from the request, like
Hetzner), and a server whose creation failed is never billed.

Backups are billed like Hetzner's: every started hour of the server's life in which backups
were enabled (``server_backup_periods``) is one more hour, of resource type ``backup``, at the
period's percentage of the prices of the server type that prices the server's hour. The
percentage is billing's ``backup`` pricing plan's when backups were enabled (its one home).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_DOWN, Decimal
from typing import Final

from cpshared.timestamps import as_utc
from hetzner_conventions import billing_hours
from hetzner_conventions.billing_hours import billed_instant, hours_due, life_end

# Hetzner's hourly billing, kept once (hetzner_conventions.billing_hours); named here for compute's callers.
HOUR: Final = billing_hours.HOUR
EPOCH: Final = billing_hours.EPOCH
hour_floor = billing_hours.hour_floor
hour_index = billing_hours.hour_index
epoch_seconds = billing_hours.epoch_seconds
HOURLY_PRECISION: Final = Decimal("0.000001")  # server_types.price_hourly is DECIMAL(10,6)
MONTHLY_PRECISION: Final = Decimal("0.01")  # server_types.price_monthly is DECIMAL(10,2)


@dataclass(frozen=True)
class TypePeriod:
    server_type_id: int
    started_at: datetime
    ended_at: datetime | None


@dataclass(frozen=True)
class MeteredServer:
    id: int
    user_id: int
    organization_id: int | None
    name: str
    datacenter: str
    server_type_id: int
    created_at: datetime
    deleted_at: datetime | None
    metered_until: datetime | None

    def life_end(self, now: datetime) -> datetime:
        """End (exclusive) of the last hour billable by ``now`` (Hetzner's hourly billing)."""
        return life_end(self.created_at, self.deleted_at, now)

    def hours_due(self, now: datetime, limit: int) -> list[datetime]:
        """Starts of the next (at most ``limit``) hours to record, oldest first."""
        return hours_due(self.created_at, self.deleted_at, self.metered_until, now, limit)

    def billed_instant(self, hour_start: datetime) -> datetime:
        """The instant whose server type prices the hour: its end, or the deletion if earlier."""
        return billed_instant(hour_start, self.deleted_at)


def type_at(periods: Sequence[TypePeriod], instant: datetime, fallback: int) -> int:
    """The server type in effect just before ``instant`` (a type that took effect exactly at
    ``instant`` prices the next hour, not this one); ``fallback`` without a recorded period."""
    chosen: TypePeriod | None = None
    for period in periods:
        if as_utc(period.started_at) < instant and (chosen is None or period.started_at >= chosen.started_at):
            chosen = period
    return chosen.server_type_id if chosen is not None else fallback


@dataclass(frozen=True)
class BackupPeriod:
    started_at: datetime
    ended_at: datetime | None
    price_percent: Decimal
    """The share of the server's prices its backup hours cost (billing's plan when enabled)."""


def backup_in_hour(
    periods: Sequence[BackupPeriod], hour_start: datetime, billed_instant: datetime
) -> BackupPeriod | None:
    """The backup period that makes the hour starting at ``hour_start`` a backup hour (backups
    enabled at some moment of it: a started hour counts in full; the first such period prices
    it), or None; ``billed_instant`` is the hour's end, or the server's deletion when earlier (a
    period opened after the deletion does not count)."""
    start, end = as_utc(hour_start), as_utc(hour_start) + HOUR
    for period in periods:
        opened, closed = as_utc(period.started_at), period.ended_at
        if opened < end and opened <= billed_instant and (closed is None or as_utc(closed) > start):
            return period
    return None


def backup_prices(price_hourly: Decimal, price_monthly: Decimal, percent: Decimal) -> tuple[Decimal, Decimal]:
    """The hourly price and monthly cap of backups for a server type's prices: ``percent`` of
    each, at the catalog's precision (6 decimals hourly, cents monthly), rounded DOWN so that
    backups never cost more than the percentage."""
    share = percent / 100
    return (
        (price_hourly * share).quantize(HOURLY_PRECISION, rounding=ROUND_DOWN),
        (price_monthly * share).quantize(MONTHLY_PRECISION, rounding=ROUND_DOWN),
    )
