"""Alert evaluation: one state per (rule, resource) over the resource's samples, in order.

A rule fires when its condition held for its whole ``duration_minutes``: the samples come one
per minute (the collector's step), so it fires on the ``duration_minutes``-th consecutive
sample that meets the condition — never before — and resolves on the first sample that no
longer meets it. A missing minute (a gap longer than one step) breaks the run: what held
before the gap is not known to have held through it. A sample at or before the last one seen
changes nothing, so a redelivered or replayed stream gives the same transitions. Plain Python.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

SAMPLE_STEP = timedelta(minutes=1)
"""The collector's step: one sample per server and minute."""

_COMPARE = {
    "gt": lambda value, threshold: value > threshold,
    "gte": lambda value, threshold: value >= threshold,
    "lt": lambda value, threshold: value < threshold,
    "lte": lambda value, threshold: value <= threshold,
    "eq": lambda value, threshold: value == threshold,
}
OPERATOR_SIGNS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<=", "eq": "="}


def alert_id(rule_id: int, resource_id: int, triggered_at: datetime) -> int:
    """The id of the alert of (rule, resource) triggered at ``triggered_at``: a function of the
    three (a positive 63-bit integer), so a replay names the same alerts."""
    digest = hashlib.sha256(f"alert\x1f{rule_id}\x1f{resource_id}\x1f{triggered_at.isoformat()}".encode()).digest()
    return int.from_bytes(digest[:8], "big") & 0x7FFF_FFFF_FFFF_FFFF or 1


@dataclass(frozen=True)
class Condition:
    """What an enabled rule asks of one metric of a resource, and whose rule it is."""

    rule_id: int
    metric: str
    operator: str
    threshold: Decimal
    duration_minutes: int
    user_id: int = 0
    organization_id: int = 0
    name: str = ""
    resource_type: str = "server"

    def holds(self, value: Decimal) -> bool:
        return bool(_COMPARE[self.operator](value, self.threshold))

    def describe(self, value: Decimal) -> str:
        sign = OPERATOR_SIGNS[self.operator]
        return f"{self.metric} {sign} {self.threshold} for {self.duration_minutes} min (now {value})"


@dataclass(frozen=True)
class WindowState:
    """Where a (rule, resource) stands: since when its condition has held without a break
    (None: it does not hold), the last sample seen, and since when its alert fires (None: it
    does not)."""

    since: datetime | None = None
    last_at: datetime | None = None
    triggered_at: datetime | None = None

    @property
    def firing(self) -> bool:
        return self.triggered_at is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            key: value.isoformat() if value else None
            for key, value in (("since", self.since), ("last_at", self.last_at), ("triggered_at", self.triggered_at))
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None) -> WindowState:
        if not raw:
            return cls()

        def at(key: str) -> datetime | None:
            return datetime.fromisoformat(raw[key]) if raw.get(key) else None

        return cls(since=at("since"), last_at=at("last_at"), triggered_at=at("triggered_at"))


@dataclass(frozen=True)
class Transition:
    """An alert's change: ``triggered`` or ``resolved`` at the sample's instant, with its value."""

    kind: str
    rule_id: int
    resource_id: int
    at: datetime
    value: Decimal
    message: str
    triggered_at: datetime

    @property
    def alert_id(self) -> int:
        return alert_id(self.rule_id, self.resource_id, self.triggered_at)


def observe(
    state: WindowState, condition: Condition, resource_id: int, at: datetime, value: Decimal | None
) -> tuple[WindowState, Transition | None]:
    """The state after the sample (``at``, ``value``) and the transition it makes, if any."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    if value is None or (state.last_at is not None and at <= state.last_at):
        # Not measured, or a sample seen already (a redelivery, a replay): nothing changes.
        return state, None
    contiguous = state.last_at is not None and at - state.last_at <= SAMPLE_STEP
    if not condition.holds(value):
        resolved = None
        if state.triggered_at is not None:
            message = f"resolved: {condition.describe(value)}"
            resolved = Transition("resolved", condition.rule_id, resource_id, at, value, message, state.triggered_at)
        return WindowState(since=None, last_at=at, triggered_at=None), resolved
    since = state.since if (state.since is not None and contiguous) else at
    held = at - since + SAMPLE_STEP
    after = replace(state, since=since, last_at=at)
    if not state.firing and held >= timedelta(minutes=condition.duration_minutes):
        message = f"triggered: {condition.describe(value)}"
        triggered = Transition("triggered", condition.rule_id, resource_id, at, value, message, at)
        return replace(after, triggered_at=at), triggered
    return after, None
