"""The sender: a thread of the support server's process that, every ``CP_MAIL_SENDER_SECONDS``,
sends the due deliveries (service_layer/mail_delivery.py): mail through the SMTP server of
``CP_SMTP_*`` (cpshared.mail, as identity sends its mail), signed webhooks over HTTP(S), and
alert notices through their rules' channels (asked of monitoring at ``CP_MONITORING_GRPC_ADDR``).
It runs when support knows where identity is (``CP_IDENTITY_GRPC_ADDR``); a pass that fails is
logged and the next one tries again."""

from __future__ import annotations

import threading

from cpshared.logging import get_logger
from cpshared.mail import MailSettings, send_mail
from support_service.bootstrap import Support
from support_service.domain.delivery import RetryPolicy
from support_service.service_layer import mail_delivery
from support_service.service_layer.ports import ChannelSources, MailSender, Recipients, WebhookPoster

log = get_logger(__name__)


def smtp_sender(settings: MailSettings) -> MailSender:
    def send(to: str, subject: str, text: str, html: str, message_id: str) -> str:
        return send_mail(settings, to, subject, text, html=html, message_id=message_id)

    return send


def run_once(
    support: Support,
    recipients: Recipients,
    mail: MailSettings,
    policy: RetryPolicy,
    *,
    post: WebhookPoster | None = None,
    sources: ChannelSources | None = None,
) -> mail_delivery.SendPass | None:
    try:
        return mail_delivery.send_due(
            support.uow, recipients, smtp_sender(mail), mail.public_url, policy, post=post, sources=sources
        )
    except Exception as exc:  # the sender must outlive any one failure
        log.warning("mail_sender_failed", error=str(getattr(exc, "message", exc)))
        return None


def start(
    support: Support,
    recipients: Recipients,
    mail: MailSettings,
    policy: RetryPolicy,
    *,
    every_seconds: float,
    post: WebhookPoster | None = None,
    sources: ChannelSources | None = None,
) -> threading.Event:
    """Run a pass every ``every_seconds`` in a daemon thread; set the answered event to stop it."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every_seconds):
            run_once(support, recipients, mail, policy, post=post, sources=sources)

    threading.Thread(target=loop, name="support-mail-sender", daemon=True).start()
    return stop
