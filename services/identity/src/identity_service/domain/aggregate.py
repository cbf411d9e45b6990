"""What every identity aggregate shares: a version and the events it recorded about itself.

An aggregate changes only through its own methods; each checks the rule, changes the state,
and records what happened with :meth:`Aggregate._record`, which bumps the version (or, for the
event that announces a new aggregate, keeps the version it was created at). The unit of work
collects the recorded events of the aggregates its repositories saved when it commits
(:meth:`identity_service.service_layer.unit_of_work.IdentityUnitOfWork.collect_events`)."""

from __future__ import annotations

import itertools

from identity_service.domain.events import IdentityEvent, Recorded

_order = itertools.count(1)
"""One count for all aggregates: several aggregates change in one unit of work (erasing a user
removes memberships and revokes keys), and the outbox keeps the order they changed in."""


class Aggregate:
    """Mixed into a (non-frozen) dataclass that declares ``version`` and ``events``."""

    version: int
    events: list[Recorded]

    @property
    def aggregate_id(self) -> int | str:
        """The Kafka key and the envelope's aggregate id."""
        return self.id  # type: ignore[attr-defined, no-any-return]

    def pop_events(self) -> list[Recorded]:
        recorded, self.events = self.events, []
        return recorded

    def _record(self, event: IdentityEvent, *, bump: bool = True) -> None:
        if bump:
            self.version += 1
        self.events.append(Recorded(version=self.version, event=event, order=next(_order)))
