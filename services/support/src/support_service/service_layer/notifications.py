"""Inbox use cases: a user reads their notifications and marks them read; the reaction to
support's own events makes them (``notify_*``, on the repositories of the reaction's
transaction, so the inbox row of the event and its notifications commit together) and keeps
where customers have resources from compute's events (``record_resource``, ``forget_resource``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cpshared.clock import utcnow
from cpshared.errors import NotFound
from support_service.domain import notifications as rules
from support_service.domain.notifications import Notification
from support_service.service_layer.ports import CustomerResourceRepository, NotificationRepository, TicketRepository
from support_service.service_layer.unit_of_work import SupportUnitOfWork


def search(
    user_id: int, uow: SupportUnitOfWork, *, unread_only: bool, page: int, per_page: int
) -> tuple[list[Notification], int, int]:
    with uow:
        return uow.notifications.search(
            user_id, unread_only=unread_only, offset=(max(page, 1) - 1) * per_page, limit=per_page
        )


def mark_read(user_id: int, notification_id: str, uow: SupportUnitOfWork) -> Notification:
    with uow:
        uow.notifications.mark_read(user_id, notification_id, utcnow())
        found = uow.notifications.get(user_id, notification_id)
        if found is None:
            raise NotFound(f"notification {notification_id} does not exist")
        uow.commit()
    return found


def mark_all_read(user_id: int, uow: SupportUnitOfWork) -> int:
    with uow:
        marked = uow.notifications.mark_read(user_id, None, utcnow())
        uow.commit()
    return marked


def _write(found: list[Notification], inbox: NotificationRepository) -> list[Notification]:
    now = utcnow()
    for notification in found:
        inbox.add(notification, now)
    return found


def notify_reply(
    event_id: str,
    ticket_id: int,
    message_id: int,
    from_staff: bool,
    tickets: TicketRepository,
    inbox: NotificationRepository,
) -> list[Notification]:
    ticket = tickets.get(ticket_id)
    if ticket is None:
        return []
    return _write(rules.for_reply(event_id, ticket, message_id, from_staff), inbox)


def notify_status(
    event_id: str, ticket_id: int, status: str, tickets: TicketRepository, inbox: NotificationRepository
) -> list[Notification]:
    ticket = tickets.get(ticket_id)
    if ticket is None:
        return []
    return _write(rules.for_status(event_id, ticket, status), inbox)


def record_resource(
    resources: CustomerResourceRepository,
    resource_type: str,
    resource_id: int,
    user_id: int,
    organization_id: int | None,
    datacenter: str,
) -> None:
    if datacenter:
        resources.record(resource_type, resource_id, user_id, organization_id, datacenter, utcnow())


def forget_resource(resources: CustomerResourceRepository, resource_type: str, resource_id: int) -> None:
    resources.forget(resource_type, resource_id)


def notify_maintenance(
    event_id: str,
    event_type: str,
    data: dict[str, Any],
    datacenters: Sequence[str],
    resources: CustomerResourceRepository,
    inbox: NotificationRepository,
) -> list[Notification]:
    """Every customer with a resource in an affected datacenter hears of the window, once."""
    locations = sorted({name.split("-dc", 1)[0] for name in datacenters})
    users = [
        user_id
        for user_id, datacenter in resources.owners_near(locations)
        if any(rules.affects(window_dc, datacenter) for window_dc in datacenters)
    ]
    return _write(rules.for_maintenance(event_id, event_type, data, users), inbox)
