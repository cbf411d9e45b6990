"""The TicketService gRPC API: protobuf in, a use case on a worker thread, protobuf out.

The customer view never carries what is staff's: internal notes are not read at all, and a
ticket's assignee and service levels are left out of its message."""

from __future__ import annotations

import asyncio
from typing import Any

from grpc import aio

from cloudplatform.support.v1 import ticket_service_pb2 as pb
from cloudplatform.support.v1 import ticket_service_pb2_grpc as pb_grpc
from cpshared.clock import utcnow
from cpshared.errors import InvalidInput
from cpshared.timestamps import to_timestamp as _ts
from support_service.adapters import authorization as authz
from support_service.bootstrap import Support
from support_service.domain.tickets import Attachment, Ticket, TicketMessage
from support_service.service_layer import tickets
from support_service.service_layer.ports import TicketQuery

Context = aio.ServicerContext[Any, Any]
MAX_PER_PAGE = 50
SORTABLE = ("id", "created", "updated", "priority", "status")


def sort_order(sort: list[str]) -> list[tuple[str, bool]]:
    order = []
    for raw in sort:
        field, _, direction = raw.partition(":")
        if field not in SORTABLE or direction not in ("", "asc", "desc"):
            raise InvalidInput(f"cannot sort by {raw!r}; sort by {', '.join(SORTABLE)}, optionally :asc or :desc")
        order.append((field, direction == "desc"))
    return order


def ticket_message(ticket: Ticket, support: Support, *, staff: bool) -> pb.Ticket:
    answer = pb.Ticket(
        id=ticket.id,
        ticket_number=ticket.ticket_number,
        user_id=ticket.user_id,
        organization_id=ticket.organization_id or 0,
        subject=ticket.subject,
        category=ticket.category,
        priority=ticket.priority,
        status=ticket.status,
        related_resource_type=ticket.related_resource_type or "",
        related_resource_id=ticket.related_resource_id or 0,
        created_at=_ts(ticket.created_at),
        updated_at=_ts(ticket.updated_at),
        resolved_at=_ts(ticket.resolved_at),
        closed_at=_ts(ticket.closed_at),
        satisfaction_rating=ticket.satisfaction_rating or 0,
        first_response_at=_ts(ticket.first_response_at),
    )
    if staff:
        level = ticket.service_level(support.rules.policy, utcnow())
        answer.assigned_to = ticket.assigned_to or 0
        answer.service_level.CopyFrom(
            pb.ServiceLevel(
                first_response_due_at=_ts(level.first_response_due_at),
                resolution_due_at=_ts(level.resolution_due_at),
                first_response_breached=level.first_response_breached,
                resolution_breached=level.resolution_breached,
            )
        )
    return answer


def attachment_message(attachment: Attachment) -> pb.Attachment:
    return pb.Attachment(
        id=attachment.id,
        file_name=attachment.file_name,
        content_type=attachment.content_type,
        size=attachment.size,
        sha256=attachment.sha256,
    )


def message_message(message: TicketMessage, *, staff: bool) -> pb.TicketMessage:
    if message.is_internal_note and not staff:
        raise AssertionError("an internal note never leaves through the customer view")
    return pb.TicketMessage(
        id=message.id,
        ticket_id=message.ticket_id,
        user_id=message.user_id,
        message=message.message,
        from_staff=message.from_staff,
        is_internal_note=message.is_internal_note,
        attachments=[attachment_message(a) for a in message.attachments],
        created_at=_ts(message.created_at),
    )


def _files(attachments: Any) -> list[tuple[str, bytes]]:
    return [(a.file_name, bytes(a.content)) for a in attachments]


class TicketServicer(pb_grpc.TicketServiceServicer):
    def __init__(self, support: Support) -> None:
        self._support = support

    def _ticket(self, ticket: Ticket, staff: bool) -> pb.Ticket:
        return ticket_message(ticket, self._support, staff=staff)

    async def OpenTicket(self, request: pb.OpenTicketRequest, context: Context) -> pb.OpenTicketResponse:  # noqa: N802
        authz.check_tenant(request.user_id, request.organization_id)
        new = tickets.NewTicket(
            user_id=request.user_id,
            organization_id=request.organization_id or None,
            subject=request.subject,
            category=request.category,
            priority=request.priority,
            message=request.message,
            related_resource_type=request.related_resource_type,
            related_resource_id=request.related_resource_id,
            attachments=_files(request.attachments),
        )
        support = self._support
        ticket, message = await asyncio.to_thread(
            tickets.open_ticket, new, support.uow(), support.store, support.rules, support.owners
        )
        return pb.OpenTicketResponse(ticket=self._ticket(ticket, False), message=message_message(message, staff=False))

    async def ListTickets(self, request: pb.ListTicketsRequest, context: Context) -> pb.ListTicketsResponse:  # noqa: N802
        per_page = min(max(request.per_page, 1), MAX_PER_PAGE) if request.per_page else 25
        page = max(request.page, 1)
        common: dict[str, Any] = {
            "statuses": list(request.statuses),
            "priorities": list(request.priorities),
            "categories": list(request.categories),
            "text": request.text,
            "order": sort_order(list(request.sort)),
            "offset": (page - 1) * per_page,
            "limit": per_page,
        }
        if request.staff_view:
            authz.require_staff("ListTickets")
            query = TicketQuery(
                assigned_to=request.assigned_to or None,
                unassigned=request.unassigned,
                customer_user_id=request.customer_user_id or None,
                customer_organization_id=request.customer_organization_id or None,
                breached=request.breached,
                with_notes=True,
                **common,
            )
        else:
            authz.check_tenant(request.user_id, request.organization_id)
            if request.organization_id:
                query = TicketQuery(organization_id=request.organization_id, **common)
            else:
                query = TicketQuery(user_id=request.user_id, **common)
        found, total = await asyncio.to_thread(tickets.search, query, self._support.uow())
        return pb.ListTicketsResponse(tickets=[self._ticket(t, request.staff_view) for t in found], total_entries=total)

    async def GetTicket(self, request: pb.GetTicketRequest, context: Context) -> pb.GetTicketResponse:  # noqa: N802
        view = authz.view(request.organization_id, request.staff_view, "GetTicket")
        ticket = await asyncio.to_thread(tickets.get, request.ticket_id, view, self._support.uow())
        return pb.GetTicketResponse(ticket=self._ticket(ticket, view.staff))

    async def ListTicketMessages(  # noqa: N802
        self, request: pb.ListTicketMessagesRequest, context: Context
    ) -> pb.ListTicketMessagesResponse:
        view = authz.view(request.organization_id, request.staff_view, "ListTicketMessages")
        found = await asyncio.to_thread(tickets.messages, request.ticket_id, view, self._support.uow())
        return pb.ListTicketMessagesResponse(messages=[message_message(m, staff=view.staff) for m in found])

    async def AddTicketMessage(  # noqa: N802
        self, request: pb.AddTicketMessageRequest, context: Context
    ) -> pb.AddTicketMessageResponse:
        view = authz.view(request.organization_id, request.staff_view, "AddTicketMessage")
        support = self._support
        message, ticket = await asyncio.to_thread(
            tickets.add_message,
            request.ticket_id,
            view,
            request.message,
            _files(request.attachments),
            support.uow(),
            support.store,
            support.rules,
            internal=request.internal_note,
        )
        return pb.AddTicketMessageResponse(
            message=message_message(message, staff=view.staff), ticket=self._ticket(ticket, view.staff)
        )

    async def GetTicketAttachment(  # noqa: N802
        self, request: pb.GetTicketAttachmentRequest, context: Context
    ) -> pb.GetTicketAttachmentResponse:
        view = authz.view(request.organization_id, request.staff_view, "GetTicketAttachment")
        support = self._support
        found, content = await asyncio.to_thread(
            tickets.attachment, request.ticket_id, request.attachment_id, view, support.uow(), support.store
        )
        return pb.GetTicketAttachmentResponse(attachment=attachment_message(found), content=content)

    async def CloseTicket(self, request: pb.CloseTicketRequest, context: Context) -> pb.CloseTicketResponse:  # noqa: N802
        view = authz.view(request.organization_id, request.staff_view, "CloseTicket")
        support = self._support
        ticket = await asyncio.to_thread(tickets.close, request.ticket_id, view, support.uow(), support.rules)
        return pb.CloseTicketResponse(ticket=self._ticket(ticket, view.staff))

    async def ReopenTicket(self, request: pb.ReopenTicketRequest, context: Context) -> pb.ReopenTicketResponse:  # noqa: N802
        view = authz.view(request.organization_id, request.staff_view, "ReopenTicket")
        support = self._support
        ticket = await asyncio.to_thread(tickets.reopen, request.ticket_id, view, support.uow(), support.rules)
        return pb.ReopenTicketResponse(ticket=self._ticket(ticket, view.staff))

    async def RateTicket(self, request: pb.RateTicketRequest, context: Context) -> pb.RateTicketResponse:  # noqa: N802
        view = authz.view(request.organization_id, False, "RateTicket")
        support = self._support
        ticket = await asyncio.to_thread(
            tickets.rate, request.ticket_id, request.rating, view, support.uow(), support.rules
        )
        return pb.RateTicketResponse(ticket=self._ticket(ticket, False))

    async def AssignTicket(self, request: pb.AssignTicketRequest, context: Context) -> pb.AssignTicketResponse:  # noqa: N802
        view = authz.view(0, True, "AssignTicket")
        support = self._support
        ticket = await asyncio.to_thread(
            tickets.assign,
            request.ticket_id,
            request.assigned_to or None,
            view,
            support.uow(),
            support.rules,
            support.accounts,
        )
        return pb.AssignTicketResponse(ticket=self._ticket(ticket, True))

    async def SetTicketStatus(  # noqa: N802
        self, request: pb.SetTicketStatusRequest, context: Context
    ) -> pb.SetTicketStatusResponse:
        view = authz.view(0, True, "SetTicketStatus")
        support = self._support
        ticket = await asyncio.to_thread(
            tickets.set_status, request.ticket_id, request.status, view, support.uow(), support.rules
        )
        return pb.SetTicketStatusResponse(ticket=self._ticket(ticket, True))


def add_ticket_servicer(server: aio.Server, support: Support) -> list[str]:
    pb_grpc.add_TicketServiceServicer_to_server(TicketServicer(support), server)
    return [pb.DESCRIPTOR.services_by_name["TicketService"].full_name]
