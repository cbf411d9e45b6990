"""Mail leaves a service over real SMTP and lands in the local sink's Maildir."""

from __future__ import annotations

import secrets

import pytest

from cloudctl.infra.mailsink import MailSink
from cloudctl.paths import LocalPaths
from cloudctl.stack import SMTP_HOST, SMTP_PORT
from cpshared.mail import MailError, MailSettings, send_mail


@pytest.fixture(scope="module")
def sink(paths: LocalPaths) -> MailSink:
    sink = MailSink(paths.root)
    assert sink.status().healthy, "the SMTP sink is not running: `cloudctl up --infra-only` starts it"
    return sink


def test_a_mail_sent_over_smtp_is_found_in_the_sink(sink: MailSink) -> None:
    to = f"mail-{secrets.token_hex(4)}@example.com"
    settings = MailSettings(smtp_host=SMTP_HOST, smtp_port=SMTP_PORT)
    message_id = send_mail(settings, to, "Verify your email", "Your code: 12345\nlink: http://x/verify?t=abc")
    mail = sink.wait_for(to, "Verify")
    assert mail.subject == "Verify your email"
    assert "Your code: 12345" in mail.body
    assert message_id.startswith("<") and message_id.endswith(">")
    assert sink.messages("nobody-" + to) == []


def test_an_unreachable_smtp_server_is_a_mail_error() -> None:
    settings = MailSettings(smtp_host="127.0.0.1", smtp_port=1, smtp_timeout_seconds=1)
    with pytest.raises(MailError, match=r"127\.0\.0\.1:1"):
        send_mail(settings, "a@example.com", "s", "b")
