"""Retention of stored metrics by day partitions: which days to keep, which to make ahead."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta


@dataclass(frozen=True)
class DayPartition:
    """A day partition of server_metrics: rows before the end of ``day`` (and after the previous one)."""

    day: date

    @property
    def name(self) -> str:
        return f"p{self.day:%Y%m%d}"

    @property
    def bound(self) -> datetime:
        """Its exclusive upper bound: the next midnight (UTC, naive as the column stores it)."""
        return datetime.combine(self.day + timedelta(days=1), time())

    @classmethod
    def named(cls, name: str) -> DayPartition | None:
        if len(name) != 9 or not name.startswith("p") or not name[1:].isdigit():
            return None
        try:
            return cls(datetime.strptime(name[1:], "%Y%m%d").date())
        except ValueError:
            return None


@dataclass(frozen=True)
class RetentionPlan:
    """What a retention run does at ``now``: keep every sample from ``cutoff`` on; drop the day
    partitions that end at or before it; have day partitions through ``today + ahead``."""

    now: datetime
    keep_days: int
    ahead_days: int

    @property
    def cutoff(self) -> datetime:
        return (self.now - timedelta(days=self.keep_days)).replace(tzinfo=None)

    def to_drop(self, existing: list[DayPartition]) -> list[DayPartition]:
        return [p for p in existing if p.bound <= self.cutoff]

    def to_create(self, existing: list[DayPartition]) -> list[DayPartition]:
        """The days after the last existing partition through today + ahead. A partition holds
        the rows before its bound, so after a long pause (the last partition older than the
        cutoff) the first new one is the cutoff's day, which the next day's run drops."""
        today = self.now.date()
        cutoff_day = self.cutoff.date()
        last = max((p.day for p in existing), default=None)
        if last is None:
            first = today
        elif last < cutoff_day:
            first = cutoff_day
        else:
            first = last + timedelta(days=1)
        through = today + timedelta(days=self.ahead_days)
        days = (through - first).days + 1
        return [DayPartition(first + timedelta(days=n)) for n in range(max(days, 0))]
