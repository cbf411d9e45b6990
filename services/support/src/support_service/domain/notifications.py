"""The in-app inbox: what the platform tells a person (the seed's ``notifications``: a type, the
one notified — ``notifiable_type`` ``user`` and its id —, data as JSON text, ``read_at``).

What notifies whom (the kinds beyond tickets and maintenance are at the end of this module;
monitoring's alerts in domain/monitoring_notices.py):

- ``ticket.replied`` by staff: ``ticket_replied`` to the customer who opened the ticket;
- ``ticket.status_changed`` to ``resolved``: ``ticket_resolved`` to that customer;
- ``maintenance.scheduled``, ``.started``, ``.completed``: ``maintenance_scheduled``,
  ``maintenance_started``, ``maintenance_completed`` to every customer with a resource in an
  affected datacenter (:func:`affects`), once each.

An internal note notifies nobody. A notification's id is a function of the event and the
person, so the same event never notifies the same person twice.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from support_service.domain.tickets import RESOLVED, Ticket

USER: Final = "user"
TICKET_REPLIED: Final = "ticket_replied"
TICKET_RESOLVED: Final = "ticket_resolved"
MAINTENANCE_KINDS: Final = {
    "maintenance.scheduled": "maintenance_scheduled",
    "maintenance.started": "maintenance_started",
    "maintenance.completed": "maintenance_completed",
}
NAMESPACE: Final = uuid.UUID("3b7c4e0a-2f51-4c55-9d35-6a0f3f1d2c11")


@dataclass
class Notification:
    id: str
    type: str
    notifiable_type: str
    notifiable_id: int
    data: dict[str, Any]
    read_at: datetime | None = None
    created_at: datetime | None = None
    source_event_id: str = ""
    """The event that made it (not stored: announced in ``notification.created``)."""

    def data_text(self) -> str:
        return json.dumps(self.data, ensure_ascii=False, sort_keys=True)


def notification_id(event_id: str, user_id: int) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{event_id}\x1f{USER}\x1f{user_id}"))


def _about(ticket: Ticket) -> dict[str, Any]:
    return {"ticket_id": ticket.id, "ticket_number": ticket.ticket_number, "subject": ticket.subject}


def for_reply(event_id: str, ticket: Ticket, message_id: int, from_staff: bool) -> list[Notification]:
    if not from_staff:
        return []
    data = {**_about(ticket), "message_id": message_id}
    return [
        Notification(
            notification_id(event_id, ticket.user_id),
            TICKET_REPLIED,
            USER,
            ticket.user_id,
            data,
            source_event_id=event_id,
        )
    ]


def for_status(event_id: str, ticket: Ticket, status: str) -> list[Notification]:
    if status != RESOLVED:
        return []
    return [
        Notification(
            notification_id(event_id, ticket.user_id),
            TICKET_RESOLVED,
            USER,
            ticket.user_id,
            _about(ticket),
            source_event_id=event_id,
        )
    ]


def _location(datacenter: str) -> str:
    return datacenter.split("-dc", 1)[0]


def affects(window_datacenter: str, resource_datacenter: str) -> bool:
    """Whether a window naming ``window_datacenter`` (``fsn1-dc14`` or the location ``fsn1``)
    affects a resource in ``resource_datacenter`` (either form): the same datacenter, or a
    location and a datacenter in it."""
    if _location(window_datacenter) != _location(resource_datacenter):
        return False
    precise = "-dc" in window_datacenter and "-dc" in resource_datacenter
    return window_datacenter == resource_datacenter if precise else True


def for_maintenance(event_id: str, event_type: str, data: dict[str, Any], user_ids: list[int]) -> list[Notification]:
    kind = MAINTENANCE_KINDS.get(event_type)
    if kind is None:
        return []
    return [
        Notification(notification_id(event_id, user_id), kind, USER, user_id, dict(data), source_event_id=event_id)
        for user_id in sorted(set(user_ids))
    ]


# Beyond tickets and maintenance: billing's, identity's and compute's events (issue 19).
INVOICE_KINDS: Final = {
    "invoice.issued": "invoice_issued",
    "invoice.overdue": "invoice_overdue",
    "invoice.payment_received": "payment_recorded",
}
ACCOUNT_KINDS: Final = {
    "user.suspended": "account_suspended",
    "user.activated": "account_activated",
    "organization.suspended": "account_suspended",
    "organization.activated": "account_activated",
}
"""An account's suspension and its lift, as identity (the owner of accounts' status) announces
them: by billing's dunning (``billing.suspension_requested`` acted on, ``billing.suspension_lifted``
acted on) or by staff. Billing's request itself notifies nobody: the suspension it leads to does,
once, and so does the reactivation its lift leads to."""
ACCOUNT_CONTACT_ROLES: Final = frozenset({"owner", "admin", "billing"})
"""An organization's members who hear of its suspension and its reactivation."""
NEW_SIGN_IN: Final = "new_sign_in"
SERVER_ERROR: Final = "server_error"
QUOTA_REACHED: Final = "quota_reached"
BILLING_ROLES: Final = frozenset({"owner", "billing"})
"""An organization's members who hear of its invoices and payments."""
OPERATING_ROLES: Final = frozenset({"owner", "admin"})
"""An organization's members who hear of its servers' failures (and the user who made the server)."""


def account_status_notice(old_status: str, new_status: str, requested_by: str) -> dict[str, Any] | None:
    """What an account's status change tells its contacts, or None when it tells them nothing
    (an account made active from ``pending`` — a first activation — is not a lift)."""
    suspended = new_status == "suspended" and old_status != "suspended"
    lifted = new_status == "active" and old_status in ("suspended", "banned")
    if not (suspended or lifted):
        return None
    return {"status": new_status, "cause": "billing" if requested_by == "billing" else "staff"}


def for_people(event_id: str, kind: str, data: dict[str, Any], user_ids: list[int]) -> list[Notification]:
    """``kind`` with ``data`` to each of ``user_ids`` once (0 is nobody)."""
    return [
        Notification(notification_id(event_id, user_id), kind, USER, user_id, dict(data), source_event_id=event_id)
        for user_id in sorted(set(user_ids))
        if user_id > 0
    ]
