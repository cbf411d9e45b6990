"""How a notification reaches a person: the channels (the in-app inbox, email), the person's
preferences per kind and channel, and the deliveries (mail, webhooks) with their retries.

A notification kind belongs to a category (support, maintenance, billing, security, servers);
a preference is ``(kind, channel) -> enabled``, and a kind without the user's own choice takes
its default: every kind is on in both channels. A delivery is one mail of one notification:
``pending`` until the sender hands it to the SMTP server (``sent``), retried with exponential
backoff when that fails, and ``failed`` after the last attempt (never dropped silently).

A delivery has a ``target`` when it goes somewhere else than the user's own address: the email
address or the webhook URL an alert rule names (:mod:`support_service.domain.monitoring_notices`).
A ``channels`` delivery is a notice whose channels are a monitoring rule's: the sender asks
monitoring for them and turns it into the in-app notifications, mails and webhooks they name.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

IN_APP: Final = "in_app"
EMAIL: Final = "email"
CHANNELS: Final = (IN_APP, EMAIL)
"""The channels a user's preferences choose between."""
WEBHOOK: Final = "webhook"
"""An alert rule's signed HTTP POST (domain/webhooks.py); the rule chooses it, not preferences."""
FAN_OUT: Final = "channels"
"""Not a channel of its own: "send through the rule's channels", resolved when it is sent."""

PENDING: Final = "pending"
SENT: Final = "sent"
FAILED: Final = "failed"

# Every kind the platform notifies of, and its category.
KINDS: Final[dict[str, str]] = {
    "ticket_replied": "support",
    "ticket_resolved": "support",
    "maintenance_scheduled": "maintenance",
    "maintenance_started": "maintenance",
    "maintenance_completed": "maintenance",
    "invoice_issued": "billing",
    "invoice_overdue": "billing",
    "payment_recorded": "billing",
    "account_suspended": "security",
    "account_activated": "security",
    "new_sign_in": "security",
    "server_error": "servers",
    "quota_reached": "servers",
    "alert_triggered": "monitoring",
    "alert_resolved": "monitoring",
    "uptime_down": "monitoring",
    "uptime_up": "monitoring",
}

NAMESPACE: Final = uuid.UUID("6f2a1c3e-8d4b-4e0f-9a57-1b2c3d4e5f60")


def default_enabled(kind: str, channel: str) -> bool:
    """A kind's default in a channel: on (security and billing ones must reach people; the
    others are what a customer expects to hear of until they say otherwise)."""
    return kind in KINDS and channel in CHANNELS


@dataclass(frozen=True)
class Preference:
    kind: str
    channel: str
    enabled: bool


def effective(kind: str, channel: str, chosen: dict[tuple[str, str], bool]) -> bool:
    """Whether ``kind`` goes out on ``channel`` given the user's own choices ``chosen``."""
    return chosen.get((kind, channel), default_enabled(kind, channel))


def every_preference(chosen: dict[tuple[str, str], bool]) -> list[Preference]:
    """Each kind and channel with its effective setting, in a stable order."""
    return [Preference(kind, channel, effective(kind, channel, chosen)) for kind in KINDS for channel in CHANNELS]


class InvalidPreference(ValueError):
    """A preference naming an unknown kind or channel."""


def check_preference(kind: str, channel: str) -> None:
    if kind not in KINDS:
        raise InvalidPreference(f"kind must be one of {', '.join(KINDS)}")
    if channel not in CHANNELS:
        raise InvalidPreference(f"channel must be one of {', '.join(CHANNELS)}")


def delivery_id(notification_id: str, channel: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{notification_id}\x1f{channel}"))


@dataclass
class Delivery:
    id: str
    notification_id: str
    channel: str
    user_id: int
    type: str
    data: dict[str, Any]
    status: str = PENDING
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    message_id: str | None = None
    sent_at: datetime | None = None
    target: str | None = None
    """The email address or webhook URL; None: the user's own address."""


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    first_backoff: timedelta = timedelta(seconds=30)
    max_backoff: timedelta = timedelta(hours=1)

    def backoff(self, attempts: int) -> timedelta:
        """The wait after the ``attempts``-th failed attempt: doubling from the first, capped."""
        wait: timedelta = self.first_backoff * float(2 ** max(attempts - 1, 0))
        return wait if wait < self.max_backoff else self.max_backoff

    def exhausted(self, attempts: int) -> bool:
        return attempts >= self.max_attempts
