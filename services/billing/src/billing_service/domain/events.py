"""How a billing aggregate records what happened to it.

An aggregate changes its own state and records the event that says so (:meth:`Aggregate.record`);
it never writes the outbox. The unit of work collects the recorded events of every aggregate
its repositories saw (:meth:`Aggregate.collect_events`) when it commits, and writes them to the
outbox in the same transaction as the change. An event's payload is built when it is collected:
a new invoice or credit gets its id only when the repository stores it, and its event carries
that id.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

from google.protobuf.message import Message

from cpshared.events.registry import EventSpec


@dataclass(frozen=True)
class DomainEvent:
    """One event of one aggregate: ``spec`` (type and topic), the aggregate's key and version."""

    spec: EventSpec
    aggregate_id: int | str
    version: int
    payload: Message
    sequence: int = 0
    """When it was recorded, across aggregates: the unit of work writes events in this order."""


_sequence = itertools.count(1)


@dataclass(frozen=True)
class _Recorded:
    spec: EventSpec
    version: int
    payload: Callable[[], Message]
    aggregate_id: int | str | None
    sequence: int


class Aggregate:
    """Mixin of billing's aggregates: a list of recorded, not yet collected events."""

    id: int

    def event_key(self) -> int | str:
        """The aggregate id its events carry (the Kafka message key): its id."""
        return self.id

    def record(
        self,
        spec: EventSpec,
        version: int,
        payload: Callable[[], Message],
        *,
        aggregate_id: int | str | None = None,
    ) -> None:
        """Record ``spec`` at ``version``; ``payload`` is built when the event is collected.
        ``aggregate_id`` when the event is keyed by something else than this aggregate."""
        self.__dict__.setdefault("_recorded", []).append(
            _Recorded(spec, version, payload, aggregate_id, next(_sequence))
        )

    def collect_events(self) -> list[DomainEvent]:
        """The events recorded since the last collection, oldest first (and forgets them)."""
        recorded: list[_Recorded] = self.__dict__.pop("_recorded", [])
        return [
            DomainEvent(
                r.spec,
                r.aggregate_id if r.aggregate_id is not None else self.event_key(),
                r.version,
                r.payload(),
                r.sequence,
            )
            for r in recorded
        ]
