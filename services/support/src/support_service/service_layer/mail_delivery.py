"""The sender: sends the pending deliveries the reaction wrote (after its commit) and records
each outcome. A delivery's channel picks how (:data:`SENDS`, one function per channel):

- ``email``: asks identity who the user is (address, name, locale, time zone), renders the
  kind's mail (to the delivery's target address when it has one, in the user's language) and
  hands it to the SMTP server;
- ``webhook``: POSTs the notice as JSON to the delivery's URL, signed with the account's
  webhook secret (domain/webhooks.py); any answer but a 2xx is a failed attempt;
- ``channels``: asks monitoring for the channels of the rule that caused a notice and writes,
  in the transaction that records it done, the owner's in-app notifications and a delivery per
  address and URL the rule names (service_layer/notifications.py ``fan_out``), which the next
  pass sends.

One pass claims the due deliveries in a short transaction (locked past other senders with
SKIP LOCKED, the attempt counted and the row leased), then works outside any transaction and
records ``sent`` or the failure: due again after the policy's backoff, or ``failed`` for good
after the last attempt, with the error kept and ``notification.delivery_failed`` announced. A
sender that dies between the far end's acceptance and the record sends that one again when its
lease ends, under the same Message-ID (mail) or delivery id header (webhook), so a receiver can
tell the repeat; nothing is lost silently.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from cpshared.clock import utcnow
from cpshared.errors import Unavailable
from cpshared.events.catalog import REGISTRY
from cpshared.events.envelope import PendingEvent, new_event
from cpshared.logging import get_logger
from cpshared.mail import MailError
from support_service import SERVICE_NAME
from support_service.domain import webhooks
from support_service.domain.delivery import EMAIL, FAN_OUT, WEBHOOK, Delivery, RetryPolicy
from support_service.domain.mail_templates import Recipient, render
from support_service.service_layer import notifications
from support_service.service_layer.ports import (
    ChannelSources,
    MailSender,
    NoChannelLookup,
    Recipients,
    WebhookError,
    WebhookPoster,
)
from support_service.service_layer.unit_of_work import SupportUnitOfWork, UnitOfWorkFactory

log = get_logger(__name__)

LEASE = timedelta(minutes=5)


@dataclass
class SendPass:
    sent: list[str] = field(default_factory=list)
    retried: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Senders:
    """What the sender reaches: identity (who a user is), the SMTP server, and — when wired —
    webhooks' receivers and monitoring (a rule's channels)."""

    recipients: Recipients
    mail: MailSender
    public_url: str
    post: WebhookPoster | None = None
    sources: ChannelSources | None = None


@dataclass
class Attempt:
    """One attempt's outcome: ``error`` None when it went out; ``final`` when no later attempt
    can do better; ``then`` what to write in the transaction that records it done."""

    error: str | None = None
    final: bool = False
    message_id: str = ""
    then: Callable[[SupportUnitOfWork], None] | None = None


def message_id(delivery: Delivery) -> str:
    return f"<{delivery.id}@notifications.cloud.localhost>"


def send_due(
    uow: UnitOfWorkFactory,
    recipients: Recipients,
    send: MailSender,
    public_url: str,
    policy: RetryPolicy,
    *,
    post: WebhookPoster | None = None,
    sources: ChannelSources | None = None,
    limit: int = 100,
) -> SendPass:
    """One pass over the deliveries due now."""
    senders = Senders(recipients, send, public_url, post, sources)
    now = utcnow()
    with uow() as work:
        due = work.deliveries.claim_due(now, now + LEASE, limit)
        work.commit()
    outcome = SendPass()
    for delivery in due:
        attempt = _attempt(delivery, senders, uow)
        finished = utcnow()
        with uow() as work:
            if attempt.error is None:
                if attempt.then is not None:
                    attempt.then(work)
                work.deliveries.record_sent(delivery.id, attempt.message_id, finished)
                if delivery.channel != FAN_OUT:
                    work.record(_announced("notification.delivered", delivery, message_id=attempt.message_id))
                outcome.sent.append(delivery.id)
            elif attempt.final or policy.exhausted(delivery.attempts):
                work.deliveries.record_failure(delivery.id, attempt.error, None, finished)
                work.record(_announced("notification.delivery_failed", delivery, error=attempt.error[:1000]))
                outcome.failed.append(delivery.id)
                log.warning(
                    "notification_delivery_failed",
                    delivery_id=delivery.id,
                    channel=delivery.channel,
                    attempts=delivery.attempts,
                    error=attempt.error,
                )
            else:
                work.deliveries.record_failure(
                    delivery.id, attempt.error, finished + policy.backoff(delivery.attempts), finished
                )
                outcome.retried.append(delivery.id)
            work.commit()
    return outcome


def _announced(event_type: str, delivery: Delivery, *, message_id: str = "", error: str = "") -> PendingEvent:
    spec = REGISTRY.spec(event_type)
    return new_event(
        spec,
        producer=SERVICE_NAME,
        aggregate_id=delivery.notification_id,
        aggregate_version=1 + delivery.attempts,
        payload=spec.message(
            notification_id=delivery.notification_id,
            delivery_id=delivery.id,
            user_id=delivery.user_id,
            kind=delivery.type,
            channel=delivery.channel,
            attempts=delivery.attempts,
            message_id=message_id,
            error=error,
        ),
    )


def _attempt(delivery: Delivery, senders: Senders, uow: UnitOfWorkFactory) -> Attempt:
    send = SENDS.get(delivery.channel)
    if send is None:
        return Attempt(f"no way to send a {delivery.channel} delivery", final=True)
    return send(delivery, senders, uow)


def _mail(delivery: Delivery, senders: Senders, uow: UnitOfWorkFactory) -> Attempt:
    """Send one delivery's mail (to its target address, or the user's own)."""
    try:
        recipient = senders.recipients.recipient(delivery.user_id)
    except Unavailable as exc:
        return Attempt(f"identity could not say who user {delivery.user_id} is: {exc}")
    if delivery.target:
        # An address a rule names: the owner's language and time zone, not their name.
        recipient = Recipient(
            user_id=delivery.user_id,
            email=delivery.target,
            locale=recipient.locale if recipient else "",
            timezone=recipient.timezone if recipient else "",
        )
    if recipient is None or not recipient.email:
        return Attempt(f"user {delivery.user_id} has no address to mail", final=True)
    mail = render(delivery.type, delivery.data, recipient, senders.public_url)
    try:
        senders.mail(recipient.email, mail.subject, mail.text, mail.html, message_id(delivery))
    except MailError as exc:
        return Attempt(str(exc))
    return Attempt(message_id=message_id(delivery))


def _webhook(delivery: Delivery, senders: Senders, uow: UnitOfWorkFactory) -> Attempt:
    """POST the notice to the delivery's URL, signed with the account's current secret."""
    url = delivery.target or ""
    problem = webhooks.url_problem(url)
    if problem is not None:
        return Attempt(problem, final=True)
    if senders.post is None:
        return Attempt("webhooks are not wired in this process")
    data = delivery.data
    with uow() as work:
        secret = work.webhook_secrets.secret(str(data["account_type"]), int(data["account_id"]), utcnow())
        work.commit()
    event_type = str(data.get("event_type", ""))
    content = webhooks.body(delivery.id, event_type, str(data.get("occurred_at", "")), dict(data.get("notice") or {}))
    headers = {
        "Content-Type": "application/json",
        webhooks.SIGNATURE_HEADER: webhooks.signature(secret, content),
        webhooks.EVENT_HEADER: event_type,
        webhooks.DELIVERY_HEADER: delivery.id,
    }
    try:
        senders.post(url, content, headers)
    except WebhookError as exc:
        return Attempt(str(exc), final=exc.final)
    return Attempt()


def _fan_out(delivery: Delivery, senders: Senders, uow: UnitOfWorkFactory) -> Attempt:
    """Ask for the channels of the notice's rule; the deliveries they name are written on record."""
    source, source_id = str(delivery.data.get("source", "")), int(delivery.data.get("source_id") or 0)
    if senders.sources is None:
        return Attempt("monitoring is not wired in this process: a rule's channels are unknown")
    try:
        found = senders.sources.channels(source, source_id)
    except NoChannelLookup:
        found = None  # the owner's own channels
    except Unavailable as exc:
        return Attempt(f"monitoring could not say where {source} {source_id} notifies: {exc}")
    else:
        if found is None:
            return Attempt(f"{source} {source_id} no longer exists: nobody to notify", final=True)

    def write(work: SupportUnitOfWork) -> None:
        notifications.fan_out(
            delivery,
            found,
            work.audience,
            notifications.Outlets(work.notifications, work.deliveries, work.preferences, work.record_once),
        )

    return Attempt(then=write)


SENDS: dict[str, Callable[[Delivery, Senders, UnitOfWorkFactory], Attempt]] = {
    EMAIL: _mail,
    WEBHOOK: _webhook,
    FAN_OUT: _fan_out,
}
"""How each channel's delivery is sent."""
