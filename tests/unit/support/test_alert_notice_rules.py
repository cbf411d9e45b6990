"""Monitoring's notices and webhooks: which deliveries a rule's channels make, the signature a
receiver checks, the URLs ever called; an account's suspension and lift."""

from __future__ import annotations

import hashlib
import hmac
import json

from support_service.domain import monitoring_notices as notices
from support_service.domain import webhooks
from support_service.domain.delivery import KINDS
from support_service.domain.notifications import account_status_notice


def test_every_notice_has_a_kind_people_can_choose() -> None:
    assert {n.kind for n in notices.NOTICES.values()} <= set(KINDS)
    assert {"uptime_down", "uptime_up"} <= set(KINDS)  # ready for uptime monitors' events


def test_a_rules_addresses_and_urls_become_one_delivery_each() -> None:
    channels = [
        notices.Channel("in_app"),
        notices.Channel("email", "ops@example.com"),
        notices.Channel("email", "ops@example.com"),
        notices.Channel("webhook", "https://hooks.example/a"),
        notices.Channel("sms", "+49"),
    ]
    data = {"alert_rule_id": 3, "value": "97.50"}
    made = notices.addressed(
        "ev-1", "alert.triggered", "2026-12-08T09:30:00+00:00", "alert_triggered", 42, 0, data, channels
    )
    assert [(d.channel, d.target) for d in made] == [
        ("email", "ops@example.com"),
        ("webhook", "https://hooks.example/a"),
    ]
    mail, hook = made
    assert mail.data == data and mail.user_id == 42
    assert hook.data["account_type"] == "user" and hook.data["account_id"] == 42 and hook.data["notice"] == data
    again = notices.addressed("ev-1", "alert.triggered", "", "alert_triggered", 42, 0, data, channels)
    assert [d.id for d in again] == [d.id for d in made]  # the same event: the same deliveries
    other = notices.addressed("ev-2", "alert.triggered", "", "alert_triggered", 42, 0, data, channels)
    assert not {d.id for d in other} & {d.id for d in made}
    organization = notices.addressed("ev-1", "alert.triggered", "", "alert_triggered", 42, 9, data, channels)
    assert organization[1].data["account_type"] == "organization" and organization[1].data["account_id"] == 9


def test_the_signature_is_hmac_sha256_of_the_exact_body() -> None:
    body = webhooks.body("d-1", "alert.triggered", "2026-12-08T09:30:00+00:00", {"b": 1, "a": "ü"})
    assert json.loads(body) == {
        "id": "d-1",
        "type": "alert.triggered",
        "occurred_at": "2026-12-08T09:30:00+00:00",
        "data": {"a": "ü", "b": 1},
    }
    secret = webhooks.new_secret()
    assert secret.startswith("whsec_") and secret != webhooks.new_secret()
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert webhooks.signature(secret, body) == expected
    assert webhooks.verify(secret, body, expected)
    assert not webhooks.verify(secret, body + b" ", expected)
    assert not webhooks.verify("whsec_other", body, expected)


def test_only_http_and_https_urls_with_a_host_are_called() -> None:
    assert webhooks.url_problem("https://hooks.example/a?b=c") is None
    assert webhooks.url_problem("http://127.0.0.1:8080/") is None
    for bad in (
        "ftp://hooks.example/",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "https://",
        "hooks.example",
        "https://hooks.example/a b",
        "https://x/\r\nHost: y",
        "",
        "https://h/" + "a" * 2048,
    ):
        assert webhooks.url_problem(bad) is not None, bad


def test_a_suspension_and_a_lift_notify_a_first_activation_does_not() -> None:
    assert account_status_notice("active", "suspended", "billing") == {"status": "suspended", "cause": "billing"}
    assert account_status_notice("active", "suspended", "") == {"status": "suspended", "cause": "staff"}
    assert account_status_notice("suspended", "active", "billing") == {"status": "active", "cause": "billing"}
    assert account_status_notice("pending", "active", "") is None
    assert account_status_notice("suspended", "suspended", "billing") is None
