"""Support tickets: a customer's question to support staff, its thread and its life.

- **Opening**: a customer (or an organization member, for the organization) opens a ticket with
  a subject, a category (technical, billing, abuse, sales, other), a priority (low, normal,
  high, urgent), an optional related resource of their own, and a first message. Its number,
  ``TKT-YYYY-NNNNNN``, counts the year's tickets without gaps.
- **Statuses** (a helpdesk's): ``open`` (support's turn) → ``pending`` (the customer's turn:
  a staff reply moves an open ticket there) → ``resolved`` → ``closed``. A customer's reply
  to a pending or resolved ticket opens it again; a resolved ticket reopens (``reopen``) and
  closes by itself after the quiet period; ``closed`` is final (a new question is a new
  ticket). Staff move a ticket along :data:`TRANSITIONS`; a customer closes or reopens only.
- **Messages** are text, stored as written (HTML is text: never rendered, so never run).
  Internal notes are staff's alone: recorded with their own event, never with content.
- **Rating**: the customer rates a resolved ticket once, 1 to 5.
- **Service levels** (:class:`ServicePolicy`): a first staff reply and a resolution are due
  within their priority's targets from the opening; a target passed is a breach, recorded
  once (``ticket.sla_breached``) and visible to staff. The clock stops while the ticket is
  ``pending`` (waiting on the customer): every due time moves by the time spent pending
  (``pending_since``, ``sla_paused_seconds``), and a pending ticket never breaches.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from cpshared.errors import Conflict, InvalidInput, PreconditionFailed
from support_service.domain.aggregate import Aggregate

CATEGORIES: Final = ("technical", "billing", "abuse", "sales", "other")
PRIORITIES: Final = ("low", "normal", "high", "urgent")
OPEN: Final = "open"
PENDING: Final = "pending"
RESOLVED: Final = "resolved"
CLOSED: Final = "closed"
STATUSES: Final = (OPEN, PENDING, RESOLVED, CLOSED)
TRANSITIONS: Final[Mapping[str, frozenset[str]]] = {
    OPEN: frozenset({PENDING, RESOLVED, CLOSED}),
    PENDING: frozenset({OPEN, RESOLVED, CLOSED}),
    RESOLVED: frozenset({OPEN, CLOSED}),
    CLOSED: frozenset(),
}
# The resources a ticket may be about: those the platform keeps today (support asks compute
# whose the one named is: :func:`check_related_owner`).
RESOURCE_TYPES: Final = ("server", "placement_group", "ssh_key")
STAFF_ROLES: Final = frozenset({"admin", "support"})
"""The platform roles a ticket may be assigned to."""
MAX_SUBJECT: Final = 255
# ticket_messages.message is a TEXT (65,535 bytes): 10,000 characters fit in any UTF-8.
MAX_MESSAGE: Final = 10_000
FIRST_RESPONSE: Final = "first_response"
RESOLUTION: Final = "resolution"
RATINGS: Final = range(1, 6)


def field_error(name: str, message: str) -> InvalidInput:
    return InvalidInput(message, details={"fields": [{"name": name, "messages": [message]}]})


def _controls(text: str, allowed: str = "") -> bool:
    return any(unicodedata.category(ch) == "Cc" and ch not in allowed for ch in text)


def check_subject(subject: str) -> str:
    if not subject.strip() or len(subject) > MAX_SUBJECT:
        raise field_error("subject", f"subject must be 1 to {MAX_SUBJECT} characters")
    if _controls(subject):
        raise field_error("subject", "subject must be one line without control characters")
    return subject.strip()


def check_message(message: str, name: str = "message") -> str:
    if not message.strip():
        raise field_error(name, f"{name} must not be empty")
    if len(message) > MAX_MESSAGE:
        raise field_error(name, f"{name} must be at most {MAX_MESSAGE} characters; attach longer text as a file")
    if _controls(message, "\n\r\t"):
        raise field_error(name, f"{name} must be text: no control characters but line breaks and tabs")
    return message


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise field_error(name, f"{name} {value!r} is unknown; use one of {', '.join(choices)}")
    return value


def check_related(resource_type: str, resource_id: int) -> tuple[str | None, int | None]:
    """The related resource (type, id), both None when none is named."""
    if not resource_type and not resource_id:
        return None, None
    check_choice("related_resource.type", resource_type, RESOURCE_TYPES)
    if resource_id <= 0:
        raise field_error("related_resource.id", "related_resource.id must be the id of one of your resources")
    return resource_type, resource_id


def check_related_owner(
    resource_type: str,
    resource_id: int,
    owner: tuple[int, int | None] | None,
    user_id: int,
    organization_id: int | None,
) -> None:
    """The related resource must be the opener's: their own (bound to no organization) when they
    act for themselves, the organization's when they act for one. ``owner``: (user, organization)
    of the resource as compute knows it, None when it does not exist. Another tenant's resource
    reads like one that does not exist."""
    if owner is not None:
        owner_user, owner_organization = owner
        if owner_organization is not None and owner_organization == organization_id:
            return
        if owner_organization is None and organization_id is None and owner_user == user_id:
            return
    raise field_error("related_resource", f"{resource_type} {resource_id} is not one of your resources")


def check_assignee(user_id: int, role: str | None) -> None:
    """A ticket is assigned to a staff member (an admin or support user): ``role`` is the
    user's platform role, None when there is no such user."""
    if role is None:
        raise field_error("assigned_to", f"user {user_id} does not exist")
    if role not in STAFF_ROLES:
        raise field_error("assigned_to", f"user {user_id} is not support staff; assign an admin or support user")


def ticket_number(year: int, number: int) -> str:
    return f"TKT-{year:04d}-{number:06d}"


@dataclass(frozen=True)
class ServicePolicy:
    """Targets per priority, from the ticket's opening, and the quiet period after which a
    resolved ticket closes itself."""

    first_response: Mapping[str, timedelta]
    resolution: Mapping[str, timedelta]
    quiet_period: timedelta


@dataclass(frozen=True)
class ServiceLevel:
    first_response_due_at: datetime
    resolution_due_at: datetime
    first_response_breached: bool
    resolution_breached: bool


@dataclass
class Ticket(Aggregate):
    id: int
    user_id: int
    organization_id: int | None
    ticket_number: str
    subject: str
    category: str
    priority: str
    status: str = OPEN
    assigned_to: int | None = None
    related_resource_type: str | None = None
    related_resource_id: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    satisfaction_rating: int | None = None
    first_response_at: datetime | None = None
    first_response_breached_at: datetime | None = None
    resolution_breached_at: datetime | None = None
    version: int = 1
    pending_since: datetime | None = None
    """Since when the ticket waits on the customer (the service-level clock stopped)."""
    sla_paused_seconds: int = 0
    """How long the clock was stopped before, in whole seconds."""

    # -- reading ------------------------------------------------------------------------------

    def belongs_to(self, user_id: int, organization_id: int | None) -> bool:
        """Whether a customer acting as ``user_id`` for ``organization_id`` (None: itself) reaches it."""
        if self.organization_id is not None:
            return organization_id == self.organization_id
        return organization_id is None and user_id == self.user_id

    def paused(self, now: datetime) -> timedelta:
        """How long the service-level clock has been stopped (pending) up to ``now``."""
        paused = timedelta(seconds=self.sla_paused_seconds)
        if self.pending_since is not None:
            paused += max(now - self.pending_since, timedelta(0))
        return paused

    def service_level(self, policy: ServicePolicy, now: datetime) -> ServiceLevel:
        assert self.created_at is not None
        paused = self.paused(now)
        first_due = self.created_at + policy.first_response[self.priority] + paused
        resolution_due = self.created_at + policy.resolution[self.priority] + paused
        answered = self.first_response_at or self.closed_at or now
        resolved = self.resolved_at or self.closed_at or now
        return ServiceLevel(
            first_response_due_at=first_due,
            resolution_due_at=resolution_due,
            first_response_breached=answered > first_due,
            resolution_breached=resolved > resolution_due,
        )

    # -- changing -----------------------------------------------------------------------------

    def opened(self, message_id: int, attachment_count: int) -> None:
        """Record the opening, once the repository gave the ticket and its first message ids."""
        self._record(
            "ticket.opened",
            ticket_number=self.ticket_number,
            subject=self.subject,
            category=self.category,
            priority=self.priority,
            related_resource_type=self.related_resource_type or "",
            related_resource_id=self.related_resource_id or 0,
            message_id=message_id,
            attachment_count=attachment_count,
        )

    def ensure_writable(self) -> None:
        if self.status == CLOSED:
            raise PreconditionFailed(f"ticket {self.ticket_number} is closed; open a new ticket to ask again")

    def replied(
        self, author_user_id: int, from_staff: bool, message_id: int, attachment_count: int, now: datetime
    ) -> None:
        """A message both sides see: staff's first reply answers the ticket and hands it to the
        customer (open → pending); a customer's reply hands it back (pending/resolved → open)."""
        self.ensure_writable()
        self.version += 1
        if from_staff:
            if self.first_response_at is None:
                self.first_response_at = now
            if self.status == OPEN:
                self._move(PENDING, "staff_reply", now)
        elif self.status in (PENDING, RESOLVED):
            self._move(OPEN, "customer_reply", now)
        self._record(
            "ticket.replied",
            message_id=message_id,
            author_user_id=author_user_id,
            from_staff=from_staff,
            attachment_count=attachment_count,
        )

    def noted(self, author_user_id: int, message_id: int) -> None:
        """Staff added an internal note: announced without its content."""
        self.version += 1
        self._record("ticket.internal_note_added", message_id=message_id, author_user_id=author_user_id)

    def assign(self, staff_user_id: int | None) -> bool:
        if staff_user_id == self.assigned_to:
            return False
        self.ensure_writable()
        old, self.assigned_to = self.assigned_to, staff_user_id
        self.version += 1
        self._record("ticket.assigned", assigned_to=staff_user_id or 0, old_assigned_to=old or 0)
        return True

    def change_status(self, status: str, reason: str, now: datetime) -> None:
        """Staff's move along :data:`TRANSITIONS`."""
        check_choice("status", status, STATUSES)
        if status == self.status:
            raise PreconditionFailed(f"ticket {self.ticket_number} is {status} already")
        if status not in TRANSITIONS[self.status]:
            allowed = ", ".join(sorted(TRANSITIONS[self.status])) or "nothing (it is final)"
            raise PreconditionFailed(
                f"ticket {self.ticket_number} is {self.status}: it can move to {allowed}, not to {status}"
            )
        self.version += 1
        self._move(status, reason, now)

    def close(self, reason: str, now: datetime) -> None:
        self.ensure_writable()
        self.change_status(CLOSED, reason, now)

    def reopen(self, reason: str, now: datetime) -> None:
        if self.status != RESOLVED:
            raise PreconditionFailed(
                f"ticket {self.ticket_number} is {self.status}; only a resolved ticket can be reopened"
                + (" (a closed one is final: open a new ticket)" if self.status == CLOSED else "")
            )
        self.change_status(OPEN, reason, now)

    def rate(self, rating: int) -> None:
        if rating not in RATINGS:
            raise field_error("rating", "rating must be a whole number from 1 to 5")
        if self.resolved_at is None or self.status not in (RESOLVED, CLOSED):
            raise PreconditionFailed(f"ticket {self.ticket_number} is {self.status}; rate it once it is resolved")
        if self.satisfaction_rating is not None:
            raise Conflict(f"ticket {self.ticket_number} is rated already ({self.satisfaction_rating})")
        self.satisfaction_rating = rating
        self.version += 1
        self._record("ticket.rated", rating=rating)

    def close_if_quiet(self, policy: ServicePolicy, now: datetime) -> bool:
        """A resolved ticket no one wrote to for the quiet period closes itself."""
        if self.status != RESOLVED or self.resolved_at is None or now < self.resolved_at + policy.quiet_period:
            return False
        self.version += 1
        self._move(CLOSED, "quiet_period", now)
        return True

    def record_breaches(self, policy: ServicePolicy, now: datetime) -> list[str]:
        """Record each target passed, once; the targets recorded now."""
        if self.status == PENDING:
            return []  # the clock is stopped
        level = self.service_level(policy, now)
        found = []
        if level.first_response_breached and self.first_response_breached_at is None:
            self.first_response_breached_at = now
            found.append((FIRST_RESPONSE, level.first_response_due_at))
        if level.resolution_breached and self.resolution_breached_at is None:
            self.resolution_breached_at = now
            found.append((RESOLUTION, level.resolution_due_at))
        for target, due in found:
            self.version += 1
            self._record("ticket.sla_breached", target=target, due_at=due, priority=self.priority)
        return [target for target, _ in found]

    def _move(self, status: str, reason: str, now: datetime) -> None:
        old, self.status = self.status, status
        if old == PENDING and self.pending_since is not None:
            self.sla_paused_seconds += int(max(now - self.pending_since, timedelta(0)).total_seconds())
            self.pending_since = None
        if status == PENDING:
            self.pending_since = now
        if status == RESOLVED:
            self.resolved_at = now
        elif status in (OPEN, PENDING):
            self.resolved_at = None
        if status == CLOSED:
            self.closed_at = now
        self._record("ticket.status_changed", old_status=old, status=status, reason=reason)

    def _record(self, event_type: str, **fields: Any) -> None:
        owner = {"ticket_id": self.id, "user_id": self.user_id, "organization_id": self.organization_id or 0}
        self._emit(event_type, self.id, self.version, {**owner, **fields})


@dataclass
class Attachment:
    id: int
    ticket_id: int
    message_id: int
    uploaded_by: int
    file_name: str
    content_type: str
    size: int
    sha256: str
    storage_key: str
    created_at: datetime | None = None


@dataclass
class TicketMessage:
    id: int
    ticket_id: int
    user_id: int
    message: str
    from_staff: bool
    is_internal_note: bool
    created_at: datetime | None = None
    attachments: list[Attachment] = field(default_factory=list)
