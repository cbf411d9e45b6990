"""Ticket use cases: opening, reading, the thread (replies, internal notes, attachments), the
customer's close, reopen and rating, staff's assignment and status, and the keeper's pass
(closing quiet resolved tickets, recording service-level breaches).

Two views reach a ticket (``View``): the customer's — the ticket must belong to the caller's
tenant (another's is NOT_FOUND) and internal notes do not exist — and the staff's, which
reaches every ticket and its notes. Which view a caller may use is the entrypoint's decision
(adapters/authorization.py).

Attachments are written to the object store before the transaction commits (under a fresh key
each); a commit that fails leaves the stored files unreferenced, and they are deleted then.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from cpshared.clock import utcnow
from cpshared.errors import InvalidInput, NotFound
from cpshared.logging import get_logger
from support_service.domain.attachments import AttachmentLimits, Upload, check_uploads
from support_service.domain.tickets import (
    CATEGORIES,
    PRIORITIES,
    STATUSES,
    Attachment,
    ServicePolicy,
    Ticket,
    TicketMessage,
    check_assignee,
    check_choice,
    check_message,
    check_related,
    check_related_owner,
    check_subject,
    ticket_number,
)
from support_service.service_layer.ports import Accounts, ObjectStore, ResourceOwners, TicketQuery
from support_service.service_layer.unit_of_work import SupportUnitOfWork, UnitOfWorkFactory

log = get_logger(__name__)

Reach = Callable[[Ticket], None]
"""Raises NotFound unless the caller reaches the ticket."""


@dataclass(frozen=True)
class View:
    """Who looks: ``staff`` (every ticket, internal notes) or a customer reaching with ``reach``."""

    actor_user_id: int
    staff: bool
    reach: Reach

    def check(self, ticket: Ticket) -> None:
        if not self.staff:
            self.reach(ticket)


@dataclass(frozen=True)
class Rules:
    policy: ServicePolicy
    limits: AttachmentLimits


@dataclass(frozen=True)
class NewTicket:
    user_id: int
    organization_id: int | None
    subject: str
    category: str
    priority: str
    message: str
    related_resource_type: str = ""
    related_resource_id: int = 0
    attachments: Sequence[tuple[str, bytes]] = field(default_factory=tuple)


def _store(store: ObjectStore, ticket_id: int, uploads: list[Upload], stored: list[str]) -> list[str]:
    """Each upload into the store under a fresh key; ``stored`` learns each key as soon as it is
    written, so a failure on the next leaves nothing behind unknown."""
    keys = []
    for upload in uploads:
        key = f"tickets/{ticket_id}/{uuid.uuid4().hex}"
        store.put(key, upload.content)
        stored.append(key)
        keys.append(key)
    return keys


def _write_message(
    uow: SupportUnitOfWork,
    store: ObjectStore,
    ticket: Ticket,
    author: int,
    text: str,
    uploads: list[Upload],
    *,
    from_staff: bool,
    internal: bool,
    now: datetime,
    stored: list[str],
) -> TicketMessage:
    message = uow.tickets.add_message(
        TicketMessage(
            id=0,
            ticket_id=ticket.id,
            user_id=author,
            message=text,
            from_staff=from_staff,
            is_internal_note=internal,
        ),
        now,
    )
    keys = _store(store, ticket.id, uploads, stored)
    for upload, key in zip(uploads, keys, strict=True):
        attachment = Attachment(
            id=0,
            ticket_id=ticket.id,
            message_id=message.id,
            uploaded_by=author,
            file_name=upload.file_name,
            content_type=upload.content_type,
            size=upload.size,
            sha256=upload.sha256,
            storage_key=key,
        )
        message.attachments.append(uow.tickets.add_attachment(attachment, now))
    if message.attachments:
        uow.tickets.set_message_attachments(message.id, [a.id for a in message.attachments])
    return message


def _forget(store: ObjectStore, keys: list[str]) -> None:
    for key in keys:
        try:
            store.delete(key)
        except OSError as exc:
            log.warning("attachment_cleanup_failed", key=key, error=str(exc))


def open_ticket(
    new: NewTicket, uow: SupportUnitOfWork, store: ObjectStore, rules: Rules, owners: ResourceOwners
) -> tuple[Ticket, TicketMessage]:
    """Open a ticket; a related resource must be the opener's own (asked of ``owners``)."""
    if new.user_id <= 0:
        raise InvalidInput("user_id must name the customer opening the ticket")
    subject = check_subject(new.subject)
    category = check_choice("category", new.category or "technical", CATEGORIES)
    priority = check_choice("priority", new.priority or "normal", PRIORITIES)
    related_type, related_id = check_related(new.related_resource_type, new.related_resource_id)
    text = check_message(new.message)
    uploads = check_uploads(list(new.attachments), rules.limits)
    if related_type is not None and related_id is not None:
        owner = owners.owner(related_type, related_id)
        check_related_owner(related_type, related_id, owner, new.user_id, new.organization_id)
    now = utcnow()
    stored: list[str] = []
    try:
        with uow:
            number = uow.tickets.next_number(now.year)
            ticket = Ticket(
                id=0,
                user_id=new.user_id,
                organization_id=new.organization_id,
                ticket_number=ticket_number(now.year, number),
                subject=subject,
                category=category,
                priority=priority,
                related_resource_type=related_type,
                related_resource_id=related_id,
            )
            uow.tickets.add(ticket, now)
            message = _write_message(
                uow, store, ticket, new.user_id, text, uploads, from_staff=False, internal=False, now=now, stored=stored
            )
            ticket.opened(message.id, len(message.attachments))
            uow.tickets.save(ticket, now)
            uow.commit()
    except BaseException:
        _forget(store, stored)
        raise
    log.info("ticket_opened", ticket_id=ticket.id, ticket_number=ticket.ticket_number)
    return ticket, message


def _reached(ticket_id: int, view: View, uow: SupportUnitOfWork, *, for_update: bool = False) -> Ticket:
    ticket = uow.tickets.get(ticket_id, for_update=for_update)
    if ticket is None:
        raise NotFound(f"ticket {ticket_id} does not exist")
    view.check(ticket)
    return ticket


def get(ticket_id: int, view: View, uow: SupportUnitOfWork) -> Ticket:
    with uow:
        return _reached(ticket_id, view, uow)


def search(query: TicketQuery, uow: SupportUnitOfWork) -> tuple[list[Ticket], int]:
    for status in query.statuses:
        check_choice("status", status, STATUSES)
    for priority in query.priorities:
        check_choice("priority", priority, PRIORITIES)
    for category in query.categories:
        check_choice("category", category, CATEGORIES)
    with uow:
        return uow.tickets.search(query)


def messages(ticket_id: int, view: View, uow: SupportUnitOfWork) -> list[TicketMessage]:
    with uow:
        _reached(ticket_id, view, uow)
        return uow.tickets.messages(ticket_id, with_notes=view.staff)


def add_message(
    ticket_id: int,
    view: View,
    text: str,
    attachments: Sequence[tuple[str, bytes]],
    uow: SupportUnitOfWork,
    store: ObjectStore,
    rules: Rules,
    *,
    internal: bool = False,
) -> tuple[TicketMessage, Ticket]:
    """A reply (both sides see it) or, in the staff view only, an internal note."""
    if internal and not view.staff:
        raise InvalidInput(
            "only support staff write internal notes",
            details={"fields": [{"name": "is_internal_note", "messages": ["not allowed"]}]},
        )
    body = check_message(text)
    uploads = check_uploads(list(attachments), rules.limits)
    now = utcnow()
    stored: list[str] = []
    try:
        with uow:
            ticket = _reached(ticket_id, view, uow, for_update=True)
            if not internal:
                ticket.ensure_writable()
            message = _write_message(
                uow,
                store,
                ticket,
                view.actor_user_id,
                body,
                uploads,
                from_staff=view.staff,
                internal=internal,
                now=now,
                stored=stored,
            )
            if internal:
                ticket.noted(view.actor_user_id, message.id)
            else:
                ticket.replied(view.actor_user_id, view.staff, message.id, len(message.attachments), now)
            ticket.record_breaches(rules.policy, now)
            uow.tickets.save(ticket, now)
            uow.commit()
    except BaseException:
        _forget(store, stored)
        raise
    return message, ticket


def attachment(
    ticket_id: int, attachment_id: int, view: View, uow: SupportUnitOfWork, store: ObjectStore
) -> tuple[Attachment, bytes]:
    """An attachment of a message the view may read (a note's is staff's only: NOT_FOUND else)."""
    with uow:
        _reached(ticket_id, view, uow)
        found = uow.tickets.attachment(ticket_id, attachment_id)
    if found is None or (found[1].is_internal_note and not view.staff):
        raise NotFound(f"attachment {attachment_id} of ticket {ticket_id} does not exist")
    return found[0], store.get(found[0].storage_key)


def _change(
    ticket_id: int, view: View, uow: SupportUnitOfWork, rules: Rules, change: Callable[[Ticket, datetime], object]
) -> Ticket:
    now = utcnow()
    with uow:
        ticket = _reached(ticket_id, view, uow, for_update=True)
        change(ticket, now)
        ticket.record_breaches(rules.policy, now)
        uow.tickets.save(ticket, now)
        uow.commit()
    return ticket


def close(ticket_id: int, view: View, uow: SupportUnitOfWork, rules: Rules) -> Ticket:
    reason = "staff" if view.staff else "customer"
    return _change(ticket_id, view, uow, rules, lambda ticket, now: ticket.close(reason, now))


def reopen(ticket_id: int, view: View, uow: SupportUnitOfWork, rules: Rules) -> Ticket:
    reason = "staff" if view.staff else "customer"
    return _change(ticket_id, view, uow, rules, lambda ticket, now: ticket.reopen(reason, now))


def rate(ticket_id: int, rating: int, view: View, uow: SupportUnitOfWork, rules: Rules) -> Ticket:
    return _change(ticket_id, view, uow, rules, lambda ticket, _: ticket.rate(rating))


def assign(
    ticket_id: int,
    staff_user_id: int | None,
    view: View,
    uow: SupportUnitOfWork,
    rules: Rules,
    accounts: Accounts,
) -> Ticket:
    """Staff's: the assignee is a staff member (an admin or support user, asked of ``accounts``),
    or nobody."""
    if staff_user_id is not None and staff_user_id <= 0:
        raise InvalidInput("assigned_to must be a staff member's user id, or null to unassign")
    if staff_user_id is not None:
        check_assignee(staff_user_id, accounts.role(staff_user_id))
    return _change(ticket_id, view, uow, rules, lambda ticket, _: ticket.assign(staff_user_id))


def set_status(ticket_id: int, status: str, view: View, uow: SupportUnitOfWork, rules: Rules) -> Ticket:
    return _change(ticket_id, view, uow, rules, lambda ticket, now: ticket.change_status(status, "staff", now))


# -- the keeper's pass ---------------------------------------------------------------------------


@dataclass(frozen=True)
class KeeperPass:
    closed: list[int]
    breaches: list[tuple[int, str]]


def keep(uows: UnitOfWorkFactory, rules: Rules, *, batch: int = 200) -> KeeperPass:
    """Close resolved tickets quiet for the quiet period; record breaches of open and pending
    tickets. One transaction per ticket (its row locked), so a crash loses nothing."""
    now = utcnow()
    with uows() as uow:
        quiet = uow.tickets.resolved_before(now - rules.policy.quiet_period, batch)
        policy = rules.policy
        candidates = uow.tickets.breach_candidates(now, policy.first_response, policy.resolution, batch)
    closed: list[int] = []
    for ticket_id in quiet:
        with uows() as uow:
            ticket = uow.tickets.get(ticket_id, for_update=True)
            if ticket is not None and ticket.close_if_quiet(rules.policy, now):
                uow.tickets.save(ticket, now)
                uow.commit()
                closed.append(ticket_id)
    breaches: list[tuple[int, str]] = []
    for ticket_id in candidates:
        with uows() as uow:
            ticket = uow.tickets.get(ticket_id, for_update=True)
            if ticket is None:
                continue
            found = ticket.record_breaches(rules.policy, now)
            if found:
                uow.tickets.save(ticket, now)
                uow.commit()
                breaches.extend((ticket_id, target) for target in found)
    if closed or breaches:
        log.info("ticket_keeper_pass", closed=len(closed), breaches=len(breaches))
    return KeeperPass(closed, breaches)
