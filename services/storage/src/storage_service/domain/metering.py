"""Which clock hours of a volume's life are billable, and at which size and price.

Hetzner bills volumes by the hour up to a monthly cap: every started UTC clock hour of a
volume's life (``cpshared.metering``) is one ``storage_gb_hours`` usage of the
volume at the size in effect at the hour's end (for the last hour of a deleted volume: at the
deletion). A resize takes effect when upstream has grown the volume. Only a volume made upstream
is billed (from its request on); one whose creation failed never is.

Its price comes from billing's ``volume`` plan, per GB and month: a volume of ``size`` GB costs
``size x price_per_gb`` a month (the cap), and by the hour that divided by
:data:`HOURS_PER_MONTH`, rounded half up to the micro-euro. Each size is its own product
(``"20 GB"``), so a volume resized within a month is invoiced on a line per size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Final

from cpshared.metering import billed_instant, hours_due
from cpshared.timestamps import as_utc

HOURS_PER_MONTH: Final = Decimal(730)
"""The average month (8,760 hours a year / 12): the monthly price divided by it is the hourly."""
MICRO: Final = Decimal("0.000001")


@dataclass(frozen=True)
class SizePeriod:
    size_gb: int
    started_at: datetime


@dataclass(frozen=True)
class MeteredVolume:
    id: int
    user_id: int
    organization_id: int | None
    name: str
    location: str
    size_gb: int
    created_at: datetime
    deleted_at: datetime | None
    metered_until: datetime | None

    def hours_due(self, now: datetime, limit: int) -> list[datetime]:
        return hours_due(self.created_at, self.deleted_at, self.metered_until, now, limit)

    def billed_instant(self, hour_start: datetime) -> datetime:
        return billed_instant(hour_start, self.deleted_at)


def size_at(periods: Sequence[SizePeriod], instant: datetime, fallback: int) -> int:
    """The size in effect just before ``instant`` (a size that took effect exactly then prices
    the next hour); ``fallback`` without a recorded period."""
    chosen: SizePeriod | None = None
    for period in periods:
        if as_utc(period.started_at) < instant and (chosen is None or period.started_at >= chosen.started_at):
            chosen = period
    return chosen.size_gb if chosen is not None else fallback


def volume_prices(size_gb: int, price_per_gb_month: Decimal) -> tuple[Decimal, Decimal]:
    """(hourly price, monthly cap) of a volume of ``size_gb`` GB, gross, as the event states them."""
    monthly = (price_per_gb_month * size_gb).quantize(MICRO, rounding=ROUND_HALF_UP)
    hourly = (monthly / HOURS_PER_MONTH).quantize(MICRO, rounding=ROUND_HALF_UP)
    return hourly, monthly


def product(size_gb: int) -> str:
    return f"{size_gb} GB"


def snapshot_prices(size_gb: Decimal, price_per_gb_month: Decimal) -> tuple[Decimal, Decimal]:
    """(hourly price, monthly cap) of a snapshot of ``size_gb`` GB (two decimals), gross: billed
    per GB and month as a volume is, from billing's ``snapshot`` plan."""
    monthly = (price_per_gb_month * size_gb).quantize(MICRO, rounding=ROUND_HALF_UP)
    hourly = (monthly / HOURS_PER_MONTH).quantize(MICRO, rounding=ROUND_HALF_UP)
    return hourly, monthly


def snapshot_product(size_gb: Decimal) -> str:
    return f"{size_gb:.2f} GB"
