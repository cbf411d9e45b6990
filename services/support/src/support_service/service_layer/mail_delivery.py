"""The mail sender: sends the pending mail deliveries the reaction wrote (after its commit)
and records each outcome.

One pass claims the due deliveries in a short transaction (locked past other senders with
SKIP LOCKED, the attempt counted and the row leased), then, outside any transaction, asks
identity who the user is (address, name, locale, time zone), renders the kind's mail and
hands it to the SMTP server, and records ``sent`` (with its Message-ID) or the failure: due
again after the policy's backoff, or ``failed`` for good after the last attempt, with the
error kept. A sender that dies between the SMTP server's acceptance and the record sends that
one mail again when its lease ends, under the same Message-ID (derived from the delivery), so
a receiver can tell the repeat; nothing is lost silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from cpshared.clock import utcnow
from cpshared.errors import Unavailable
from cpshared.events.catalog import REGISTRY
from cpshared.events.envelope import PendingEvent, new_event
from cpshared.logging import get_logger
from cpshared.mail import MailError
from support_service import SERVICE_NAME
from support_service.domain.delivery import Delivery, RetryPolicy
from support_service.domain.mail_templates import render
from support_service.service_layer.ports import MailSender, Recipients
from support_service.service_layer.unit_of_work import UnitOfWorkFactory

log = get_logger(__name__)

LEASE = timedelta(minutes=5)


@dataclass
class SendPass:
    sent: list[str] = field(default_factory=list)
    retried: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def message_id(delivery: Delivery) -> str:
    return f"<{delivery.id}@notifications.cloud.localhost>"


def send_due(
    uow: UnitOfWorkFactory,
    recipients: Recipients,
    send: MailSender,
    public_url: str,
    policy: RetryPolicy,
    *,
    limit: int = 100,
) -> SendPass:
    """One pass over the deliveries due now."""
    now = utcnow()
    with uow() as work:
        due = work.deliveries.claim_due(now, now + LEASE, limit)
        work.commit()
    outcome = SendPass()
    for delivery in due:
        error, final = _attempt(delivery, recipients, send, public_url)
        finished = utcnow()
        with uow() as work:
            if error is None:
                work.deliveries.record_sent(delivery.id, message_id(delivery), finished)
                work.record(_announced("notification.delivered", delivery, message_id=message_id(delivery)))
                outcome.sent.append(delivery.id)
            elif final or policy.exhausted(delivery.attempts):
                work.deliveries.record_failure(delivery.id, error, None, finished)
                work.record(_announced("notification.delivery_failed", delivery, error=error[:1000]))
                outcome.failed.append(delivery.id)
                log.warning(
                    "notification_mail_failed", delivery_id=delivery.id, attempts=delivery.attempts, error=error
                )
            else:
                work.deliveries.record_failure(
                    delivery.id, error, finished + policy.backoff(delivery.attempts), finished
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


def _attempt(delivery: Delivery, recipients: Recipients, send: MailSender, public_url: str) -> tuple[str | None, bool]:
    """Send one delivery's mail: (None, _) when the SMTP server took it, else (why not, whether
    no later attempt can do better: a user identity does not know, or without an address)."""
    try:
        recipient = recipients.recipient(delivery.user_id)
    except Unavailable as exc:
        return f"identity could not say who user {delivery.user_id} is: {exc}", False
    if recipient is None or not recipient.email:
        return f"user {delivery.user_id} has no address to mail", True
    mail = render(delivery.type, delivery.data, recipient, public_url)
    try:
        send(recipient.email, mail.subject, mail.text, mail.html, message_id(delivery))
    except MailError as exc:
        return str(exc), False
    return None, False
