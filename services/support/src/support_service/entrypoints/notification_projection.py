"""Support's follower of its own stream: the events a person must hear of become notifications
in their in-app inbox (domain/notifications.py says which and to whom).

Run by the generic consumer as the process ``support-consumer`` (consumer group "support"):
``python -m cpshared.events.consumer_main support_service.entrypoints.notification_projection:NotificationProjection``.
Each event is applied in the transaction of its inbox row (cpshared.events.projection), so a
redelivered event finds its inbox row and notifies nobody twice (and a notification's id is a
function of the event and the person besides).

It is a reaction, not a rebuildable projection (a notification's ``read_at`` is the user's), so
it declares no tables: ``cloudctl replay`` has nothing to do for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import ClassVar

from sqlalchemy.orm import Session

from cloudplatform.support.v1 import events_pb2 as support_pb
from cpshared.events.envelope import ReceivedEvent
from cpshared.events.projection import ApplyContext, Projection, handles
from cpshared.topics import SUPPORT_EVENTS, Topic
from support_service.adapters.notification_repository import NotificationRepository
from support_service.adapters.ticket_repository import TicketRepository
from support_service.service_layer import notifications


@contextmanager
def _session(ctx: ApplyContext) -> Iterator[Session]:
    """A session on the projection's transaction (it neither commits nor rolls back: the runner does)."""
    ctx.flush()
    session = Session(bind=ctx.conn, join_transaction_mode="rollback_only")
    try:
        yield session
        session.flush()
    finally:
        session.close()


class NotificationProjection(Projection):
    name = "support"
    topics: ClassVar[tuple[Topic, ...]] = (SUPPORT_EVENTS,)
    tables = ()

    @handles("ticket.replied")
    def replied(self, ctx: ApplyContext, event: ReceivedEvent) -> None:
        payload = event.payload
        assert isinstance(payload, support_pb.TicketReplied)
        with _session(ctx) as session:
            notifications.notify_reply(
                event.event_id,
                payload.ticket_id,
                payload.message_id,
                payload.from_staff,
                TicketRepository(session),
                NotificationRepository(session),
            )

    @handles("ticket.status_changed")
    def status_changed(self, ctx: ApplyContext, event: ReceivedEvent) -> None:
        payload = event.payload
        assert isinstance(payload, support_pb.TicketStatusChanged)
        with _session(ctx) as session:
            notifications.notify_status(
                event.event_id,
                payload.ticket_id,
                payload.status,
                TicketRepository(session),
                NotificationRepository(session),
            )
