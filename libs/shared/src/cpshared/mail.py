"""Outgoing mail over SMTP: verification links, organization invitations, invoices.

Every process that sends mail reads :class:`MailSettings` (``CP_SMTP_*``, ``CP_MAIL_FROM``).
The local stack points them at its SMTP sink (``cloudctl.infra.mailsink``), a real SMTP
server that stores each message in a Maildir the tests read; in production they name the
provider's relay (STARTTLS and credentials when it asks for them).

Sending is synchronous (``smtplib``): callers run it in a worker thread after their
transaction committed, so a mail never announces something that was rolled back.
"""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from email.utils import make_msgid

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from cpshared.settings import ENV_PREFIX


class MailSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    smtp_host: str = Field(default="127.0.0.1", description="SMTP server mail is sent through.")
    smtp_port: int = Field(default=2525, ge=1, le=65535, description="Its port.")
    smtp_starttls: bool = Field(default=False, description="Upgrade the connection with STARTTLS before sending.")
    smtp_username: str = Field(default="", description="SMTP login; empty: no authentication.")
    smtp_password_file: str = Field(default="", description="File holding the SMTP password (with smtp_username).")
    smtp_timeout_seconds: float = Field(default=10.0, gt=0, description="Give up on the SMTP server after this.")
    mail_from: str = Field(default="Cloud Platform <no-reply@cloud.localhost>", description="From: of every mail.")
    public_url: str = Field(
        default="http://127.0.0.1:8080",
        description="Where customers reach the platform; links in mails start with it.",
    )


class MailError(RuntimeError):
    """The SMTP server refused the mail or could not be reached."""


def compose(
    settings: MailSettings, to: str, subject: str, body: str, *, html: str | None = None, message_id: str | None = None
) -> EmailMessage:
    """A mail of ``body`` (plain text) and, with ``html``, an HTML alternative. ``message_id``
    (``<…@…>``) gives a mail sent again the same Message-ID, so receivers can tell repeats."""
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = message_id or make_msgid(domain="cloud.localhost")
    message.set_content(body)
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message


def send_mail(
    settings: MailSettings, to: str, subject: str, body: str, *, html: str | None = None, message_id: str | None = None
) -> str:
    """Send one mail (plain text, and HTML with ``html``); its Message-ID. :class:`MailError` when
    it could not be handed over (a header that cannot be written, too)."""
    try:
        message = compose(settings, to, subject, body, html=html, message_id=message_id)
    except ValueError as exc:
        raise MailError(f"could not write the mail: {exc}") from exc
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout_seconds) as smtp:
            if settings.smtp_starttls:
                smtp.starttls()
            if settings.smtp_username:
                password = ""
                if settings.smtp_password_file:
                    with open(settings.smtp_password_file, encoding="utf-8") as handle:
                        password = handle.read().strip()
                smtp.login(settings.smtp_username, password)
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise MailError(f"could not send mail through {settings.smtp_host}:{settings.smtp_port}: {exc}") from exc
    return str(message["Message-ID"])
