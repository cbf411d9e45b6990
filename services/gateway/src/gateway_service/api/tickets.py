"""``/v1/tickets``: the caller's support tickets (with a key bound to an organization, that
organization's), kept by the support service. Not a Hetzner API: the platform's own, in the same
error format.

- ``GET /v1/tickets``: the caller's tickets, filtered by ``status``, ``priority``, ``category``
  and ``q`` (text in the number, subject or messages), sorted, paged with ``meta.pagination``.
- ``POST /v1/tickets`` (``subject``, ``category``, ``priority``, ``message``, optional
  ``related_resource`` ``{type, id}`` of the caller's own (support asks compute whose it is),
  ``attachments`` ``[{file_name, content (base64)}]``): a new ticket ``TKT-YYYY-NNNNNN`` and its
  first message.
- ``GET /v1/tickets/{id}``; ``GET``/``POST /v1/tickets/{id}/messages``: the thread (replies only:
  internal notes are staff's) and a reply, which reopens a pending or resolved ticket;
  ``GET /v1/tickets/{id}/attachments/{attachment_id}``: a file of the thread, as a download.
- ``POST /v1/tickets/{id}/close``, ``/reopen`` (a resolved ticket), ``/rate`` (``rating`` 1 to 5,
  once resolved, once).

Another tenant's ticket is ``404 not_found``. Scopes ``tickets:read`` and ``tickets:write``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from cloudplatform.support.v1 import ticket_service_pb2 as pb
from gateway_service.api.common import MAX_ID, Text, page_meta, sort_param, tenant
from gateway_service.api.models.tickets import (
    ATTACHMENT_RESPONSE,
    MAX_ATTACHMENTS,
    Category,
    Message,
    MessageOut,
    NewAttachment,
    NewMessage,
    Priority,
    RelatedResource,
    Status,
    TicketOut,
    TicketsPage,
    attachments_in,
    download,
    message_out,
    ticket_out,
)
from gateway_service.auth.gate import Authenticated
from gateway_service.auth.policy import Access, Family
from gateway_service.auth.scoped import scope
from gateway_service.clients.backends import backends
from hetzner_conventions.error_handlers import documented_errors
from hetzner_conventions.pagination import parse_page_request
from hetzner_conventions.sorting import parse_sort

router = APIRouter(prefix="/v1/tickets", tags=["tickets"])

STATE_ERRORS = documented_errors(412)  # the ticket's status does not allow it (a closed ticket is final)
SORTABLE = ("id", "created", "updated", "priority", "status")
TicketId = Annotated[int, Path(ge=1, le=MAX_ID, description="ID of the ticket.")]
AttachmentId = Annotated[int, Path(ge=1, le=MAX_ID, description="ID of the attachment.")]


class NewTicket(BaseModel):
    """A ticket to open. Nothing else: a customer cannot set a status or an assignee."""

    model_config = ConfigDict(extra="forbid")

    subject: Text = Field(min_length=1, max_length=255, description="One line of text (never rendered as HTML).")
    category: Category = "technical"
    priority: Priority = "normal"
    message: Message
    related_resource: RelatedResource | None = Field(default=None, description="One of your own resources.")
    attachments: list[NewAttachment] = Field(default_factory=list, max_length=MAX_ATTACHMENTS)


class Rating(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rating: int = Field(ge=1, le=5, description="Satisfaction, 1 (poor) to 5 (excellent).")


class TicketAnswer(BaseModel):
    ticket: TicketOut


class OpenedAnswer(BaseModel):
    ticket: TicketOut
    message: MessageOut


class MessagesAnswer(BaseModel):
    messages: list[MessageOut]


class MessageAnswer(BaseModel):
    message: MessageOut
    ticket: TicketOut


@router.get("")
@scope(Family.TICKETS, Access.READ)
async def list_tickets(
    request: Request,
    response: Response,
    principal: Authenticated,
    status: Annotated[list[Status] | None, Query(description="Only tickets in these statuses.")] = None,
    priority: Annotated[list[Priority] | None, Query(description="Only tickets of these priorities.")] = None,
    category: Annotated[list[Category] | None, Query(description="Only tickets of these categories.")] = None,
    q: Annotated[str | None, Query(max_length=255, description="Text in the number, subject or messages.")] = None,
    sort: Annotated[
        list[str] | None, Query(description="id, created, updated, priority or status, :asc or :desc.")
    ] = None,
    page: str | None = None,
    per_page: str | None = None,
) -> TicketsPage:
    """The caller's tickets matching every filter given, one page of them."""
    page_request = parse_page_request(page, per_page)
    sort_keys = parse_sort(sort or [], SORTABLE)
    user_id, organization_id = tenant(principal)
    answer = await backends(request).tickets.search(
        pb.ListTicketsRequest(
            user_id=user_id,
            organization_id=organization_id,
            statuses=list(status or []),
            priorities=list(priority or []),
            categories=list(category or []),
            text=q or "",
            sort=sort_param(sort_keys),
            page=page_request.page,
            per_page=page_request.per_page,
        )
    )
    meta = page_meta(request, response, page_request, answer.total_entries)
    return TicketsPage(tickets=[ticket_out(t) for t in answer.tickets], meta=meta)


@router.post("", status_code=201)
@scope(Family.TICKETS, Access.WRITE)
async def open_ticket(request: Request, principal: Authenticated, body: NewTicket) -> OpenedAnswer:
    """Open a ticket with its first message."""
    clients = backends(request)
    files = attachments_in(body.attachments)
    user_id, organization_id = tenant(principal)
    answer = await clients.tickets.open(
        pb.OpenTicketRequest(
            user_id=user_id,
            organization_id=organization_id,
            subject=body.subject,
            category=body.category,
            priority=body.priority,
            related_resource_type=body.related_resource.type if body.related_resource else "",
            related_resource_id=body.related_resource.id if body.related_resource else 0,
            message=body.message,
            attachments=files,
        )
    )
    return OpenedAnswer(ticket=ticket_out(answer.ticket), message=message_out(answer.message))


@router.get("/{id}")
@scope(Family.TICKETS, Access.READ)
async def get_ticket(request: Request, principal: Authenticated, id: TicketId) -> TicketAnswer:
    """One ticket the caller reaches."""
    ticket = await backends(request).tickets.get(id, tenant(principal)[1], staff_view=False)
    return TicketAnswer(ticket=ticket_out(ticket))


@router.get("/{id}/messages")
@scope(Family.TICKETS, Access.READ)
async def list_messages(request: Request, principal: Authenticated, id: TicketId) -> MessagesAnswer:
    """The ticket's thread, oldest first."""
    found = await backends(request).tickets.messages(id, tenant(principal)[1], staff_view=False)
    return MessagesAnswer(messages=[message_out(m) for m in found])


@router.post("/{id}/messages", status_code=201, responses=STATE_ERRORS)
@scope(Family.TICKETS, Access.WRITE)
async def reply(request: Request, principal: Authenticated, id: TicketId, body: NewMessage) -> MessageAnswer:
    """Reply; a pending or resolved ticket is open again."""
    answer = await backends(request).tickets.add_message(
        pb.AddTicketMessageRequest(
            ticket_id=id,
            organization_id=tenant(principal)[1],
            message=body.message,
            attachments=attachments_in(body.attachments),
        )
    )
    return MessageAnswer(message=message_out(answer.message), ticket=ticket_out(answer.ticket))


@router.get("/{id}/attachments/{attachment_id}", response_class=Response, responses=ATTACHMENT_RESPONSE)  # type: ignore[arg-type]
@scope(Family.TICKETS, Access.READ)
async def get_attachment(
    request: Request, principal: Authenticated, id: TicketId, attachment_id: AttachmentId
) -> Response:
    """A file of the ticket's thread, as a download."""
    answer = await backends(request).tickets.attachment(id, attachment_id, tenant(principal)[1], staff_view=False)
    return download(answer)


@router.post("/{id}/close", responses=STATE_ERRORS)
@scope(Family.TICKETS, Access.WRITE)
async def close_ticket(request: Request, principal: Authenticated, id: TicketId) -> TicketAnswer:
    """Close the ticket (final: a new question is a new ticket)."""
    ticket = await backends(request).tickets.close(id, tenant(principal)[1], staff_view=False)
    return TicketAnswer(ticket=ticket_out(ticket))


@router.post("/{id}/reopen", responses=STATE_ERRORS)
@scope(Family.TICKETS, Access.WRITE)
async def reopen_ticket(request: Request, principal: Authenticated, id: TicketId) -> TicketAnswer:
    """Reopen a resolved ticket."""
    ticket = await backends(request).tickets.reopen(id, tenant(principal)[1], staff_view=False)
    return TicketAnswer(ticket=ticket_out(ticket))


@router.post("/{id}/rate", responses=STATE_ERRORS)
@scope(Family.TICKETS, Access.WRITE)
async def rate_ticket(request: Request, principal: Authenticated, id: TicketId, body: Rating) -> TicketAnswer:
    """Rate a resolved ticket, once."""
    ticket = await backends(request).tickets.rate(id, tenant(principal)[1], body.rating)
    return TicketAnswer(ticket=ticket_out(ticket))
