"""The outside world as support's service layer sees it: its repositories (MariaDB, in
``adapters/``) and the object store attachments live in."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from support_service.domain.delivery import Delivery
from support_service.domain.mail_templates import Recipient
from support_service.domain.maintenance import MaintenanceWindow
from support_service.domain.monitoring_notices import Channel
from support_service.domain.notifications import Notification
from support_service.domain.tickets import Attachment, Ticket, TicketMessage


@dataclass(frozen=True)
class TicketQuery:
    """A search of tickets. Tenancy: ``user_id`` and/or ``organization_id`` (None both: every
    tenant's, the staff view)."""

    user_id: int | None = None
    organization_id: int | None = None
    statuses: Sequence[str] = ()
    priorities: Sequence[str] = ()
    categories: Sequence[str] = ()
    assigned_to: int | None = None
    unassigned: bool = False
    customer_user_id: int | None = None
    customer_organization_id: int | None = None
    text: str = ""
    """In the number, the subject or a message (internal notes only when ``with_notes``)."""
    with_notes: bool = False
    breached: bool = False
    order: Sequence[tuple[str, bool]] = ()
    offset: int = 0
    limit: int = 25


class TicketRepository(Protocol):
    seen: list[Ticket]

    def next_number(self, year: int) -> int:
        """The year's next ticket number, taken in this transaction (given back by a rollback)."""

    def add(self, ticket: Ticket, now: datetime) -> Ticket: ...

    def get(self, ticket_id: int, *, for_update: bool = False) -> Ticket | None: ...

    def save(self, ticket: Ticket, now: datetime) -> None: ...

    def search(self, query: TicketQuery) -> tuple[list[Ticket], int]: ...

    def add_message(self, message: TicketMessage, now: datetime) -> TicketMessage: ...

    def add_attachment(self, attachment: Attachment, now: datetime) -> Attachment: ...

    def set_message_attachments(self, message_id: int, attachment_ids: Iterable[int]) -> None: ...

    def messages(self, ticket_id: int, *, with_notes: bool) -> list[TicketMessage]: ...

    def attachment(self, ticket_id: int, attachment_id: int) -> tuple[Attachment, TicketMessage] | None:
        """The attachment of the ticket and the message it belongs to."""

    def resolved_before(self, instant: datetime, limit: int) -> list[int]:
        """Ids of resolved tickets resolved before ``instant``."""

    def breach_candidates(
        self, now: datetime, first_response: Mapping[str, timedelta], resolution: Mapping[str, timedelta], limit: int
    ) -> list[int]:
        """Ids of open and pending tickets with a target passed at ``now`` and not recorded yet."""


class MaintenanceRepository(Protocol):
    seen: list[MaintenanceWindow]

    def add(self, window: MaintenanceWindow, now: datetime) -> MaintenanceWindow: ...

    def get(self, window_id: int, *, for_update: bool = False) -> MaintenanceWindow | None: ...

    def save(self, window: MaintenanceWindow, now: datetime) -> None: ...

    def search(
        self, statuses: Sequence[str], *, upcoming_first: bool, offset: int, limit: int
    ) -> tuple[list[MaintenanceWindow], int]:
        """Windows in ``statuses`` (empty: any); soonest start first with ``upcoming_first``,
        else the newest first."""

    def due(self, now: datetime, limit: int) -> list[int]:
        """Ids of scheduled windows whose start, and running ones whose end, has come."""


class NotificationRepository(Protocol):
    def add(self, notification: Notification, now: datetime) -> None:
        """Once: a notification whose id exists is not written again."""

    def search(
        self, user_id: int, *, unread_only: bool, offset: int, limit: int
    ) -> tuple[list[Notification], int, int]:
        """One page of the user's notifications (newest first), how many match, how many are unread."""

    def get(self, user_id: int, notification_id: str) -> Notification | None: ...

    def mark_read(self, user_id: int, notification_id: str | None, now: datetime) -> int:
        """Mark one (or, with None, every) unread notification of the user read; how many."""


class CustomerResourceRepository(Protocol):
    """Where customers have resources, as compute's events told support."""

    def record(
        self,
        resource_type: str,
        resource_id: int,
        user_id: int,
        organization_id: int | None,
        datacenter: str,
        now: datetime,
    ) -> None: ...

    def forget(self, resource_type: str, resource_id: int) -> None: ...

    def owners_near(self, locations: Sequence[str]) -> list[tuple[int, str]]:
        """(user id, datacenter) of every resource in one of ``locations`` or their datacenters."""


class DeliveryRepository(Protocol):
    """Mail deliveries of notifications, one per notification and channel."""

    def add(self, delivery: Delivery, now: datetime) -> None:
        """Once: a second delivery of the same notification and channel is not written."""

    def claim_due(self, now: datetime, lease_until: datetime, limit: int) -> list[Delivery]:
        """Pending deliveries due at ``now``, locked past other senders and leased until ``lease_until``."""

    def record_sent(self, delivery_id: str, message_id: str, now: datetime) -> None: ...

    def record_failure(self, delivery_id: str, error: str, retry_at: datetime | None, now: datetime) -> None:
        """A failed attempt: due again at ``retry_at``, or failed for good when None."""

    def get(self, delivery_id: str) -> Delivery | None: ...


class PreferenceRepository(Protocol):
    def chosen(self, user_id: int) -> dict[tuple[str, str], bool]:
        """The user's own choices, (kind, channel) -> enabled."""

    def set(self, user_id: int, choices: dict[tuple[str, str], bool], now: datetime) -> None: ...


class AudienceRepository(Protocol):
    """Organizations' members and users' sign-in addresses, as identity's events told support."""

    def set_member(self, organization_id: int, user_id: int, role: str, now: datetime) -> None: ...

    def remove_member(self, organization_id: int, user_id: int) -> None: ...

    def forget_user(self, user_id: int) -> None: ...

    def members(self, organization_id: int, roles: Collection[str]) -> list[int]:
        """The organization's members holding one of ``roles``."""

    def remember_address(self, user_id: int, ip_sha256: str, now: datetime) -> tuple[bool, bool]:
        """Record the address; (whether it is new for the user, whether the user had any before)."""


class Recipients(Protocol):
    """Who a user is for mail (their address, name, locale and time zone): identity knows."""

    def recipient(self, user_id: int) -> Recipient | None:
        """None when identity has no such user (or no address for them); raises
        cpshared.errors.Unavailable when identity cannot answer now."""


class MailSender(Protocol):
    def __call__(self, to: str, subject: str, text: str, html: str, message_id: str) -> str:
        """Hand one mail to the SMTP server; its Message-ID. Raises cpshared.mail.MailError."""


class Accounts(Protocol):
    """Who a user is on the platform: identity knows."""

    def role(self, user_id: int) -> str | None:
        """The user's platform role ("admin", "support", "billing", "client"); None when identity
        has no such user. Raises cpshared.errors.Unavailable when identity cannot answer now."""


class ResourceOwners(Protocol):
    """Whose a customer's resource is: the service that keeps it knows (compute, for servers,
    placement groups and SSH keys)."""

    def owner(self, resource_type: str, resource_id: int) -> tuple[int, int | None] | None:
        """(user, organization or None) of the resource; None when it does not exist. Raises
        cpshared.errors.Unavailable when its service cannot answer now."""


class ChannelSources(Protocol):
    """Where a monitoring notice goes: the channels of the rule (or monitor) that caused it, as
    monitoring keeps them (their targets never travel in events)."""

    def channels(self, source: str, source_id: int) -> list[Channel] | None:
        """The source's channels; None when it no longer exists. Raises
        cpshared.errors.Unavailable when monitoring cannot answer now, and
        :class:`NoChannelLookup` for a source it has no way to ask about."""


class NoChannelLookup(LookupError):
    """Support cannot ask for this source's channels: its owner's preferences decide."""


class WebhookError(Exception):
    """A webhook POST that did not get a 2xx answer (or no answer)."""

    def __init__(self, message: str, *, final: bool = False) -> None:
        super().__init__(message)
        self.final = final
        """No later attempt can do better (a URL that is not allowed)."""


class WebhookPoster(Protocol):
    def __call__(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        """POST ``body`` to ``url``; the HTTP status (2xx). Raises :class:`WebhookError`."""


class WebhookSecretRepository(Protocol):
    """Each account's webhook signing secret (a user's own, or an organization's)."""

    def secret(self, account_type: str, account_id: int, now: datetime) -> str:
        """The account's secret, made on first use."""

    def rotate(self, account_type: str, account_id: int, secret: str, now: datetime) -> None: ...


class ObjectStore(Protocol):
    """Where attachments' content lives, by key (a local directory by default)."""

    def put(self, key: str, content: bytes) -> None: ...

    def get(self, key: str) -> bytes: ...

    def delete(self, key: str) -> None: ...
