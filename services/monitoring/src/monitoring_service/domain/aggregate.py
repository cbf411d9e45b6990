"""What monitoring's aggregates share: they record what happened to them, as plain values, and
the unit of work turns those into the contract's events when it commits."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Recorded:
    event_type: str
    aggregate_id: int
    version: int
    fields: dict[str, Any]


@dataclass
class Aggregate:
    events: list[Recorded] = field(default_factory=list, init=False, repr=False, compare=False)

    def pop_events(self) -> list[Recorded]:
        recorded, self.events = self.events, []
        return recorded

    def _emit(self, event_type: str, aggregate_id: int, version: int, fields: dict[str, Any]) -> None:
        self.events.append(Recorded(event_type, aggregate_id, version, fields))
