"""The mails of notifications (plain text and escaped HTML, one-line subjects, the user's language
and time zone), preferences' defaults and the retry policy."""

from __future__ import annotations

from datetime import timedelta

import pytest

from support_service.domain import delivery
from support_service.domain.mail_templates import Recipient, language, local_time, one_line, render, zone

DATA = {
    "maintenance_window_id": 7,
    "title": '<img src=x onerror="alert(1)"> Kernel\r\nBcc: victim@example.com',
    "start_time": "2026-07-01T10:00:00Z",
    "end_time": "2026-07-01T12:00:00Z",
    "affected_datacenters": ["fsn1-dc14"],
}


def test_markup_is_text_in_html_and_a_subject_is_one_line() -> None:
    mail = render("maintenance_scheduled", DATA, Recipient(1, "a@example.com", "<i>Ann</i>"), "https://cloud.example/")
    assert "\r" not in mail.subject and "\n" not in mail.subject
    assert mail.subject == 'Maintenance scheduled: <img src=x onerror="alert(1)"> Kernel Bcc: victim@example.com'
    assert "<img" not in mail.html and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in mail.html
    assert "&lt;i&gt;Ann&lt;/i&gt;" in mail.html and "<i>" not in mail.html
    assert "Hello <i>Ann</i>," in mail.text  # plain text carries it as text
    assert "https://cloud.example/notifications" in mail.text


def test_language_and_time_zone_are_the_users() -> None:
    german = render("maintenance_scheduled", DATA, Recipient(1, "a@example.com", "Anna", "de-AT", "Europe/Vienna"), "")
    assert german.subject.startswith("Wartung geplant:")
    assert "von 2026-07-01 12:00 CEST bis 2026-07-01 14:00 CEST" in german.text
    english = render("maintenance_scheduled", DATA, Recipient(1, "a@example.com"), "")
    assert "from 2026-07-01 10:00 UTC to 2026-07-01 12:00 UTC" in english.text
    assert "Hello a@example.com," in english.text  # no name: the address


@pytest.mark.parametrize(("locale", "expected"), [("de-DE", "de"), ("de_CH", "de"), ("fr-FR", "en"), ("", "en")])
def test_an_unknown_locale_is_english(locale: str, expected: str) -> None:
    assert language(locale) == expected


def test_an_unknown_zone_is_utc_and_a_time_that_is_not_one_stays_as_it_is() -> None:
    assert str(zone("Mars/Olympus")) == "UTC"
    assert local_time("soon", zone("UTC")) == "soon"


def test_one_line_cuts_long_text() -> None:
    assert one_line("a\x00b\u2028c") == "a b c"
    assert len(one_line("x" * 500)) == 200


def test_an_unknown_kind_still_has_a_mail() -> None:
    mail = render("something_new", {}, Recipient(1, "a@example.com"), "")
    assert mail.subject == "Notification: something_new"


def test_every_kind_is_on_by_default_in_both_channels_and_a_choice_wins() -> None:
    assert all(p.enabled for p in delivery.every_preference({}))
    chosen = {("ticket_replied", delivery.EMAIL): False}
    assert not delivery.effective("ticket_replied", delivery.EMAIL, chosen)
    assert delivery.effective("ticket_replied", delivery.IN_APP, chosen)
    with pytest.raises(delivery.InvalidPreference):
        delivery.check_preference("nope", delivery.EMAIL)
    with pytest.raises(delivery.InvalidPreference):
        delivery.check_preference("ticket_replied", "sms")


def test_backoff_doubles_up_to_its_cap_and_attempts_run_out() -> None:
    policy = delivery.RetryPolicy(
        max_attempts=4, first_backoff=timedelta(seconds=10), max_backoff=timedelta(seconds=50)
    )
    assert [policy.backoff(n).total_seconds() for n in (1, 2, 3, 4)] == [10, 20, 40, 50]
    assert not policy.exhausted(3) and policy.exhausted(4)


def test_a_delivery_id_is_a_function_of_the_notification_and_channel() -> None:
    assert delivery.delivery_id("n1", "email") == delivery.delivery_id("n1", "email")
    assert delivery.delivery_id("n1", "email") != delivery.delivery_id("n2", "email")
