"""Support tickets' JSON shapes, shared by the customer's routes (api/tickets.py) and staff's
(api/admin_tickets.py), with their proto → JSON mapping. What is staff's (the assignee, the
service levels, internal notes) is only in the staff shapes."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import Response
from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import BaseModel, ConfigDict, Field

from cloudplatform.support.v1 import ticket_service_pb2 as pb
from gateway_service.api.common import BodyId, Meta
from hetzner_conventions.errors import invalid_field

Category = Literal["technical", "billing", "abuse", "sales", "other"]
Priority = Literal["low", "normal", "high", "urgent"]
Status = Literal["open", "pending", "resolved", "closed"]
ResourceType = Literal["server", "placement_group", "ssh_key"]
MAX_MESSAGE = 10_000
MAX_ATTACHMENTS = 10
# Base64 of the largest attachment support may be configured to keep (3 MiB); support checks
# its own, smaller limit and says what it is.
MAX_ENCODED = 4 * (3 * 1024 * 1024 // 3 + 1)
Message = Annotated[str, Field(min_length=1, max_length=MAX_MESSAGE, description="Text (never rendered as HTML).")]


class NewAttachment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    file_name: str = Field(min_length=1, max_length=255)
    content: str = Field(
        min_length=1, max_length=MAX_ENCODED, description="The file, base64. Its type is sniffed from the content."
    )


def attachments_in(files: list[NewAttachment]) -> list[pb.NewAttachment]:
    decoded = []
    for position, file in enumerate(files):
        try:
            content = base64.b64decode(file.content, validate=True)
        except (binascii.Error, ValueError):
            raise invalid_field(f"attachments[{position}].content", "content must be base64") from None
        decoded.append(pb.NewAttachment(file_name=file.file_name, content=content))
    return decoded


class NewMessage(BaseModel):
    """A reply. Nothing else: a customer cannot set a note, an assignee or a status here."""

    model_config = ConfigDict(extra="forbid")

    message: Message
    attachments: list[NewAttachment] = Field(default_factory=list, max_length=MAX_ATTACHMENTS)


class AttachmentOut(BaseModel):
    id: int
    file_name: str
    content_type: str = Field(description="Sniffed from the content.")
    size: int
    sha256: str


class MessageOut(BaseModel):
    id: int
    ticket_id: int
    user_id: int
    message: str
    from_staff: bool
    attachments: list[AttachmentOut]
    created: datetime


class StaffMessageOut(MessageOut):
    is_internal_note: bool


class RelatedResource(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: ResourceType
    id: BodyId


class TicketOut(BaseModel):
    id: int
    ticket_number: str
    user_id: int
    organization_id: int | None
    subject: str
    category: Category
    priority: Priority
    status: Status
    related_resource: RelatedResource | None
    created: datetime
    updated: datetime
    resolved: datetime | None
    closed: datetime | None
    satisfaction_rating: int | None


class ServiceLevelOut(BaseModel):
    first_response_due: datetime
    resolution_due: datetime
    first_response_breached: bool
    resolution_breached: bool


class StaffTicketOut(TicketOut):
    assigned_to: int | None
    first_response: datetime | None
    service_level: ServiceLevelOut


class TicketsPage(BaseModel):
    tickets: list[TicketOut]
    meta: Meta


class StaffTicketsPage(BaseModel):
    tickets: list[StaffTicketOut]
    meta: Meta


def _time(stamp: Timestamp) -> datetime:
    return stamp.ToDatetime(tzinfo=UTC)


def _maybe(ticket: pb.Ticket, name: str) -> datetime | None:
    return _time(getattr(ticket, name)) if ticket.HasField(name) else None  # type: ignore[arg-type]


def _common(ticket: pb.Ticket) -> dict[str, object]:
    related = (
        RelatedResource(type=ticket.related_resource_type, id=ticket.related_resource_id)  # type: ignore[arg-type]
        if ticket.related_resource_type
        else None
    )
    return {
        "id": ticket.id,
        "ticket_number": ticket.ticket_number,
        "user_id": ticket.user_id,
        "organization_id": ticket.organization_id or None,
        "subject": ticket.subject,
        "category": ticket.category,
        "priority": ticket.priority,
        "status": ticket.status,
        "related_resource": related,
        "created": _time(ticket.created_at),
        "updated": _time(ticket.updated_at),
        "resolved": _maybe(ticket, "resolved_at"),
        "closed": _maybe(ticket, "closed_at"),
        "satisfaction_rating": ticket.satisfaction_rating or None,
    }


def ticket_out(ticket: pb.Ticket) -> TicketOut:
    return TicketOut.model_validate(_common(ticket))


def staff_ticket_out(ticket: pb.Ticket) -> StaffTicketOut:
    level = ticket.service_level
    return StaffTicketOut.model_validate(
        {
            **_common(ticket),
            "assigned_to": ticket.assigned_to or None,
            "first_response": _maybe(ticket, "first_response_at"),
            "service_level": ServiceLevelOut(
                first_response_due=_time(level.first_response_due_at),
                resolution_due=_time(level.resolution_due_at),
                first_response_breached=level.first_response_breached,
                resolution_breached=level.resolution_breached,
            ),
        }
    )


def _attachments(message: pb.TicketMessage) -> list[AttachmentOut]:
    return [
        AttachmentOut(id=a.id, file_name=a.file_name, content_type=a.content_type, size=a.size, sha256=a.sha256)
        for a in message.attachments
    ]


def message_out(message: pb.TicketMessage) -> MessageOut:
    """A message in the customer's shape; an internal note never gets here (support leaves them
    out of the customer view), and this refuses one all the same."""
    if message.is_internal_note:
        raise AssertionError("an internal note in the customer's view")
    return MessageOut(
        id=message.id,
        ticket_id=message.ticket_id,
        user_id=message.user_id,
        message=message.message,
        from_staff=message.from_staff,
        attachments=_attachments(message),
        created=_time(message.created_at),
    )


def staff_message_out(message: pb.TicketMessage) -> StaffMessageOut:
    return StaffMessageOut(
        id=message.id,
        ticket_id=message.ticket_id,
        user_id=message.user_id,
        message=message.message,
        from_staff=message.from_staff,
        is_internal_note=message.is_internal_note,
        attachments=_attachments(message),
        created=_time(message.created_at),
    )


ATTACHMENT_RESPONSE = {
    200: {
        "description": "The file, as a download (its sniffed type is in the message's attachments).",
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}
"""The OpenAPI answer of an attachment download."""


def download(answer: pb.GetTicketAttachmentResponse) -> Response:
    """The attachment as a download: never rendered by a browser (octet-stream, nosniff), its
    name percent-encoded (RFC 5987), so no name can break the header."""
    name = quote(answer.attachment.file_name, safe="")
    return Response(
        content=answer.content,
        media_type="application/octet-stream",
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{name}",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
        },
    )
