"""What storage's aggregates share: they record what happened to them, as plain values, and the
unit of work turns those into the contract's events (cloudplatform.storage.v1) when it commits."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Recorded:
    """One event an aggregate recorded: the contract's event type (``volume.created`` …), the
    aggregate it is about, the aggregate version it carries and its payload's fields."""

    event_type: str
    aggregate_id: int
    version: int
    fields: dict[str, Any]


@dataclass
class Aggregate:
    """Keeps the events recorded and not yet collected by a unit of work."""

    events: list[Recorded] = field(default_factory=list, init=False, repr=False, compare=False)

    def pop_events(self) -> list[Recorded]:
        recorded, self.events = self.events, []
        return recorded

    def _emit(self, event_type: str, aggregate_id: int, version: int, fields: dict[str, Any]) -> None:
        self.events.append(Recorded(event_type, aggregate_id, version, fields))
