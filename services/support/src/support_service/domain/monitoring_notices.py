"""Monitoring's notices (alerts, uptime monitors going down and up): which events, which kind,
and how one reaches its channels.

A notice is not sent through the user's preferences alone: the rule (or monitor) that caused it
names its channels — ``in_app`` (the owner's inbox: the rule's user, and for an organization's
rule its owners and admins, each as their in-app preference says), ``email`` (an address the rule
names) and ``webhook`` (a URL, POSTed signed: domain/webhooks.py). Those targets are the tenant's
data and stay in monitoring (its events carry only the channels' types), so the reaction writes
one ``channels`` delivery per notice and the sender asks monitoring for the rule's channels when
it sends it (:func:`addressed`), retrying while monitoring does not answer. A source without a
way to ask for its channels reaches its owner's inbox and mail, as their preferences say.

Adding a notice is one line in :data:`NOTICES`; the consumer handles every event type listed
there. Uptime monitors' notices have no channel lookup in adapters/monitoring_channels.py yet:
they reach the owner's inbox and mail, as their preferences say (not the monitor's webhook).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Final

from support_service.domain.delivery import EMAIL, IN_APP, WEBHOOK, Delivery, delivery_id


@dataclass(frozen=True)
class Notice:
    kind: str
    """The notification kind (domain/delivery.py KINDS)."""
    source: str
    """What names the channels: ``alert_rule`` (an uptime monitor later)."""
    source_field: str
    """The payload field holding the source's id."""


NOTICES: Final[dict[str, Notice]] = {
    "alert.triggered": Notice("alert_triggered", "alert_rule", "alert_rule_id"),
    "alert.resolved": Notice("alert_resolved", "alert_rule", "alert_rule_id"),
    "uptime_monitor.down": Notice("uptime_down", "uptime_monitor", "uptime_monitor_id"),
    "uptime_monitor.up": Notice("uptime_up", "uptime_monitor", "uptime_monitor_id"),
}
"""Monitoring's event types that notify, by type."""

NAMESPACE: Final = uuid.UUID("0d3f6a52-4c1e-4a7b-8f0e-2b9c5d7e1a33")
CHANNEL_TYPES: Final = (IN_APP, EMAIL, WEBHOOK)


@dataclass(frozen=True)
class Channel:
    type: str
    target: str = ""


def addressed_notification_id(event_id: str, channel: str, target: str) -> str:
    """The id of the notice sent to one address or URL (no inbox row: it names the delivery)."""
    return str(uuid.uuid5(NAMESPACE, f"{event_id}\x1f{channel}\x1f{target}"))


def account_of(user_id: int, organization_id: int) -> tuple[str, int]:
    """Whose webhook secret signs: the organization's for its rules, else the user's."""
    return ("organization", organization_id) if organization_id else ("user", user_id)


def wants_inbox(channels: list[Channel] | None) -> bool:
    """Whether the owner's inbox hears of it (no known channels: yes, as preferences say)."""
    return channels is None or any(c.type == IN_APP for c in channels)


def addressed(
    event_id: str,
    event_type: str,
    occurred_at: str,
    kind: str,
    owner_user_id: int,
    organization_id: int,
    data: dict[str, Any],
    channels: list[Channel],
) -> list[Delivery]:
    """A delivery per email address and webhook URL among ``channels`` (unknown types and
    repeats dropped). A mail is rendered in the owner's language; a webhook carries the notice
    and whose secret signs it."""
    account_type, account_id = account_of(owner_user_id, organization_id)
    found: dict[str, Delivery] = {}
    for channel in channels:
        if channel.type not in (EMAIL, WEBHOOK) or not channel.target:
            continue
        notification_id = addressed_notification_id(event_id, channel.type, channel.target)
        if channel.type == EMAIL:
            content = dict(data)
        else:
            content = {
                "event_type": event_type,
                "occurred_at": occurred_at,
                "account_type": account_type,
                "account_id": account_id,
                "notice": dict(data),
            }
        found[notification_id] = Delivery(
            id=delivery_id(notification_id, channel.type),
            notification_id=notification_id,
            channel=channel.type,
            user_id=owner_user_id,
            type=kind,
            data=content,
            target=channel.target,
        )
    return list(found.values())
