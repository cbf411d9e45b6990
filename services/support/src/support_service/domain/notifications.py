"""The in-app inbox: what the platform tells a person (the seed's ``notifications``: a type, the
one notified — ``notifiable_type`` ``user`` and its id —, data as JSON text, ``read_at``).

What notifies whom, so far (the other kinds of issue 19 — invoices, alerts, servers,
maintenance, sign-ins, quotas — and mail are still to come):

- ``ticket.replied`` by staff: ``ticket_replied`` to the customer who opened the ticket;
- ``ticket.status_changed`` to ``resolved``: ``ticket_resolved`` to that customer.

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
    return [Notification(notification_id(event_id, ticket.user_id), TICKET_REPLIED, USER, ticket.user_id, data)]


def for_status(event_id: str, ticket: Ticket, status: str) -> list[Notification]:
    if status != RESOLVED:
        return []
    return [
        Notification(notification_id(event_id, ticket.user_id), TICKET_RESOLVED, USER, ticket.user_id, _about(ticket))
    ]
