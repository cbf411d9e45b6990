"""Support's follower of its own stream, compute's, identity's, billing's and monitoring's: the
events a person must hear of become notifications in their in-app inbox and pending mail
deliveries, as each user's preferences say (domain/notifications.py says which and to whom);
monitoring's alerts become a delivery through their rule's channels
(domain/monitoring_notices.py: inbox, email addresses, signed webhooks); identity's suspensions
and reactivations (billing's dunning or staff) reach the account's contacts; compute's
``server.created`` and ``server.deleted`` keep where customers have servers
(``customer_resources``), so a maintenance window reaches exactly those it affects; identity's
organization events keep organizations' members (``organization_members``), so an invoice
reaches an organization's owners and billing members; sign-ins keep the addresses a user signed
in from (``known_sign_in_addresses``, hashed).

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

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC
from typing import Any, ClassVar

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.json_format import MessageToDict
from sqlalchemy.orm import Session

from cloudplatform.billing.v1 import events_pb2 as billing_pb
from cloudplatform.compute.v1 import events_pb2 as compute_pb
from cloudplatform.identity.v1 import events_pb2 as identity_pb
from cloudplatform.support.v1 import events_pb2 as support_pb
from cpshared.events.envelope import ReceivedEvent
from cpshared.events.outbox import write_events_once
from cpshared.events.projection import ApplyContext, Projection, handles
from cpshared.topics import (
    BILLING_EVENTS,
    COMPUTE_EVENTS,
    IDENTITY_EVENTS,
    MONITORING_EVENTS,
    SUPPORT_EVENTS,
    Topic,
)
from support_service.adapters.audience_repository import AudienceRepository
from support_service.adapters.customer_resource_repository import CustomerResourceRepository
from support_service.adapters.delivery_repository import DeliveryRepository, PreferenceRepository
from support_service.adapters.notification_repository import NotificationRepository
from support_service.adapters.ticket_repository import TicketRepository
from support_service.domain import monitoring_notices as monitoring
from support_service.domain import notifications as rules
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
    connection = session.connection()
    return notifications.Outlets(
        NotificationRepository(session),
        DeliveryRepository(session),
        PreferenceRepository(session),
        lambda events: write_events_once(connection, events),
    )


class NotificationProjection(Projection):
    name = "support"
    topics: ClassVar[tuple[Topic, ...]] = (
        SUPPORT_EVENTS,
        COMPUTE_EVENTS,
        IDENTITY_EVENTS,
        BILLING_EVENTS,
        MONITORING_EVENTS,
    )
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

    @handles("server.status_changed")
    def server_status(self, ctx: ApplyContext, event: ReceivedEvent) -> None:
        payload = event.payload
        assert isinstance(payload, compute_pb.ServerStatusChanged)
        if payload.status != "error":
            return
        with _session(ctx) as session:
            notifications.notify_server_error(
                event.event_id,
                payload.server_id,
                payload.user_id,
                payload.organization_id,
                payload.old_status,
                payload.status,
                payload.error_code,
                AudienceRepository(session),
                _outlets(session),
            )

    # -- identity: organizations' members, accounts, sign-ins ------------------------------
    @handles("organization.created")
    def organization_created(self, ctx: ApplyContext, event: ReceivedEvent) -> None:
        payload = event.payload
        assert isinstance(payload, identity_pb.OrganizationCreated)
        with _session(ctx) as session:
            notifications.record_member(
                AudienceRepository(session), payload.organization_id, payload.owner_user_id, "owner"
            )

    @handles("organization.member_added")
    def member_added(self, ctx: ApplyContext, event: ReceivedEvent) -> None:
        payload = event.payload
        assert isinstance(payload, identity_pb.OrganizationMemberAdded)
        with _session(ctx) as session:
            notifications.record_member(
                AudienceRepository(session), payload.organization_id, payload.user_id, payload.role
            )

    @handles("organization.member_role_changed")
    def member_role_changed(self, ctx: ApplyContext, event: ReceivedEvent) -> None:
        payload = event.payload
        assert isinstance(payload, identity_pb.OrganizationMemberRoleChanged)
        with _session(ctx) as session:
            notifications.record_member(
                AudienceRepository(session), payload.organization_id, payload.user_id, payload.new_role
            )

    @handles("organization.member_removed")
    def member_removed(self, ctx: ApplyContext, event: ReceivedEvent) -> None:
        payload = event.payload
        assert isinstance(payload, identity_pb.OrganizationMemberRemoved)
        with _session(ctx) as session:
            notifications.remove_member(AudienceRepository(session), payload.organization_id, payload.user_id)

    @handles("organization.ownership_transferred")
    def ownership_transferred(self, ctx: ApplyContext, event: ReceivedEvent) -> None:
        payload = event.payload
        assert isinstance(payload, identity_pb.OrganizationOwnershipTransferred)
        with _session(ctx) as session:
            audience = AudienceRepository(session)
            notifications.record_member(audience, payload.organization_id, payload.new_owner_user_id, "owner")
            # the old owner stays a member; identity makes them an admin
            notifications.record_member(audience, payload.organization_id, payload.old_owner_user_id, "admin")

    @handles("user.erased")
    def user_erased(self, ctx: ApplyContext, event: ReceivedEvent) -> None:
        payload = event.payload
        assert isinstance(payload, identity_pb.UserErased)
        with _session(ctx) as session:
            notifications.forget_user(AudienceRepository(session), payload.user_id)

    @handles("user.suspended", "user.activated", "organization.suspended", "organization.activated")
    def account_status(self, ctx: ApplyContext, event: ReceivedEvent) -> None:
        """An account suspended or active again, by billing's dunning or by staff: its contacts hear."""
        payload = event.payload
        assert isinstance(payload, identity_pb.UserStatusChanged | identity_pb.OrganizationStatusChanged)
        user_id = payload.user_id if isinstance(payload, identity_pb.UserStatusChanged) else 0
        organization_id = payload.organization_id if isinstance(payload, identity_pb.OrganizationStatusChanged) else 0
        with _session(ctx) as session:
            notifications.notify_account_status(
                event.event_id,
                rules.ACCOUNT_KINDS[event.event_type],
                payload.old_status,
                payload.new_status,
                payload.requested_by,
                user_id,
                organization_id,
                AudienceRepository(session),
                _outlets(session),
            )

    @handles("user.login_succeeded")
    def signed_in(self, ctx: ApplyContext, event: ReceivedEvent) -> None:
        payload = event.payload
        assert isinstance(payload, identity_pb.UserLoginSucceeded)
        with _session(ctx) as session:
            notifications.notify_sign_in(
                event.event_id,
                payload.user_id,
                payload.ip,
                _time(event.envelope, "occurred_at"),
                AudienceRepository(session),
                _outlets(session),
            )

    @handles("quota.reserved")
    def quota_reserved(self, ctx: ApplyContext, event: ReceivedEvent) -> None:
        payload = event.payload
        assert isinstance(payload, identity_pb.QuotaReserved)
        if payload.quota_limit <= 0 or payload.current_usage < payload.quota_limit:
            return
        with _session(ctx) as session:
            notifications.notify_quota(
                event.event_id,
                payload.resource_type,
                payload.current_usage,
                payload.quota_limit,
                payload.user_id,
                payload.organization_id,
                AudienceRepository(session),
                _outlets(session),
            )

    # -- billing: invoices, payments, suspensions -------------------------------------------
    @handles("invoice.issued")
    def invoice_issued(self, ctx: ApplyContext, event: ReceivedEvent) -> None:
        payload = event.payload
        assert isinstance(payload, billing_pb.InvoiceIssued)
        data = {
            "invoice_id": payload.invoice_id,
            "invoice_number": payload.invoice_number,
            "total": payload.total,
            "currency": payload.currency,
            "due_date": _time(payload, "due_date"),
        }
        self._billing(ctx, event, data, payload.user_id, payload.organization_id)

    @handles("invoice.overdue", "invoice.payment_received")
    def invoice_changed(self, ctx: ApplyContext, event: ReceivedEvent) -> None:
        payload = event.payload
        assert isinstance(payload, billing_pb.InvoiceOverdue | billing_pb.InvoicePaymentReceived)
        invoice = payload.invoice
        data: dict[str, Any] = {
            "invoice_id": invoice.invoice_id,
            "invoice_number": invoice.invoice_number,
            "currency": invoice.currency,
        }
        if isinstance(payload, billing_pb.InvoicePaymentReceived):
            data |= {"amount": payload.amount, "remaining": payload.remaining}
        else:
            data["due_date"] = _time(payload, "due_date")
        self._billing(ctx, event, data, invoice.user_id, invoice.organization_id)

    # -- monitoring: alerts (uptime monitors: one line in domain/monitoring_notices.py) -----------
    def handlers(self) -> dict[str, Callable[[ApplyContext, ReceivedEvent], None]]:
        """The decorated handlers, and :meth:`monitoring_notice` for every type of
        ``NOTICES`` (so a new monitoring notice is one line there)."""
        found = super().handlers()
        for event_type in monitoring.NOTICES:
            found[event_type] = self.monitoring_notice
        return found

    def monitoring_notice(self, ctx: ApplyContext, event: ReceivedEvent) -> None:
        payload = event.payload
        data = _plain(payload)
        if "name" in data and event.event_type.startswith("uptime_monitor."):
            # A mail's {name} is its recipient's: the monitor's name travels as monitor_name.
            data["monitor_name"] = data.pop("name")
        with _session(ctx) as session:
            notifications.notify_monitoring(
                event.event_id,
                event.event_type,
                _time(event.envelope, "occurred_at"),
                data,
                int(getattr(payload, "user_id", 0)),
                int(getattr(payload, "organization_id", 0)),
                _outlets(session),
            )

    def _billing(
        self, ctx: ApplyContext, event: ReceivedEvent, data: dict[str, Any], user_id: int, organization_id: int
    ) -> None:
        with _session(ctx) as session:
            notifications.notify_billing(
                event.event_id,
                rules.INVOICE_KINDS[event.event_type],
                data,
                user_id,
                organization_id,
                AudienceRepository(session),
                _outlets(session),
            )


_INTEGERS = frozenset({FieldDescriptor.CPPTYPE_INT64, FieldDescriptor.CPPTYPE_UINT64, FieldDescriptor.CPPTYPE_INT32})


def _plain(payload: Any) -> dict[str, Any]:
    """A payload as JSON data: every field (zeros and empty strings too), ids as numbers,
    timestamps as RFC 3339 text (unset ones left out)."""
    data: dict[str, Any] = MessageToDict(
        payload, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    for field in payload.DESCRIPTOR.fields:
        if field.cpp_type in _INTEGERS and not field.is_repeated and field.name in data:
            data[field.name] = int(data[field.name])
    return data


def _time(payload: Any, name: str) -> str:
    """A Timestamp field as RFC 3339 text; empty when unset."""
    if not payload.HasField(name):
        return ""
    return str(getattr(payload, name).ToDatetime(tzinfo=UTC).isoformat())
