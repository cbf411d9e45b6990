"""Support's follower of its own stream and compute's: the events a person must hear of become
notifications in their in-app inbox (domain/notifications.py says which and to whom); compute's
``server.created`` and ``server.deleted`` keep where customers have servers
(``customer_resources``), so a maintenance window reaches exactly those it affects.

Run by the generic consumer as the process ``support-consumer`` (consumer group "support"):
``python -m cpshared.events.consumer_main support_service.entrypoints.notification_projection:NotificationProjection``.
Each event is applied in the transaction of its inbox row (cpshared.events.projection), so a
redelivered event finds its inbox row and notifies nobody twice (and a notification's id is a
function of the event and the person besides).

It is a reaction, not a rebuildable projection (a notification's ``read_at`` is the user's, and a
replay must not notify again), so it declares no tables: ``cloudctl replay`` has nothing to do
for it (``customer_resources`` is rebuilt by resetting the consumer group's offsets on
compute.events, the notifications being written once by their ids).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import ClassVar

from google.protobuf.json_format import MessageToDict
from sqlalchemy.orm import Session

from cloudplatform.compute.v1 import events_pb2 as compute_pb
from cloudplatform.support.v1 import events_pb2 as support_pb
from cpshared.events.envelope import ReceivedEvent
from cpshared.events.projection import ApplyContext, Projection, handles
from cpshared.topics import COMPUTE_EVENTS, SUPPORT_EVENTS, Topic
from support_service.adapters.customer_resource_repository import CustomerResourceRepository
from support_service.adapters.delivery_repository import DeliveryRepository, PreferenceRepository
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


def _outlets(session: Session) -> notifications.Outlets:
    return notifications.Outlets(
        NotificationRepository(session), DeliveryRepository(session), PreferenceRepository(session)
    )


class NotificationProjection(Projection):
    name = "support"
    topics: ClassVar[tuple[Topic, ...]] = (SUPPORT_EVENTS, COMPUTE_EVENTS)
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
                _outlets(session),
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
                _outlets(session),
            )

    @handles("maintenance.scheduled", "maintenance.started", "maintenance.completed")
    def maintenance(self, ctx: ApplyContext, event: ReceivedEvent) -> None:
        payload = event.payload
        assert isinstance(payload, support_pb.MaintenanceWindowChanged)
        data = MessageToDict(payload, preserving_proto_field_name=True)
        shown = {
            "maintenance_window_id": payload.maintenance_window_id,
            "title": payload.title,
            "type": payload.type,
            "start_time": data.get("start_time", ""),
            "end_time": data.get("end_time", ""),
            "affected_services": list(payload.affected_services),
            "affected_datacenters": list(payload.affected_datacenters),
        }
        with _session(ctx) as session:
            notifications.notify_maintenance(
                event.event_id,
                event.event_type,
                shown,
                list(payload.affected_datacenters),
                CustomerResourceRepository(session),
                _outlets(session),
            )

    @handles("server.created")
    def server_created(self, ctx: ApplyContext, event: ReceivedEvent) -> None:
        payload = event.payload
        assert isinstance(payload, compute_pb.ServerCreated)
        with _session(ctx) as session:
            notifications.record_resource(
                CustomerResourceRepository(session),
                "server",
                payload.server_id,
                payload.user_id,
                payload.organization_id or None,
                payload.datacenter,
            )

    @handles("server.deleted")
    def server_deleted(self, ctx: ApplyContext, event: ReceivedEvent) -> None:
        payload = event.payload
        assert isinstance(payload, compute_pb.ServerDeleted)
        with _session(ctx) as session:
            notifications.forget_resource(CustomerResourceRepository(session), "server", payload.server_id)
