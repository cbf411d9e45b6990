"""Inbox use cases: a user reads their notifications and marks them read; the reaction to
support's own events makes them (``notify_*``, on the repositories of the reaction's
transaction, so the inbox row of the event and its notifications commit together) and keeps
where customers have resources from compute's events (``record_resource``, ``forget_resource``)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any

from cpshared.clock import utcnow
from cpshared.errors import NotFound
from cpshared.events.catalog import REGISTRY
from cpshared.events.envelope import PendingEvent, deterministic_event_id, new_event
from support_service import SERVICE_NAME
from support_service.domain import delivery as channels
from support_service.domain import monitoring_notices as monitoring
from support_service.domain import notifications as rules
from support_service.domain import webhooks
from support_service.domain.delivery import Delivery
from support_service.domain.notifications import Notification
from support_service.service_layer.ports import (
    AudienceRepository,
    CustomerResourceRepository,
    DeliveryRepository,
    NotificationRepository,
    PreferenceRepository,
    TicketRepository,
)
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


class Outlets:
    """Where the reaction's notifications go, on its transaction: the inbox, the mail
    deliveries, and the preferences that choose between them."""

    def __init__(
        self,
        inbox: NotificationRepository,
        deliveries: DeliveryRepository,
        preferences: PreferenceRepository,
        announce: Callable[[list[PendingEvent]], object],
    ) -> None:
        self.inbox = inbox
        self.deliveries = deliveries
        self.preferences = preferences
        self.announce = announce
        """Writes events into the outbox of the reaction's transaction, once by their ids."""


def _write(
    found: list[Notification], outlets: Outlets, allowed: Sequence[str] = channels.CHANNELS
) -> list[Notification]:
    """Each notification into the inbox and as a pending mail, as its user chose (both by
    default; only the ``allowed`` channels); the delivery's key (notification, channel) makes it
    once however often this runs."""
    now = utcnow()
    chosen: dict[int, dict[tuple[str, str], bool]] = {}
    announced: list[PendingEvent] = []
    for notification in found:
        user_id = notification.notifiable_id
        if user_id not in chosen:
            chosen[user_id] = outlets.preferences.chosen(user_id)
        on = [c for c in allowed if channels.effective(notification.type, c, chosen[user_id])]
        if channels.IN_APP in on:
            outlets.inbox.add(notification, now)
        if on:
            announced.append(_created(notification, on))
        if channels.EMAIL in on:
            outlets.deliveries.add(
                channels.Delivery(
                    id=channels.delivery_id(notification.id, channels.EMAIL),
                    notification_id=notification.id,
                    channel=channels.EMAIL,
                    user_id=user_id,
                    type=notification.type,
                    data=dict(notification.data),
                ),
                now,
            )
    if announced:
        outlets.announce(announced)
    return found


def _created(notification: Notification, on: list[str]) -> PendingEvent:
    """``notification.created``: once per notification (its id is a function of the notification's)."""
    spec = REGISTRY.spec("notification.created")
    return new_event(
        spec,
        producer=SERVICE_NAME,
        aggregate_id=notification.id,
        aggregate_version=1,
        payload=spec.message(
            notification_id=notification.id,
            user_id=notification.notifiable_id,
            kind=notification.type,
            channels=on,
            source_event_id=notification.source_event_id,
        ),
        event_id=deterministic_event_id("notification.created", notification.id),
    )


def notify_reply(
    event_id: str,
    ticket_id: int,
    message_id: int,
    from_staff: bool,
    tickets: TicketRepository,
    outlets: Outlets,
) -> list[Notification]:
    ticket = tickets.get(ticket_id)
    if ticket is None:
        return []
    return _write(rules.for_reply(event_id, ticket, message_id, from_staff), outlets)


def notify_status(
    event_id: str, ticket_id: int, status: str, tickets: TicketRepository, outlets: Outlets
) -> list[Notification]:
    ticket = tickets.get(ticket_id)
    if ticket is None:
        return []
    return _write(rules.for_status(event_id, ticket, status), outlets)


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
    outlets: Outlets,
) -> list[Notification]:
    """Every customer with a resource in an affected datacenter hears of the window, once."""
    locations = sorted({name.split("-dc", 1)[0] for name in datacenters})
    users = [
        user_id
        for user_id, datacenter in resources.owners_near(locations)
        if any(rules.affects(window_dc, datacenter) for window_dc in datacenters)
    ]
    return _write(rules.for_maintenance(event_id, event_type, data, users), outlets)


def preferences(user_id: int, uow: SupportUnitOfWork) -> list[channels.Preference]:
    """Every kind and channel with the user's effective setting."""
    with uow:
        return channels.every_preference(uow.preferences.chosen(user_id))


def set_preferences(
    user_id: int, wanted: Sequence[channels.Preference], uow: SupportUnitOfWork
) -> list[channels.Preference]:
    """Set the user's choices (each kind and channel checked; nothing changes when one is unknown)."""
    for preference in wanted:
        channels.check_preference(preference.kind, preference.channel)
    with uow:
        uow.preferences.set(user_id, {(p.kind, p.channel): p.enabled for p in wanted}, utcnow())
        uow.commit()
    return preferences(user_id, uow)


def record_member(audience: AudienceRepository, organization_id: int, user_id: int, role: str) -> None:
    if organization_id and user_id:
        audience.set_member(organization_id, user_id, role, utcnow())


def remove_member(audience: AudienceRepository, organization_id: int, user_id: int) -> None:
    audience.remove_member(organization_id, user_id)


def forget_user(audience: AudienceRepository, user_id: int) -> None:
    audience.forget_user(user_id)


def notify_billing(
    event_id: str,
    kind: str,
    data: dict[str, Any],
    user_id: int,
    organization_id: int,
    audience: AudienceRepository,
    outlets: Outlets,
) -> list[Notification]:
    """An invoice, payment or suspension: the account's user, or for an organization its
    owners and billing members (the invoice's user when support knows no member yet)."""
    people = audience.members(organization_id, rules.BILLING_ROLES) if organization_id else []
    return _write(rules.for_people(event_id, kind, data, people or [user_id]), outlets)


def notify_user(event_id: str, kind: str, data: dict[str, Any], user_id: int, outlets: Outlets) -> list[Notification]:
    return _write(rules.for_people(event_id, kind, data, [user_id]), outlets)


def notify_account_status(
    event_id: str,
    kind: str,
    old_status: str,
    new_status: str,
    requested_by: str,
    user_id: int,
    organization_id: int,
    audience: AudienceRepository,
    outlets: Outlets,
) -> list[Notification]:
    """An account suspended or active again (by billing's dunning or by staff): a user's own
    account tells the user; an organization's tells its owners, admins and billing members."""
    data = rules.account_status_notice(old_status, new_status, requested_by)
    if data is None:
        return []
    if organization_id:
        data["organization_id"] = organization_id
        people = audience.members(organization_id, rules.ACCOUNT_CONTACT_ROLES)
    else:
        people = [user_id]
    return _write(rules.for_people(event_id, kind, data, people), outlets)


def notify_monitoring(
    event_id: str,
    event_type: str,
    occurred_at: str,
    data: dict[str, Any],
    user_id: int,
    organization_id: int,
    outlets: Outlets,
) -> Delivery | None:
    """A monitoring notice (an alert triggered or resolved): one ``channels`` delivery, written
    once, that the sender turns into what the rule's channels name (:func:`fan_out`)."""
    notice = monitoring.NOTICES.get(event_type)
    if notice is None or user_id <= 0:
        return None
    source_id = int(data.get(notice.source_field) or 0)
    notification_id = rules.notification_id(event_id, user_id)
    delivery = channels.Delivery(
        id=channels.delivery_id(notification_id, channels.FAN_OUT),
        notification_id=notification_id,
        channel=channels.FAN_OUT,
        user_id=user_id,
        type=notice.kind,
        data={
            "event_id": event_id,
            "event_type": event_type,
            "occurred_at": occurred_at,
            "organization_id": organization_id,
            "source": notice.source,
            "source_id": source_id,
            "notice": data,
        },
    )
    outlets.deliveries.add(delivery, utcnow())
    return delivery


def fan_out(
    delivery: channels.Delivery, found: list[monitoring.Channel] | None, audience: AudienceRepository, outlets: Outlets
) -> list[channels.Delivery]:
    """Write what a ``channels`` delivery's channels name (``found``; None: the owner's own
    channels, as their preferences say): the owner's in-app notifications, a mail per address and
    a webhook per URL, each once by its id. Returns the addressed deliveries."""
    data = delivery.data
    event_id = str(data["event_id"])
    organization_id = int(data.get("organization_id") or 0)
    notice = dict(data.get("notice") or {})
    if monitoring.wants_inbox(found):
        operators = audience.members(organization_id, rules.OPERATING_ROLES) if organization_id else []
        people = rules.for_people(event_id, delivery.type, notice, [delivery.user_id, *operators])
        _write(people, outlets, channels.CHANNELS if found is None else (channels.IN_APP,))
    addressed = monitoring.addressed(
        event_id,
        str(data.get("event_type", "")),
        str(data.get("occurred_at", "")),
        delivery.type,
        delivery.user_id,
        organization_id,
        notice,
        found or [],
    )
    now = utcnow()
    for one in addressed:
        outlets.deliveries.add(one, now)
    return addressed


def notify_sign_in(
    event_id: str, user_id: int, ip: str, signed_in_at: str, audience: AudienceRepository, outlets: Outlets
) -> list[Notification]:
    """A sign-in from an address the user never signed in from before (their very first one
    notifies nobody); the address is kept only as its SHA-256."""
    if not ip:
        return []
    new, had_before = audience.remember_address(user_id, hashlib.sha256(ip.encode()).hexdigest(), utcnow())
    if not (new and had_before):
        return []
    return _write(
        rules.for_people(event_id, rules.NEW_SIGN_IN, {"ip": ip, "signed_in_at": signed_in_at}, [user_id]), outlets
    )


def notify_server_error(
    event_id: str,
    server_id: int,
    user_id: int,
    organization_id: int,
    old_status: str,
    status: str,
    error_code: str,
    audience: AudienceRepository,
    outlets: Outlets,
) -> list[Notification]:
    """A server that went into ``error``: the user who made it, and an organization's owners and admins."""
    if status != "error" or old_status == "error":
        return []
    people = [user_id, *(audience.members(organization_id, rules.OPERATING_ROLES) if organization_id else [])]
    data = {"server_id": server_id, "error_code": error_code or "unknown"}
    return _write(rules.for_people(event_id, rules.SERVER_ERROR, data, people), outlets)


def notify_quota(
    event_id: str,
    resource_type: str,
    current_usage: int,
    quota_limit: int,
    user_id: int,
    organization_id: int,
    audience: AudienceRepository,
    outlets: Outlets,
) -> list[Notification]:
    """A reservation that used a quota up: the user, or an organization's owners and admins."""
    if quota_limit <= 0 or current_usage < quota_limit:
        return []
    people = audience.members(organization_id, rules.OPERATING_ROLES) if organization_id else [user_id]
    data = {"resource_type": resource_type, "current_usage": current_usage, "quota_limit": quota_limit}
    return _write(rules.for_people(event_id, rules.QUOTA_REACHED, data, people), outlets)


def webhook_secret(user_id: int, organization_id: int, uow: SupportUnitOfWork) -> str:
    """The secret that signs the account's webhooks (the organization's when one is named),
    made on first use."""
    account_type, account_id = monitoring.account_of(user_id, organization_id)
    with uow:
        secret = uow.webhook_secrets.secret(account_type, account_id, utcnow())
        uow.commit()
    return secret


def rotate_webhook_secret(user_id: int, organization_id: int, uow: SupportUnitOfWork) -> str:
    """A new secret for the account; webhooks sent from now on (retries too) are signed with it."""
    account_type, account_id = monitoring.account_of(user_id, organization_id)
    secret = webhooks.new_secret()
    with uow:
        uow.webhook_secrets.rotate(account_type, account_id, secret, utcnow())
        uow.commit()
    return secret
