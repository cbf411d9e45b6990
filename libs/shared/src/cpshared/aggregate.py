"""What every service's aggregates share: they record what happened to them as plain values, and
the service's unit of work turns those into the contract's events when it commits.

An aggregate method checks its rule, changes state, bumps its version and ``_emit``\\ s; the unit
of work collects :meth:`Aggregate.pop_events` of the aggregates it wrote (:func:`pending_events`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cpshared.events.catalog import REGISTRY
from cpshared.events.envelope import PendingEvent, new_event


@dataclass(frozen=True)
class Recorded:
    """One event an aggregate recorded: the contract's event type (``server.created`` …), the
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


def pending_events(aggregate: Aggregate, producer: str) -> list[PendingEvent]:
    """The events ``aggregate`` recorded (and forgets now), as ``producer``'s outbox events."""
    pending = []
    for recorded in aggregate.pop_events():
        spec = REGISTRY.spec(recorded.event_type)
        pending.append(
            new_event(
                spec,
                producer=producer,
                aggregate_id=recorded.aggregate_id,
                aggregate_version=recorded.version,
                payload=spec.message(**recorded.fields),
            )
        )
    return pending
