"""``/v1/admin/tickets``: the helpdesk, a staff area for platform admins and support staff
(``@staff(Family.TICKETS, …)``; any other role is ``403 forbidden``). Support checks the role
again.

- ``GET /v1/admin/tickets``: every tenant's tickets, filtered by ``status``, ``priority``,
  ``category``, ``assigned_to`` (or ``unassigned``), ``user_id`` (the customer),
  ``organization_id``, ``breached`` (a service-level target passed) and ``q`` (text in the
  number, subject or any message, notes included), sorted and paged; each with its assignee and
  service levels.
- ``GET /v1/admin/tickets/{id}``; ``GET /v1/admin/tickets/{id}/messages`` (internal notes too);
  ``GET /v1/admin/tickets/{id}/attachments/{attachment_id}``.
- ``POST /v1/admin/tickets/{id}/messages``: a reply the customer sees (an open ticket becomes
  pending: the customer's turn); ``POST /v1/admin/tickets/{id}/notes``: an internal note, never
  shown to the customer.
- ``POST /v1/admin/tickets/{id}/assign`` (``assigned_to``: a staff member's user id, or null);
  ``POST /v1/admin/tickets/{id}/status`` (``status``: open, pending, resolved, closed, along the
  transitions a helpdesk allows).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from cloudplatform.support.v1 import ticket_service_pb2 as pb
from gateway_service.api.common import MAX_ID, BodyId, page_meta, sort_param
from gateway_service.api.models.tickets import (
    ATTACHMENT_RESPONSE,
    Category,
    NewMessage,
    Priority,
    StaffMessageOut,
    StaffTicketOut,
    StaffTicketsPage,
    Status,
    attachments_in,
    download,
    staff_message_out,
    staff_ticket_out,
)
from gateway_service.auth.gate import Authenticated
from gateway_service.auth.policy import Access, Family
from gateway_service.auth.scoped import staff
from gateway_service.clients.backends import backends
from hetzner_conventions.error_handlers import documented_errors
from hetzner_conventions.pagination import parse_page_request
from hetzner_conventions.sorting import parse_sort

router = APIRouter(prefix="/v1/admin/tickets", tags=["admin"])

STATE_ERRORS = documented_errors(412)  # the ticket's status does not allow it (a closed ticket is final)
SORTABLE = ("id", "created", "updated", "priority", "status")
TicketId = Annotated[int, Path(ge=1, le=MAX_ID, description="ID of the ticket.")]
AttachmentId = Annotated[int, Path(ge=1, le=MAX_ID, description="ID of the attachment.")]
UserFilter = Annotated[int | None, Query(ge=1, le=MAX_ID)]


class Assignment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    assigned_to: BodyId | None = Field(description="A staff member's user id; null: nobody.")


class StatusChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Status


class StaffTicketAnswer(BaseModel):
    ticket: StaffTicketOut


class StaffMessagesAnswer(BaseModel):
    messages: list[StaffMessageOut]


class StaffMessageAnswer(BaseModel):
    message: StaffMessageOut
    ticket: StaffTicketOut


@router.get("")
@staff(Family.TICKETS, Access.READ)
async def search_tickets(
    request: Request,
    response: Response,
    principal: Authenticated,
    status: Annotated[list[Status] | None, Query()] = None,
    priority: Annotated[list[Priority] | None, Query()] = None,
    category: Annotated[list[Category] | None, Query()] = None,
    assigned_to: UserFilter = None,
    unassigned: bool = False,
    user_id: UserFilter = None,
    organization_id: UserFilter = None,
    breached: bool = False,
    q: Annotated[str | None, Query(max_length=255)] = None,
    sort: Annotated[list[str] | None, Query()] = None,
    page: str | None = None,
    per_page: str | None = None,
) -> StaffTicketsPage:
    """Every tenant's tickets matching every filter given, one page of them."""
    page_request = parse_page_request(page, per_page)
    sort_keys = parse_sort(sort or [], SORTABLE)
    answer = await backends(request).tickets.search(
        pb.ListTicketsRequest(
            staff_view=True,
            statuses=list(status or []),
            priorities=list(priority or []),
            categories=list(category or []),
            assigned_to=assigned_to or 0,
            unassigned=unassigned,
            customer_user_id=user_id or 0,
            customer_organization_id=organization_id or 0,
            breached=breached,
            text=q or "",
            sort=sort_param(sort_keys),
            page=page_request.page,
            per_page=page_request.per_page,
        )
    )
    meta = page_meta(request, response, page_request, answer.total_entries)
    return StaffTicketsPage(tickets=[staff_ticket_out(t) for t in answer.tickets], meta=meta)


@router.get("/{id}")
@staff(Family.TICKETS, Access.READ)
async def get_ticket(request: Request, principal: Authenticated, id: TicketId) -> StaffTicketAnswer:
    """One ticket, with its assignee and service levels."""
    return StaffTicketAnswer(ticket=staff_ticket_out(await backends(request).tickets.get(id, 0, staff_view=True)))


@router.get("/{id}/messages")
@staff(Family.TICKETS, Access.READ)
async def list_messages(request: Request, principal: Authenticated, id: TicketId) -> StaffMessagesAnswer:
    """The whole thread, internal notes included, oldest first."""
    found = await backends(request).tickets.messages(id, 0, staff_view=True)
    return StaffMessagesAnswer(messages=[staff_message_out(m) for m in found])


async def _write(request: Request, id: int, body: NewMessage, *, note: bool) -> StaffMessageAnswer:
    answer = await backends(request).tickets.add_message(
        pb.AddTicketMessageRequest(
            ticket_id=id,
            staff_view=True,
            message=body.message,
            internal_note=note,
            attachments=attachments_in(body.attachments),
        )
    )
    return StaffMessageAnswer(message=staff_message_out(answer.message), ticket=staff_ticket_out(answer.ticket))


@router.post("/{id}/messages", status_code=201, responses=STATE_ERRORS)
@staff(Family.TICKETS, Access.WRITE)
async def reply(request: Request, principal: Authenticated, id: TicketId, body: NewMessage) -> StaffMessageAnswer:
    """A reply the customer sees; an open ticket becomes pending (the customer's turn)."""
    return await _write(request, id, body, note=False)


@router.post("/{id}/notes", status_code=201)
@staff(Family.TICKETS, Access.WRITE)
async def add_note(request: Request, principal: Authenticated, id: TicketId, body: NewMessage) -> StaffMessageAnswer:
    """An internal note: staff's alone, never shown to the customer."""
    return await _write(request, id, body, note=True)


@router.get("/{id}/attachments/{attachment_id}", response_class=Response, responses=ATTACHMENT_RESPONSE)  # type: ignore[arg-type]
@staff(Family.TICKETS, Access.READ)
async def get_attachment(
    request: Request, principal: Authenticated, id: TicketId, attachment_id: AttachmentId
) -> Response:
    """A file of the thread (a note's too), as a download."""
    return download(await backends(request).tickets.attachment(id, attachment_id, 0, staff_view=True))


@router.post("/{id}/assign", responses=STATE_ERRORS)
@staff(Family.TICKETS, Access.WRITE)
async def assign(request: Request, principal: Authenticated, id: TicketId, body: Assignment) -> StaffTicketAnswer:
    """Assign the ticket to a staff member (an admin or support user), or to nobody (support
    checks the assignee's role with identity)."""
    ticket = await backends(request).tickets.assign(id, body.assigned_to or 0)
    return StaffTicketAnswer(ticket=staff_ticket_out(ticket))


@router.post("/{id}/status", responses=STATE_ERRORS)
@staff(Family.TICKETS, Access.WRITE)
async def set_status(request: Request, principal: Authenticated, id: TicketId, body: StatusChange) -> StaffTicketAnswer:
    """Move the ticket to another status."""
    return StaffTicketAnswer(ticket=staff_ticket_out(await backends(request).tickets.set_status(id, body.status)))
