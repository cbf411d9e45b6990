"""Reading and writing tickets, their messages and attachments inside one unit of work's session."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cpshared.timestamps import as_utc
from support_service.adapters import tables as t
from support_service.domain.tickets import (
    CLOSED,
    OPEN,
    PENDING,
    PRIORITIES,
    RESOLVED,
    Attachment,
    Ticket,
    TicketMessage,
)
from support_service.service_layer.ports import TicketQuery


def _utc(value: datetime | None) -> datetime | None:
    return as_utc(value) if value is not None else None


def _ticket(row: sa.Row[Any]) -> Ticket:
    return Ticket(
        id=row.id,
        user_id=row.user_id,
        organization_id=row.organization_id,
        ticket_number=row.ticket_number,
        subject=row.subject,
        category=row.category,
        priority=row.priority,
        status=row.status,
        assigned_to=row.assigned_to,
        related_resource_type=row.related_resource_type,
        related_resource_id=row.related_resource_id,
        created_at=_utc(row.created_at),
        updated_at=_utc(row.updated_at),
        resolved_at=_utc(row.resolved_at),
        closed_at=_utc(row.closed_at),
        satisfaction_rating=row.satisfaction_rating,
        first_response_at=_utc(row.first_response_at),
        first_response_breached_at=_utc(row.first_response_breached_at),
        resolution_breached_at=_utc(row.resolution_breached_at),
        version=row.version,
        pending_since=_utc(row.pending_since),
        sla_paused_seconds=int(row.sla_paused_seconds or 0),
    )


def _attachment(row: sa.Row[Any]) -> Attachment:
    return Attachment(
        id=row.id,
        ticket_id=row.ticket_id,
        message_id=row.message_id,
        uploaded_by=row.uploaded_by,
        file_name=row.file_name,
        content_type=row.content_type,
        size=row.size_bytes,
        sha256=row.sha256,
        storage_key=row.storage_key,
        created_at=_utc(row.created_at),
    )


def _message(row: sa.Row[Any], attachments: list[Attachment]) -> TicketMessage:
    return TicketMessage(
        id=row.id,
        ticket_id=row.ticket_id,
        user_id=row.user_id,
        message=row.message,
        from_staff=bool(row.from_staff),
        is_internal_note=bool(row.is_internal_note),
        created_at=_utc(row.created_at),
        attachments=attachments,
    )


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class TicketRepository:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.seen: list[Ticket] = []
        """The tickets written in this unit of work: it collects their recorded events on commit."""

    def _saw(self, ticket: Ticket) -> None:
        if not any(seen is ticket for seen in self.seen):
            self.seen.append(ticket)

    def next_number(self, year: int) -> int:
        # The row's lock is held to the end of the transaction: concurrent openings take numbers
        # one after the other, and a rollback gives the number back (no gaps).
        self.session.execute(
            sa.text(
                "INSERT INTO ticket_number_sequences (year, last_number) VALUES (:year, 1) "
                "ON DUPLICATE KEY UPDATE last_number = last_number + 1"
            ),
            {"year": year},
        )
        query = sa.select(t.ticket_number_sequences.c.last_number).where(t.ticket_number_sequences.c.year == year)
        return int(self.session.execute(query).scalar_one())

    def _values(self, ticket: Ticket) -> dict[str, Any]:
        return {
            "status": ticket.status,
            "assigned_to": ticket.assigned_to,
            "resolved_at": ticket.resolved_at,
            "closed_at": ticket.closed_at,
            "satisfaction_rating": ticket.satisfaction_rating,
            "first_response_at": ticket.first_response_at,
            "first_response_breached_at": ticket.first_response_breached_at,
            "resolution_breached_at": ticket.resolution_breached_at,
            "version": ticket.version,
            "pending_since": ticket.pending_since,
            "sla_paused_seconds": ticket.sla_paused_seconds,
        }

    def add(self, ticket: Ticket, now: datetime) -> Ticket:
        result = cast(
            sa.CursorResult[Any],
            self.session.execute(
                sa.insert(t.tickets).values(
                    user_id=ticket.user_id,
                    organization_id=ticket.organization_id,
                    ticket_number=ticket.ticket_number,
                    subject=ticket.subject,
                    category=ticket.category,
                    priority=ticket.priority,
                    related_resource_type=ticket.related_resource_type,
                    related_resource_id=ticket.related_resource_id,
                    created_at=now,
                    updated_at=now,
                    **self._values(ticket),
                )
            ),
        )
        ticket.id = int(result.lastrowid)
        ticket.created_at = ticket.updated_at = now
        self._saw(ticket)
        return ticket

    def get(self, ticket_id: int, *, for_update: bool = False) -> Ticket | None:
        query = sa.select(t.tickets).where(t.tickets.c.id == ticket_id)
        row = self.session.execute(query.with_for_update() if for_update else query).first()
        return _ticket(row) if row else None

    def save(self, ticket: Ticket, now: datetime) -> None:
        self.session.execute(
            sa.update(t.tickets).where(t.tickets.c.id == ticket.id).values(updated_at=now, **self._values(ticket))
        )
        ticket.updated_at = now
        self._saw(ticket)

    def search(self, query: TicketQuery) -> tuple[list[Ticket], int]:
        c = t.tickets.c
        conditions: list[sa.ColumnElement[bool]] = []
        tenants: list[sa.ColumnElement[bool]] = []
        if query.user_id is not None:
            tenants.append(sa.and_(c.user_id == query.user_id, c.organization_id.is_(None)))
        if query.organization_id is not None:
            tenants.append(c.organization_id == query.organization_id)
        if tenants:
            conditions.append(sa.or_(*tenants))
        if query.statuses:
            conditions.append(c.status.in_(list(query.statuses)))
        if query.priorities:
            conditions.append(c.priority.in_(list(query.priorities)))
        if query.categories:
            conditions.append(c.category.in_(list(query.categories)))
        if query.assigned_to is not None:
            conditions.append(c.assigned_to == query.assigned_to)
        if query.unassigned:
            conditions.append(c.assigned_to.is_(None))
        if query.customer_user_id is not None:
            conditions.append(c.user_id == query.customer_user_id)
        if query.customer_organization_id is not None:
            conditions.append(c.organization_id == query.customer_organization_id)
        if query.breached:
            conditions.append(sa.or_(c.first_response_breached_at.is_not(None), c.resolution_breached_at.is_not(None)))
        if query.text:
            pattern = _like(query.text)
            m = t.ticket_messages.c
            in_messages = sa.select(m.id).where(m.ticket_id == c.id, m.message.like(pattern, escape="\\"))
            if not query.with_notes:
                in_messages = in_messages.where(m.is_internal_note.is_(False))
            conditions.append(
                sa.or_(
                    c.ticket_number.like(pattern, escape="\\"),
                    c.subject.like(pattern, escape="\\"),
                    sa.exists(in_messages),
                )
            )
        where = sa.and_(sa.true(), *conditions)
        total = self.session.execute(sa.select(sa.func.count()).select_from(t.tickets).where(where)).scalar_one()
        priority_rank = sa.case({p: i for i, p in enumerate(PRIORITIES)}, value=c.priority)
        status_rank = sa.case({s: i for i, s in enumerate((OPEN, PENDING, RESOLVED, CLOSED))}, value=c.status)
        columns = {
            "id": c.id,
            "created": c.created_at,
            "updated": c.updated_at,
            "priority": priority_rank,
            "status": status_rank,
        }
        order_by = [columns[name].desc() if descending else columns[name].asc() for name, descending in query.order]
        rows = self.session.execute(
            sa.select(t.tickets).where(where).order_by(*order_by, c.id).offset(query.offset).limit(query.limit)
        )
        return [_ticket(row) for row in rows], int(total)

    def add_message(self, message: TicketMessage, now: datetime) -> TicketMessage:
        result = cast(
            sa.CursorResult[Any],
            self.session.execute(
                sa.insert(t.ticket_messages).values(
                    ticket_id=message.ticket_id,
                    user_id=message.user_id,
                    message=message.message,
                    attachments=[],
                    is_internal_note=message.is_internal_note,
                    from_staff=message.from_staff,
                    created_at=now,
                )
            ),
        )
        message.id = int(result.lastrowid)
        message.created_at = now
        return message

    def add_attachment(self, attachment: Attachment, now: datetime) -> Attachment:
        result = cast(
            sa.CursorResult[Any],
            self.session.execute(
                sa.insert(t.ticket_attachments).values(
                    ticket_id=attachment.ticket_id,
                    message_id=attachment.message_id,
                    uploaded_by=attachment.uploaded_by,
                    file_name=attachment.file_name,
                    content_type=attachment.content_type,
                    size_bytes=attachment.size,
                    sha256=attachment.sha256,
                    storage_key=attachment.storage_key,
                    created_at=now,
                )
            ),
        )
        attachment.id = int(result.lastrowid)
        attachment.created_at = now
        return attachment

    def set_message_attachments(self, message_id: int, attachment_ids: Iterable[int]) -> None:
        self.session.execute(
            sa.update(t.ticket_messages)
            .where(t.ticket_messages.c.id == message_id)
            .values(attachments=list(attachment_ids))
        )

    def messages(self, ticket_id: int, *, with_notes: bool) -> list[TicketMessage]:
        m = t.ticket_messages.c
        query = sa.select(t.ticket_messages).where(m.ticket_id == ticket_id)
        if not with_notes:
            query = query.where(m.is_internal_note.is_(False))
        rows = list(self.session.execute(query.order_by(m.created_at, m.id)))
        files: dict[int, list[Attachment]] = {row.id: [] for row in rows}
        if files:
            a = t.ticket_attachments.c
            attachments = self.session.execute(
                sa.select(t.ticket_attachments).where(a.message_id.in_(list(files))).order_by(a.id)
            )
            for row in attachments:
                files[row.message_id].append(_attachment(row))
        return [_message(row, files[row.id]) for row in rows]

    def attachment(self, ticket_id: int, attachment_id: int) -> tuple[Attachment, TicketMessage] | None:
        a = t.ticket_attachments.c
        row = self.session.execute(
            sa.select(t.ticket_attachments).where(a.id == attachment_id, a.ticket_id == ticket_id)
        ).first()
        if row is None:
            return None
        message = self.session.execute(
            sa.select(t.ticket_messages).where(t.ticket_messages.c.id == row.message_id)
        ).one()
        found = _attachment(row)
        return found, _message(message, [found])

    def resolved_before(self, instant: datetime, limit: int) -> list[int]:
        c = t.tickets.c
        query = (
            sa.select(c.id).where(c.status == RESOLVED, c.resolved_at <= instant).order_by(c.resolved_at).limit(limit)
        )
        return [int(i) for i in self.session.execute(query).scalars()]

    def breach_candidates(
        self, now: datetime, first_response: Mapping[str, timedelta], resolution: Mapping[str, timedelta], limit: int
    ) -> list[int]:
        c = t.tickets.c
        # The clock started at the opening and stood still while the ticket was pending; a
        # pending ticket's clock stands still now (it cannot breach).
        started = sa.func.timestampadd(sa.literal_column("SECOND"), c.sla_paused_seconds, c.created_at)
        late = []
        for priority in PRIORITIES:
            late.append(
                sa.and_(
                    c.priority == priority,
                    sa.or_(
                        sa.and_(
                            c.first_response_breached_at.is_(None),
                            c.first_response_at.is_(None),
                            started <= now - first_response[priority],
                        ),
                        sa.and_(c.resolution_breached_at.is_(None), started <= now - resolution[priority]),
                    ),
                )
            )
        query = sa.select(c.id).where(c.status == OPEN, sa.or_(*late)).order_by(c.created_at).limit(limit)
        return [int(i) for i in self.session.execute(query).scalars()]
